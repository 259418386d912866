"""`csms run`'s supervisor as a real process, supervising tiny Python scripts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.supervisor import Backoff
from tests.patience import PATIENCE

ROOT = Path(__file__).resolve().parents[2]

STEADY = """
import os, signal, sys, time
def stop(*_):
    print("steady got SIGTERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print(f"steady up pid={os.getpid()}", flush=True)
print("steady to stderr", file=sys.stderr, flush=True)
while True:
    time.sleep(0.05)
"""

CRASHY = """
import os, sys, time
print(f"crashy run pid={os.getpid()}", flush=True)
time.sleep(0.1)
print("crashy dying", file=sys.stderr, flush=True)
sys.exit(3)
"""

STUBBORN = """
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(f"stubborn up pid={os.getpid()}", flush=True)
while True:
    time.sleep(0.05)
"""


def driver(children: dict[str, str], stop_timeout: float = 5.0) -> str:
    """A supervisor process supervising `children` (name -> python source)."""
    specs = ", ".join(
        f"ChildSpec({name!r}, [sys.executable, '-c', {source!r}])"
        for name, source in children.items()
    )
    return textwrap.dedent(
        f"""
        import sys
        from shared.supervisor import ChildSpec, run
        raise SystemExit(run([{specs}], backoff_initial=0.1, backoff_max=0.4,
                             stop_timeout={stop_timeout}))
        """
    )


class Supervised:
    """A running supervisor subprocess whose output lines are collected."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))

    async def wait_for(self, pattern: str, count: int = 1, timeout: float = PATIENCE) -> list[str]:
        """Wait until `count` output lines match `pattern`; those lines."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [line for line in self.lines if re.search(pattern, line)]
            if len(found) >= count:
                return found
            if loop.time() > deadline or self._reader.done():
                raise AssertionError(
                    f"no {count}x {pattern!r} in output:\n" + "\n".join(self.lines)
                )
            await asyncio.sleep(0.02)

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the supervisor and wait for it to exit (the deadline only detects a hang)."""
        self.proc.send_signal(sig)
        await asyncio.wait_for(self.proc.wait(), PATIENCE)
        await asyncio.wait_for(self._reader, PATIENCE)


STARTED: list[Supervised] = []


@pytest.fixture(autouse=True)
async def no_leftover_processes() -> AsyncIterator[None]:
    """A test that fails before stopping its supervisor leaves nothing running: the supervisor
    and every child it started (each in its own process group) are killed."""
    yield
    while STARTED:
        sup = STARTED.pop()
        if sup.proc.returncode is None:
            for line in sup.lines:
                match = re.search(r"\| started \S+ \(pid (\d+)\)$", line)
                if match:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(int(match.group(1)), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                sup.proc.kill()
            await asyncio.wait_for(sup.proc.wait(), PATIENCE)
        sup._reader.cancel()


async def start(children: dict[str, str], stop_timeout: float = 5.0) -> Supervised:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        driver(children, stop_timeout),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    supervised = Supervised(proc)
    STARTED.append(supervised)
    return supervised


def pid_of(line: str) -> int:
    match = re.search(r"pid=(\d+)", line)
    assert match, line
    return int(match.group(1))


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_output_is_prefixed_crashes_restart_and_sigterm_stops_everything() -> None:
    sup = await start({"steady": STEADY, "crashy": CRASHY})
    try:
        steady = await sup.wait_for(r"^steady \| steady up pid=\d+$")
        await sup.wait_for(r"^steady \| steady to stderr$")
        crashy = await sup.wait_for(r"^crashy \| crashy run pid=\d+$", count=3)
        await sup.wait_for(r"^crashy \| crashy dying$")
        await sup.wait_for(r"^csms   \| crashy exited with status 3; restarting in 0\.1s$")
        await sup.wait_for(r"restarting in 0\.2s$")
        # Started in the order given.
        started = [line for line in sup.lines if " | started " in line]
        assert started[0].startswith("csms   | started steady")
        assert started[1].startswith("csms   | started crashy")
        # Each crash started a new process.
        assert len({pid_of(line) for line in crashy}) == len(crashy)
        # The steady child was never restarted.
        assert len(await sup.wait_for(r"started steady")) == 1
    finally:
        await sup.stop(signal.SIGTERM)
    assert sup.proc.returncode == 0
    # Every child stopped on its own SIGTERM: none had to be killed after the grace period.
    assert not any("did not stop in time" in line for line in sup.lines)
    assert "steady | steady got SIGTERM" in sup.lines
    assert sup.lines[-1] == "csms   | all services stopped"
    assert_gone(pid_of(steady[0]))
    for line in crashy:
        assert_gone(pid_of(line))
    assert not any("Traceback" in line for line in sup.lines)


async def test_sigint_stops_gracefully_too() -> None:
    sup = await start({"steady": STEADY})
    steady = await sup.wait_for(r"^steady \| steady up")
    await sup.stop(signal.SIGINT)
    assert sup.proc.returncode == 0
    assert "steady | steady got SIGTERM" in sup.lines
    assert_gone(pid_of(steady[0]))


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    sup = await start({"steady": STEADY, "stubborn": STUBBORN}, stop_timeout=1.0)
    stubborn = await sup.wait_for(r"^stubborn \| stubborn up")
    await sup.wait_for(r"^steady   \| steady up")
    await sup.stop(signal.SIGTERM)
    assert sup.proc.returncode == 0
    # The grace period (1 s) expired for the child that ignores SIGTERM, not for the other.
    assert "csms     | stubborn did not stop in time; killing it" in sup.lines
    assert not any("steady did not stop in time" in line for line in sup.lines)
    assert "steady   | steady got SIGTERM" in sup.lines
    assert_gone(pid_of(stubborn[0]))


async def test_a_second_signal_kills_at_once() -> None:
    # A grace period far beyond the test's patience: exiting at all proves the kill.
    sup = await start({"stubborn": STUBBORN}, stop_timeout=3600.0)
    stubborn = await sup.wait_for(r"^stubborn \| stubborn up")
    sup.proc.send_signal(signal.SIGTERM)
    await sup.wait_for(r"stopping all services")
    await sup.stop(signal.SIGTERM)
    assert sup.proc.returncode == 0
    assert "csms     | second signal: killing children now" in sup.lines
    assert_gone(pid_of(stubborn[0]))


def test_backoff_doubles_caps_and_resets_after_uptime() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0, reset_after=60.0)
    delays = [backoff.next_delay(uptime=0.5) for _ in range(7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.next_delay(uptime=61.0) == 1.0
    assert backoff.next_delay(uptime=1.0) == 2.0
