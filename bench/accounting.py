"""CPU accounting from /proc: which processes belong to which group, and their CPU per phase.

A group is named (gateway, registry, ..., "rabbitmq", "postgres", "load generator") and found
anew at every snapshot (Postgres backends come and go with the pools). A phase's CPU is the
difference of two snapshots per process: a process that appeared during the phase counts in
full, one that exited during it counts only up to the first snapshot (its last ticks are lost:
/proc forgets an exited process).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")

Snapshot = dict[str, dict[int, float]]
"""group -> pid -> CPU seconds used so far."""


def parse_stat_cpu(stat: str, ticks: int = TICKS) -> float:
    """User + system CPU seconds from the text of /proc/<pid>/stat (the command name, in
    parentheses, may itself hold spaces and parentheses: fields are counted after the last ')')."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process `pid` has used (OSError once it has exited)."""
    return parse_stat_cpu((PROC / str(pid) / "stat").read_text())


def listening_inodes(tables: Iterable[str], port: int) -> set[str]:
    """Socket inodes listening on TCP `port`, from the text of /proc/net/tcp and tcp6."""
    found: set[str] = set()
    for table in tables:
        for line in table.splitlines()[1:]:
            cols = line.split()
            if len(cols) < 10:
                continue
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                found.add(inode)
    return found


def listener_pids(port: int) -> list[int]:
    """The processes holding a socket that listens on TCP `port` (e.g. RabbitMQ's beam on
    5672: the machine may run other brokers, whose CPU is not ours)."""
    tables = []
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            tables.append((PROC / "net" / name).read_text())
    inodes = {f"socket:[{i}]" for i in listening_inodes(tables, port)}
    pids: list[int] = []
    if not inodes:
        return pids
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        pids.append(int(entry.name))
                        break
    return pids


def with_children(pid: int) -> list[int]:
    """A process and its children (a gateway started with CSMS_GATEWAY_PROCESSES > 1 runs its
    processes as children of `csms gateway`)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        text = (PROC / str(pid) / "task" / str(pid) / "children").read_text()
        pids.extend(int(p) for p in text.split())
    return pids


def is_backend_of(cmdline: str, database: str) -> bool:
    """Whether a postgres process title (`postgres: 15/main: user db host(port) state`) is a
    backend serving `database`."""
    if not cmdline.startswith("postgres:"):
        return False
    return database in cmdline.split()[2:4]


def postgres_backends(database: str) -> list[int]:
    """The Postgres backends connected to `database` (the server is shared with other work:
    only the bench database's backends are ours)."""
    pids: list[int] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if is_backend_of(title.strip(), database):
            pids.append(int(entry.name))
    return pids


def cpu_delta(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds per group between two snapshots (see the module's doc for the rules)."""
    out: dict[str, float] = {}
    for group in {*before, *after}:
        old = before.get(group, {})
        new = after.get(group, {})
        total = 0.0
        for pid, secs in new.items():
            total += max(0.0, secs - old.get(pid, 0.0))
        out[group] = total
    return out


@dataclass
class CpuMeter:
    """Groups of processes, each found by a function called at every snapshot."""

    groups: dict[str, Callable[[], list[int]]] = field(default_factory=dict)
    reader: Callable[[int], float] = cpu_seconds

    def add(self, name: str, finder: Callable[[], list[int]]) -> None:
        self.groups[name] = finder

    def add_pids(self, name: str, pids: list[int]) -> None:
        fixed = list(pids)
        self.groups[name] = lambda: fixed

    def remove(self, name: str) -> None:
        self.groups.pop(name, None)

    def snapshot(self) -> Snapshot:
        snap: Snapshot = {}
        for name, finder in self.groups.items():
            per: dict[int, float] = {}
            for pid in finder():
                with contextlib.suppress(OSError):  # exited meanwhile
                    per[pid] = self.reader(pid)
            snap[name] = per
        return snap


def per_call_ms(cpu: Mapping[str, float], calls: int) -> dict[str, float]:
    """CPU milliseconds per call for each group (0 when no call was made)."""
    return {name: (secs * 1000 / calls if calls else 0.0) for name, secs in cpu.items()}
