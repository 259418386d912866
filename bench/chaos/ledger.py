"""What the simulated charge points sent and got answered: the one side of the comparison.

Written by the simulator while it runs; read by `accounting` at the end and by the fault
schedule (recovery: when each charge point got a CALLRESULT again after a fault).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ChargePointLedger:
    """One charge point's record."""

    cp_id: str
    version: str
    # Meter readings (unique in the run) whose CALL got a CALLRESULT.
    acked_values: list[int] = field(default_factory=list)
    # The transaction as a CALLRESULT named it: the 1.6 transactionId (as text) or the 2.0.1
    # transactionId the charge point chose (acknowledged by the Started event's answer).
    transaction: str | None = None
    stop_acked: bool = False
    calls_acked: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    resends: int = 0
    answer_timeouts: int = 0


@dataclass
class Watch:
    """Recovery after one fault: per charge point, the first CALLRESULT to a CALL sent after
    the fault began (loop time of the answer)."""

    began: float
    recovered: dict[str, float] = field(default_factory=dict)

    def seen(self, cp_id: str, sent_at: float, answered_at: float) -> None:
        if sent_at >= self.began and cp_id not in self.recovered:
            self.recovered[cp_id] = answered_at

    def first(self) -> float | None:
        """Seconds from the fault to the first charge point's successful call."""
        return min(self.recovered.values()) - self.began if self.recovered else None

    def last(self) -> float | None:
        """Seconds from the fault until every recovered charge point had a successful call."""
        return max(self.recovered.values()) - self.began if self.recovered else None


@dataclass
class Ledger:
    """Every charge point's record, and the recovery watch of the fault under way."""

    cps: dict[str, ChargePointLedger] = field(default_factory=dict)
    watch: Watch | None = None

    def add(self, cp_id: str, version: str) -> ChargePointLedger:
        entry = ChargePointLedger(cp_id, version)
        self.cps[cp_id] = entry
        return entry

    def success(self, cp_id: str, sent_at: float, answered_at: float) -> None:
        """A CALLRESULT arrived for a CALL last (re)sent at `sent_at`."""
        self.cps[cp_id].calls_acked += 1
        if self.watch is not None:
            self.watch.seen(cp_id, sent_at, answered_at)
