"""The comparison: what the charge points got a CALLRESULT for against what Postgres holds.

Pure functions over plain rows (the queries are in `rows.py`), so `make test` covers them
without a chaos run (tests/unit/bench/test_chaos_accounting.py).

- A meter reading is a number unique in the run (charge point index x 10^6 + counter).
  *Missing*: acknowledged, no row. *Duplicates*: rows beyond the first of one reading (any
  reading, acknowledged or not: a CALL answered with a CALLERROR and stored anyway would be
  stored again when the charge point retries it).
- A transaction: each charge point runs one. Acknowledged start without a row -> missing; more
  rows than one per charge point -> duplicates; rows still `Active` at the end -> open; an
  acknowledged stop the row does not hold as the charge point's own (closed by the CSMS
  instead, or not at all) -> stop not recorded; a start the CSMS recorded `Rejected` (every
  tag of the run is valid) -> rejected; a reading stored under another transaction (or none)
  than its charge point's -> unlinked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from bench.chaos.ledger import Ledger

VALUE_SCALE = 1_000_000
"""A reading is `index * VALUE_SCALE + counter`: unique in the run while counter < this."""


def reading(index: int, counter: int) -> int:
    """The meter reading charge point `index` sends as its `counter`-th value."""
    if not 0 <= counter < VALUE_SCALE:
        raise ValueError(f"counter {counter} out of range")
    return index * VALUE_SCALE + counter


@dataclass(frozen=True)
class TxRow:
    """One `transaction` row of the run; `stopped_by_cp`: the charge point's own stop is
    recorded (stop_message_id set, not closed by the CSMS or an operator)."""

    chargepoint_id: str
    transaction_id: int
    remote_id: str | None
    status: str
    stopped_by_cp: bool = True


@dataclass(frozen=True)
class MeterRow:
    """One `meter_value` row of the run (the value as stored)."""

    chargepoint_id: str
    value: str
    transaction_id: int | None


@dataclass(frozen=True)
class FaultResult:
    """One fault: how long until the first / the last charge point had a successful call
    after it began, and how many charge points never did (None: nobody recovered)."""

    name: str
    first: float | None
    last: float | None
    not_recovered: int


@dataclass
class Report:
    """Everything the table prints."""

    chargepoints: int
    faults: list[FaultResult]
    calls_acked: int
    values_acked: int
    rows_found: int
    missing: int
    duplicates: int
    stored_unacked: int
    tx_acked: int
    tx_rows: int
    tx_missing: int
    tx_duplicates: int
    stops_acked: int
    open_left: int
    stops_unrecorded: int = 0
    rejected: int = 0
    unlinked: int = 0
    unacked_examples: list[tuple[str, int]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    resends: int = 0
    answer_timeouts: int = 0
    dead_letters: int = 0
    wall_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Zero missing, zero duplicates, no transaction left open (and none lost, doubled,
        rejected or closed other than by its acknowledged stop; every reading linked)."""
        return (
            self.missing == 0
            and self.duplicates == 0
            and self.open_left == 0
            and self.tx_missing == 0
            and self.tx_duplicates == 0
            and self.stops_unrecorded == 0
            and self.rejected == 0
            and self.unlinked == 0
        )

    @property
    def worst_recovery(self) -> float | None:
        lasts = [f.last for f in self.faults if f.last is not None]
        return max(lasts) if lasts else None


def parse_reading(value: str) -> int | None:
    """A stored `meter_value.value` as the integer reading, or None if it is not one."""
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def compare(
    ledger: Ledger,
    meter_rows: Iterable[MeterRow],
    tx_rows: Iterable[TxRow],
    faults: list[FaultResult],
) -> Report:
    """The report of one run from the ledger and the rows."""
    txs = list(tx_rows)
    by_cp: dict[str, list[TxRow]] = {}
    for row in txs:
        by_cp.setdefault(row.chargepoint_id, []).append(row)
    # Each charge point's acknowledged transaction row (None: not acknowledged or not found).
    own: dict[str, TxRow | None] = {}
    for cp in ledger.cps.values():
        if cp.transaction is not None:
            own[cp.cp_id] = next(
                (row for row in by_cp.get(cp.cp_id, ()) if _names(row, cp.transaction)), None
            )

    stored: Counter[tuple[str, int]] = Counter()
    linked_to: dict[tuple[str, int], list[int | None]] = {}
    for meter in meter_rows:
        number = parse_reading(meter.value)
        if number is not None:
            stored[(meter.chargepoint_id, number)] += 1
            linked_to.setdefault((meter.chargepoint_id, number), []).append(meter.transaction_id)
    acked = {(cp.cp_id, v) for cp in ledger.cps.values() for v in cp.acked_values}
    rows_found = sum(stored[key] for key in acked)
    missing = sum(1 for key in acked if stored[key] == 0)
    duplicates = sum(n - 1 for n in stored.values() if n > 1)
    stored_unacked = sum(1 for key in stored if key not in acked)
    unlinked = 0
    for key in acked:
        tx = own.get(key[0])
        expected = tx.transaction_id if tx is not None else None
        unlinked += sum(1 for found in linked_to.get(key, ()) if found != expected)

    stops_unrecorded = 0
    for cp in ledger.cps.values():
        own_row = own.get(cp.cp_id)
        if cp.stop_acked and (own_row is None or not own_row.stopped_by_cp):
            stops_unrecorded += 1
    errors: Counter[str] = Counter()
    for cp in ledger.cps.values():
        errors.update(cp.errors)
    return Report(
        chargepoints=len(ledger.cps),
        faults=faults,
        calls_acked=sum(cp.calls_acked for cp in ledger.cps.values()),
        values_acked=len(acked),
        rows_found=rows_found,
        missing=missing,
        duplicates=duplicates,
        stored_unacked=stored_unacked,
        tx_acked=len(own),
        tx_rows=len(txs),
        tx_missing=sum(1 for row in own.values() if row is None),
        tx_duplicates=sum(len(rows) - 1 for rows in by_cp.values() if len(rows) > 1),
        stops_acked=sum(1 for cp in ledger.cps.values() if cp.stop_acked),
        open_left=sum(1 for row in txs if row.status == "Active"),
        stops_unrecorded=stops_unrecorded,
        rejected=sum(1 for row in txs if row.status == "Rejected"),
        unlinked=unlinked,
        unacked_examples=sorted(key for key in stored if key not in acked)[:10],
        errors=errors,
        reconnects=sum(cp.reconnects for cp in ledger.cps.values()),
        resends=sum(cp.resends for cp in ledger.cps.values()),
        answer_timeouts=sum(cp.answer_timeouts for cp in ledger.cps.values()),
    )


def _names(row: TxRow, acked: str) -> bool:
    """Whether a row is the transaction a CALLRESULT named (1.6 id, or 2.0.1 remote id)."""
    return row.remote_id == acked if row.remote_id is not None else str(row.transaction_id) == acked


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(report: Report) -> str:
    """The table `make chaos` prints (Markdown, so it goes into the README as it is)."""
    errors = ", ".join(f"{code} {n}" for code, n in sorted(report.errors.items())) or "0"
    lines = [
        "| fault | first charge point back | last charge point back | not back |",
        "|---|---|---|---|",
    ]
    for fault in report.faults:
        lines.append(
            f"| {fault.name} | {_seconds(fault.first)} | {_seconds(fault.last)} "
            f"| {fault.not_recovered} |"
        )
    lines += [
        "",
        "| measure | value |",
        "|---|---|",
        f"| charge points | {report.chargepoints} |",
        f"| faults | {len(report.faults)} |",
        f"| calls acknowledged (CALLRESULT) | {report.calls_acked} |",
        f"| meter values acknowledged | {report.values_acked} |",
        f"| rows found for them | {report.rows_found} |",
        f"| **missing** | **{report.missing}** |",
        f"| **duplicates** | **{report.duplicates}** |",
        f"| stored, never acknowledged | {report.stored_unacked} |",
        f"| transactions acknowledged / rows | {report.tx_acked} / {report.tx_rows} |",
        f"| transactions missing / duplicated | {report.tx_missing} / {report.tx_duplicates} |",
        f"| stops acknowledged / not recorded as the charge point's | {report.stops_acked} "
        f"/ {report.stops_unrecorded} |",
        f"| starts recorded Rejected | {report.rejected} |",
        f"| readings not linked to their transaction | {report.unlinked} |",
        f"| **open transactions left** | **{report.open_left}** |",
        f"| CALLERRORs by code | {errors} |",
        f"| reconnects | {report.reconnects} |",
        f"| CALLs resent after reconnecting | {report.resends} |",
        f"| answers not received in time (connection dropped) | {report.answer_timeouts} |",
        f"| dead letters | {report.dead_letters} |",
        f"| worst recovery (fault -> every charge point's next CALLRESULT) "
        f"| {_seconds(report.worst_recovery)} |",
        f"| wall time | {report.wall_seconds:.0f} s |",
        "",
        "RESULT: " + ("PASS (0 missing, 0 duplicates, 0 open)" if report.passed else "FAIL"),
    ]
    return "\n".join(lines)
