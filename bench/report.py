"""A phase's figures and the tables printed for them.

Errors are figures: a CALLERROR, a timeout or a closed socket is counted by its code, never
raised, so a slower system gives a worse table, not a failed run.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from bench.accounting import per_call_ms

# The order processes are printed in; groups not named here follow alphabetically.
GROUP_ORDER = (
    "gateway",
    "registry",
    "transactions",
    "charging",
    "api",
    "reference",
    "rabbitmq",
    "postgres",
    "load generator",
)


@dataclass
class PhaseResult:
    """One phase: its calls' latencies (seconds), errors by code, wall seconds, CPU seconds
    per process group."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def answered(self) -> int:
        """Calls that got a CALLRESULT."""
        return len(self.latencies)

    @property
    def calls(self) -> int:
        """Calls made: answered or failed."""
        return self.answered + sum(self.errors.values())

    @property
    def rate(self) -> float:
        """Answered calls per second of wall time."""
        return self.answered / self.wall if self.wall > 0 else 0.0

    def quantile_ms(self, q: float) -> float:
        return quantile_ms(self.latencies, q)

    @property
    def cpu_ms_per_call(self) -> float:
        """Whole-system CPU milliseconds per call made."""
        return sum(self.cpu.values()) * 1000 / self.calls if self.calls else 0.0


def quantile_ms(values: list[float], q: float) -> float:
    """The q-quantile (0..1, nearest rank) of latencies in seconds, in milliseconds; 0 if none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered) - 1e-9)  # nearest rank, 1-based
    return ordered[min(len(ordered), max(1, rank)) - 1] * 1000


def ordered_groups(names: list[str]) -> list[str]:
    known = [g for g in GROUP_ORDER if g in names]
    return known + sorted(n for n in names if n not in GROUP_ORDER)


def format_errors(errors: Counter[str]) -> str:
    if not errors:
        return "0"
    return ", ".join(f"{code} {n}" for code, n in sorted(errors.items()))


def format_phase(result: PhaseResult) -> str:
    """The table of one phase: figures, then CPU per process."""
    lines = [
        f"== {result.name}" + (f" ({result.note})" if result.note else ""),
        f"calls {result.calls}, answered {result.answered}, in {result.wall:.2f} s: "
        f"{result.rate:.0f} calls/s; p50 {result.quantile_ms(0.5):.1f} ms, "
        f"p99 {result.quantile_ms(0.99):.1f} ms, max {result.quantile_ms(1.0):.1f} ms; "
        f"errors: {format_errors(result.errors)}",
        f"{'process':<16}{'CPU s':>9}{'CPU ms/call':>13}",
    ]
    per_call = per_call_ms(result.cpu, result.calls)
    for name in ordered_groups(list(result.cpu)):
        lines.append(f"{name:<16}{result.cpu[name]:>9.2f}{per_call[name]:>13.3f}")
    lines.append(f"{'all':<16}{sum(result.cpu.values()):>9.2f}{result.cpu_ms_per_call:>13.3f}")
    return "\n".join(lines)


def format_summary(results: list[PhaseResult], reference: PhaseResult | None) -> str:
    """One row per phase, the reference last; `x ref` is the CPU per call over the
    reference's (the figure that stays meaningful on a noisy machine)."""
    header = (
        f"{'phase':<42}{'calls':>7}{'calls/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'CPU ms/call':>13}{'x ref':>7}  errors"
    )
    lines = [header, "-" * len(header)]
    rows = [*results, *([reference] if reference is not None else [])]
    ref_cpu = reference.cpu_ms_per_call if reference is not None else 0.0
    for r in rows:
        ratio = f"{r.cpu_ms_per_call / ref_cpu:>7.1f}" if ref_cpu > 0 else f"{'-':>7}"
        name = ("REFERENCE " if r is reference else "") + r.name
        lines.append(
            f"{name[:41]:<42}{r.calls:>7}{r.rate:>9.0f}{r.quantile_ms(0.5):>9.1f}"
            f"{r.quantile_ms(0.99):>9.1f}{r.quantile_ms(1.0):>9.1f}"
            f"{r.cpu_ms_per_call:>13.3f}{ratio}  {format_errors(r.errors)}"
        )
    return "\n".join(lines)
