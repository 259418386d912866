"""`make chaos`'s logic without a chaos run: the ledger, the comparison and the table."""

from __future__ import annotations

import random

import pytest

from bench.chaos.__main__ import version_of
from bench.chaos.accounting import (
    FaultResult,
    MeterRow,
    TxRow,
    compare,
    parse_reading,
    reading,
    render,
)
from bench.chaos.faults import Fault, run_fault, select
from bench.chaos.ledger import Ledger, Watch
from bench.chaos.simulator import V16, V201, Behaviour, backoff_delay


def ledger_of(acked: dict[str, list[int]], tx: dict[str, str] | None = None) -> Ledger:
    ledger = Ledger()
    for cp_id, values in acked.items():
        entry = ledger.add(cp_id, V16)
        entry.acked_values.extend(values)
        entry.transaction = (tx or {}).get(cp_id)
        entry.stop_acked = entry.transaction is not None
    return ledger


def m(cp_id: str, value: str, tx: int | None = None) -> MeterRow:
    return MeterRow(cp_id, value, tx)


def test_readings_are_unique_per_charge_point_and_counter() -> None:
    seen = {reading(i, c) for i in range(50) for c in range(200)}
    assert len(seen) == 50 * 200
    with pytest.raises(ValueError):
        reading(1, 1_000_000)


def test_stored_values_are_read_back_as_integers() -> None:
    assert parse_reading("5000007") == 5000007
    assert parse_reading("5000007.0") == 5000007
    assert parse_reading("5000007.5") is None
    assert parse_reading("NaN") is None
    assert parse_reading("abc") is None


def test_every_acknowledged_value_once_passes() -> None:
    ledger = ledger_of({"CP-1": [1, 2, 3], "CP-2": [10]}, {"CP-1": "7", "CP-2": "tx-2"})
    meter = [m("CP-1", "1", 7), m("CP-1", "2", 7), m("CP-1", "3", 7), m("CP-2", "10", 8)]
    txs = [TxRow("CP-1", 7, None, "Completed"), TxRow("CP-2", 8, "tx-2", "Completed")]
    report = compare(ledger, meter, txs, [])
    assert (report.values_acked, report.rows_found) == (4, 4)
    assert (report.missing, report.duplicates, report.open_left) == (0, 0, 0)
    assert (report.tx_acked, report.tx_rows, report.tx_missing, report.tx_duplicates) == (
        2,
        2,
        0,
        0,
    )
    assert report.passed


def test_a_missing_value_fails() -> None:
    report = compare(ledger_of({"CP-1": [1, 2]}), [m("CP-1", "1")], [], [])
    assert report.missing == 1 and not report.passed


def test_a_value_of_another_charge_point_does_not_count() -> None:
    report = compare(ledger_of({"CP-1": [1]}), [m("CP-2", "1")], [], [])
    assert report.missing == 1 and report.stored_unacked == 1 and not report.passed


def test_duplicates_count_every_extra_row_acknowledged_or_not() -> None:
    meter = [m("CP-1", "1"), m("CP-1", "1"), m("CP-1", "1"), m("CP-1", "9"), m("CP-1", "9")]
    report = compare(ledger_of({"CP-1": [1]}), meter, [], [])
    assert report.duplicates == 3  # two extra of 1, one extra of 9 (never acknowledged)
    assert report.rows_found == 3 and report.stored_unacked == 1
    assert not report.passed


def test_stored_but_never_acknowledged_is_not_a_failure() -> None:
    report = compare(ledger_of({"CP-1": [1]}), [m("CP-1", "1"), m("CP-1", "2")], [], [])
    assert report.stored_unacked == 1 and report.passed
    assert report.unacked_examples == [("CP-1", 2)]


def test_an_open_transaction_fails() -> None:
    ledger = ledger_of({"CP-1": []}, {"CP-1": "7"})
    report = compare(ledger, [], [TxRow("CP-1", 7, None, "Active")], [])
    assert report.open_left == 1 and not report.passed


def test_a_lost_or_doubled_transaction_fails() -> None:
    ledger = ledger_of({"CP-1": [], "CP-2": []}, {"CP-1": "7", "CP-2": "tx-2"})
    lost = compare(ledger, [], [TxRow("CP-1", 7, None, "Completed")], [])
    assert lost.tx_missing == 1 and not lost.passed
    doubled = [
        TxRow("CP-1", 7, None, "Completed"),
        TxRow("CP-2", 8, "tx-2", "Completed"),
        TxRow("CP-2", 9, "tx-2b", "Completed"),
    ]
    report = compare(ledger, [], doubled, [])
    assert report.tx_missing == 0 and report.tx_duplicates == 1 and not report.passed


def test_a_2_0_1_transaction_is_matched_by_the_charge_points_id_not_the_row_id() -> None:
    ledger = ledger_of({"CP-2": []}, {"CP-2": "8"})
    report = compare(ledger, [], [TxRow("CP-2", 8, "tx-2", "Completed")], [])
    assert report.tx_missing == 1


def test_an_acknowledged_stop_must_be_recorded_as_the_charge_points_own() -> None:
    ledger = ledger_of({"CP-1": []}, {"CP-1": "7"})
    closed_by_csms = [TxRow("CP-1", 7, None, "Completed", stopped_by_cp=False)]
    report = compare(ledger, [], closed_by_csms, [])
    assert report.stops_unrecorded == 1 and report.open_left == 0 and not report.passed
    ledger.cps["CP-1"].stop_acked = False  # never acknowledged: nothing to hold it to
    assert compare(ledger, [], closed_by_csms, []).stops_unrecorded == 0


def test_a_rejected_start_fails() -> None:
    ledger = ledger_of({"CP-1": []}, {"CP-1": "7"})
    report = compare(ledger, [], [TxRow("CP-1", 7, None, "Rejected")], [])
    assert report.rejected == 1 and not report.passed


def test_a_reading_stored_under_another_transaction_or_none_is_unlinked() -> None:
    ledger = ledger_of({"CP-1": [1, 2, 3]}, {"CP-1": "7"})
    meter = [m("CP-1", "1", 7), m("CP-1", "2", 8), m("CP-1", "3", None)]
    report = compare(ledger, meter, [TxRow("CP-1", 7, None, "Completed")], [])
    assert report.unlinked == 2 and report.missing == 0 and not report.passed


def test_the_table_names_every_measure_and_the_outcome() -> None:
    ledger = ledger_of({"CP-1": [1]}, {"CP-1": "7"})
    ledger.cps["CP-1"].errors["InternalError"] += 2
    ledger.cps["CP-1"].reconnects = 3
    faults = [FaultResult("kill -9 gateway + restart", 0.5, 4.25, 0)]
    report = compare(ledger, [m("CP-1", "1", 7)], [TxRow("CP-1", 7, None, "Completed")], faults)
    report.dead_letters = 0
    text = render(report)
    assert "| kill -9 gateway + restart | 0.5 s | 4.2 s | 0 |" in text
    assert "| **missing** | **0** |" in text
    assert "| CALLERRORs by code | InternalError 2 |" in text
    assert "| reconnects | 3 |" in text
    assert "| readings not linked to their transaction | 0 |" in text
    assert "| worst recovery (fault -> every charge point's next CALLRESULT) | 4.2 s |" in text
    assert text.endswith("RESULT: PASS (0 missing, 0 duplicates, 0 open)")
    failing = compare(ledger, [], [], faults)
    assert render(failing).endswith("RESULT: FAIL")


def test_recovery_counts_only_calls_sent_after_the_fault() -> None:
    watch = Watch(began=100.0)
    watch.seen("CP-1", sent_at=99.0, answered_at=101.0)  # sent before: no proof of recovery
    watch.seen("CP-1", sent_at=102.0, answered_at=103.0)
    watch.seen("CP-2", sent_at=100.5, answered_at=107.5)
    watch.seen("CP-1", sent_at=104.0, answered_at=105.0)  # the first one counts
    assert watch.recovered == {"CP-1": 103.0, "CP-2": 107.5}
    assert (watch.first(), watch.last()) == (3.0, 7.5)
    assert Watch(began=1.0).first() is None


def test_the_ledger_feeds_the_current_watch() -> None:
    ledger = ledger_of({"CP-1": []})
    ledger.success("CP-1", 1.0, 2.0)
    ledger.watch = Watch(began=5.0)
    ledger.success("CP-1", 6.0, 6.5)
    assert ledger.cps["CP-1"].calls_acked == 2
    assert ledger.watch.recovered == {"CP-1": 6.5}


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    behaviour = Behaviour(backoff_initial=1.0, backoff_max=16.0)
    rng = random.Random(1)
    for attempt, base in ((0, 1.0), (1, 2.0), (3, 8.0), (4, 16.0), (10, 16.0), (500, 16.0)):
        delay = backoff_delay(attempt, behaviour, rng)
        assert base / 2 <= delay <= base


def test_the_versions_are_mixed_by_share() -> None:
    versions = [version_of(i, 0.5) for i in range(100)]
    assert versions.count(V201) == 50
    assert all(version_of(i, 0.0) == V16 for i in range(10))
    assert all(version_of(i, 1.0) == V201 for i in range(10))


def test_faults_are_selected_by_words_of_their_names() -> None:
    async def nothing() -> str | None:
        return None

    faults = [Fault(n, nothing) for n in ("kill -9 gateway", "kill -9 registry", "Postgres stop")]
    assert select(faults, "") == faults
    assert [f.name for f in select(faults, "gateway, postgres")] == [
        "kill -9 gateway",
        "Postgres stop",
    ]


async def test_a_fault_is_timed_from_its_start_to_every_charge_points_next_answer() -> None:
    ledger = ledger_of({"CP-1": [], "CP-2": []})

    async def inject() -> str | None:
        # While the fault lasts, both charge points get answers to CALLs sent after it began.
        assert ledger.watch is not None
        began = ledger.watch.began
        ledger.success("CP-1", began - 1, began + 0.5)  # sent before the fault: not counted
        ledger.success("CP-1", began + 0.1, began + 1.0)
        ledger.success("CP-2", began + 0.2, began + 2.0)
        return "queue 900 at SIGCONT, prefetch 200"

    result = await run_fault(
        Fault("SIGSTOP x", inject), ledger, lambda: 2, recovery_timeout=5, settle=0
    )
    assert result.name == "SIGSTOP x (queue 900 at SIGCONT, prefetch 200)"
    assert result.first == pytest.approx(1.0) and result.last == pytest.approx(2.0)
    assert result.not_recovered == 0 and ledger.watch is None
