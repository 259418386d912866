"""A private Postgres cluster and RabbitMQ node for one chaos run (never the shared ones).

Postgres: `initdb` into a temporary directory, its own port and socket directory, started and
stopped with `pg_ctl` (as the `postgres` user when run as root: Postgres refuses root).
RabbitMQ: its own node name, AMQP and distribution ports, data and log directories, config
file and an empty plugin list (the shared node's management plugins keep their ports), started
with `rabbitmq-server`, driven with `rabbitmqctl -n`. Both are removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
RABBIT_BIN_CANDIDATES = ("/usr/lib/rabbitmq/bin",)


class ClusterError(RuntimeError):
    """A private server did not start, stop or answer."""


def _tool(name: str, candidates: tuple[str, ...]) -> str:
    for directory in candidates:
        path = Path(directory) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise ClusterError(f"{name} not found (looked in {', '.join(candidates)} and PATH)")
    return found


async def _run(*argv: str, env: dict[str, str] | None = None, timeout: float = 180.0) -> str:
    """Run a command, return its output; raise ClusterError with its output when it fails.

    The output goes through a file, not a pipe: a server the command starts (pg_ctl start)
    inherits the descriptors and would keep a pipe open long after the command exited.
    """
    with tempfile.TemporaryFile() as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out
        )
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise ClusterError(f"{' '.join(argv)}: no exit after {timeout}s") from None
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} exited {proc.returncode}: {text[-2000:]}")
    return text


def _as_postgres(argv: list[str]) -> list[str]:
    """Postgres refuses to run as root: run its tools as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class PrivatePostgres:
    """A throwaway Postgres cluster in `root` on `port` (127.0.0.1 only)."""

    root: Path
    port: int
    running: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sock").mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.root / "sock", "postgres")
        initdb = _tool("initdb", PG_BIN_CANDIDATES)
        await _run(
            *_as_postgres(
                [
                    initdb,
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ]
            )
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root / 'sock'}'",
            "max_connections": "300",
            "shared_buffers": "'128MB'",
            # The run tests crash recovery (stop -m immediate), not the disk: no fsync keeps
            # the shared machine's disk free for the others. Commits are still WAL-logged.
            "fsync": "off",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# csms chaos\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    async def start(self) -> None:
        pg_ctl = _tool("pg_ctl", PG_BIN_CANDIDATES)
        await _run(
            *_as_postgres(
                [pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120", "start"]
            )
        )
        self.running = True

    async def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m mode` (`immediate`: no shutdown checkpoint, crash recovery next)."""
        pg_ctl = _tool("pg_ctl", PG_BIN_CANDIDATES)
        await _run(
            *_as_postgres([pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop"])
        )
        self.running = False

    async def remove(self) -> None:
        if self.running or (self.data / "postmaster.pid").exists():
            with contextlib.suppress(ClusterError):
                await self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateRabbit:
    """A throwaway RabbitMQ node `nodename` on `port` (AMQP) and `dist_port` (Erlang)."""

    root: Path
    port: int
    dist_port: int
    nodename: str = "csms-chaos@localhost"
    proc: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def log(self) -> Path:
        return self.root / "rabbitmq-server.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.root),  # the Erlang cookie of this node and its rabbitmqctl
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONF_ENV_FILE=str(self.root / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.root / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_PID_FILE=str(self.root / "rabbitmq.pid"),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            ERL_EPMD_ADDRESS="127.0.0.1",
        )
        return env

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (self.root / "enabled_plugins").write_text("[].\n")

    async def ctl(self, *args: str, timeout: float = 180.0) -> str:
        ctl = _tool("rabbitmqctl", RABBIT_BIN_CANDIDATES)
        return await _run(ctl, "-q", "-n", self.nodename, *args, env=self.env(), timeout=timeout)

    async def start(self) -> None:
        if not (self.root / "rabbitmq.conf").exists():
            self._prepare()
        server = _tool("rabbitmq-server", RABBIT_BIN_CANDIDATES)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                server, env=self.env(), stdout=log, stderr=log, cwd=self.root
            )
        # `await_startup` fails at once while the node has not registered with epmd yet.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while True:
            await asyncio.sleep(1)
            if self.proc.returncode is not None:
                raise ClusterError(f"rabbitmq-server exited {self.proc.returncode}; see {self.log}")
            try:
                await self.ctl("await_startup", "--timeout", "60", timeout=90)
                return
            except ClusterError:
                if loop.time() > deadline:
                    raise

    async def stop(self) -> None:
        """A graceful stop of the whole node (what `systemctl restart` does first)."""
        await self.ctl("stop", str(self.root / "rabbitmq.pid"))
        await self._reap()

    async def kill(self) -> None:
        """SIGKILL the node's Erlang VM (beam): no chance to flush or close anything."""
        pid = int((await self.ctl("eval", "os:getpid().")).strip().strip('"'))
        os.kill(pid, signal.SIGKILL)
        await self._reap()

    async def _reap(self) -> None:
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), 60)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
            self.proc = None

    async def queue_depths(self) -> dict[str, int]:
        """Messages ready + unacknowledged per queue (default vhost)."""
        out = await self.ctl("list_queues", "name", "messages", "--no-table-headers", timeout=60)
        depths: dict[str, int] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths

    async def remove(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                await self.stop()
            except ClusterError:
                try:
                    await self.kill()
                except (ClusterError, ValueError, ProcessLookupError):
                    self.proc.send_signal(signal.SIGKILL)
                    await self._reap()
        shutil.rmtree(self.root, ignore_errors=True)
