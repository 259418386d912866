"""`csms run`: every service as a child process on one machine, supervised.

Children start in dependency order (consumers before the gateway that feeds them, the API
last), their stdout and stderr are re-emitted line by line prefixed with the service name, a
child that exits on its own is restarted with exponential backoff, and SIGINT/SIGTERM stop
them all (SIGTERM, then SIGKILL after a grace period) before the supervisor exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

SERVICES: tuple[str, ...] = ("registry", "transactions", "charging", "webhooks", "gateway", "api")

_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93")
_LINE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: its name (the output prefix) and its command line."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None


@dataclass
class Backoff:
    """Restart delays: `initial` doubling up to `maximum`; reset after `reset_after` of uptime."""

    initial: float = 1.0
    maximum: float = 30.0
    reset_after: float = 60.0
    current: float = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.initial

    def next_delay(self, uptime: float) -> float:
        """The delay before the next start, given how long the last run lasted."""
        if uptime >= self.reset_after:
            self.current = self.initial
        delay = self.current
        self.current = min(self.current * 2, self.maximum)
        return delay


def service_command(service: str) -> list[str]:
    """The command line that runs one service: `python -m shared.cli <service>`."""
    return [sys.executable, "-m", "shared.cli", service]


def default_children(services: Sequence[str] = SERVICES) -> list[ChildSpec]:
    """The services of `csms run`, in start order."""
    return [ChildSpec(name, service_command(name)) for name in services]


class Supervisor:
    """Runs children, prefixes their output, restarts them, stops them on a signal."""

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        out: TextIO | None = None,
        colour: bool | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        backoff_reset_after: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if not children:
            raise ValueError("nothing to supervise")
        names = [child.name for child in children]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names: {names}")
        self.children = list(children)
        self.out = out if out is not None else sys.stdout
        if colour is None:
            colour = self.out.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour
        self.stop_timeout = stop_timeout
        self._backoff_args = (backoff_initial, backoff_max, backoff_reset_after)
        self._width = max(len(name) for name in [*names, "csms"])
        self._stopping = asyncio.Event()
        self._force = asyncio.Event()

    def request_stop(self) -> None:
        """Begin a graceful stop; a second request kills the children at once."""
        if self._stopping.is_set():
            self._emit("csms", "second signal: killing children now")
            self._force.set()
        else:
            self._emit("csms", "stopping all services")
            self._stopping.set()

    async def run(self) -> int:
        """Supervise until asked to stop; returns the exit status (0)."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
                installed.append(sig)
        try:
            tasks = []
            for child in self.children:
                # Start in order: each child's process exists before the next is spawned.
                spawned = asyncio.Event()
                task = asyncio.create_task(self._supervise(child, spawned), name=child.name)
                tasks.append(task)
                waiter = asyncio.create_task(spawned.wait())
                await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
            await asyncio.gather(*tasks)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
        self._emit("csms", "all services stopped")
        return 0

    async def _supervise(self, child: ChildSpec, spawned: asyncio.Event) -> None:
        backoff = Backoff(*self._backoff_args)
        while not self._stopping.is_set():
            started = time.monotonic()
            returncode = await self._run_once(child, spawned)
            if self._stopping.is_set():
                break
            delay = backoff.next_delay(time.monotonic() - started)
            self._emit(
                "csms", f"{child.name} exited with status {returncode}; restarting in {delay:g}s"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _run_once(self, child: ChildSpec, spawned: asyncio.Event) -> int | None:
        env = dict(os.environ if child.env is None else child.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            proc = await asyncio.create_subprocess_exec(
                *child.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                limit=_LINE_LIMIT,
                # Own process group: a terminal's Ctrl-C reaches only the supervisor, which
                # then stops the children in order instead of them all racing on SIGINT.
                process_group=0,
            )
        except OSError as exc:
            self._emit("csms", f"cannot start {child.name}: {exc}")
            return None
        finally:
            spawned.set()
        self._emit("csms", f"started {child.name} (pid {proc.pid})")
        assert proc.stdout is not None
        pump = asyncio.create_task(self._pump(child.name, proc.stdout))
        wait = asyncio.create_task(proc.wait())
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({wait, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not wait.done():
                await self._terminate(child.name, proc, wait)
            returncode = await wait
        finally:
            stop.cancel()
        # Drain what the child wrote before exiting; a grandchild holding the pipe must not
        # keep us waiting.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pump, timeout=2.0)
        if self._stopping.is_set():
            self._emit("csms", f"{child.name} stopped (status {returncode})")
        return returncode

    async def _terminate(
        self, name: str, proc: asyncio.subprocess.Process, wait: asyncio.Task[int]
    ) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        force = asyncio.create_task(self._force.wait())
        try:
            await asyncio.wait(
                {wait, force}, timeout=self.stop_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            force.cancel()
        if not wait.done():
            self._emit("csms", f"{name} did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    self._emit(name, exc.partial)
                return
            except asyncio.LimitOverrunError as exc:
                # A line longer than the buffer: emit it in pieces rather than lose it.
                line = await stream.readexactly(exc.consumed)
            self._emit(name, line)

    def _emit(self, name: str, line: bytes | str) -> None:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        text = text.rstrip("\r\n")
        prefix = f"{name:<{self._width}} |"
        if self.colour:
            names = [child.name for child in self.children]
            code = _COLOURS[names.index(name) % len(_COLOURS)] if name in names else "1"
            prefix = f"\x1b[{code}m{prefix}\x1b[0m"
        try:
            self.out.write(f"{prefix} {text}\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass


def run(
    children: Sequence[ChildSpec] | None = None,
    *,
    backoff_initial: float = 1.0,
    backoff_max: float = 30.0,
    backoff_reset_after: float = 60.0,
    stop_timeout: float = 10.0,
) -> int:
    """Supervise `children` (default: every service) until SIGINT/SIGTERM; the exit status."""
    supervisor = Supervisor(
        children if children is not None else default_children(),
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        backoff_reset_after=backoff_reset_after,
        stop_timeout=stop_timeout,
    )
    return asyncio.run(supervisor.run())


def main(services: Sequence[str] = SERVICES) -> None:
    """`csms run`: supervise the given services and exit 0 once they are all stopped."""
    raise SystemExit(run(default_children(services)))
