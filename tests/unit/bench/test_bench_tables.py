"""The bench's CPU accounting (/proc parsing, snapshot deltas), its tables and arguments."""

from __future__ import annotations

from collections import Counter

from bench.__main__ import parse_args
from bench.accounting import (
    CpuMeter,
    cpu_delta,
    is_backend_of,
    listening_inodes,
    parse_stat_cpu,
    per_call_ms,
)
from bench.chargepoint import SimChargePoint
from bench.report import PhaseResult, format_phase, format_summary, quantile_ms
from services.gateway.auth import basic_authorization

STAT = "1234 (python -m (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0"


def test_stat_cpu_is_user_plus_system_after_the_command_name() -> None:
    # utime 250 + stime 50 ticks at 100 ticks/s, whatever the command name holds.
    assert parse_stat_cpu(STAT, ticks=100) == 3.0


def test_listening_inodes_match_the_port_in_listen_state_only() -> None:
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt uid inode"
    tcp = "\n".join(
        [
            header,
            "   0: 00000000:1628 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 111 1",
            "   1: 0100007F:1628 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 0 0 222 1",
            "   2: 00000000:1629 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 333 1",
        ]
    )
    assert listening_inodes([tcp], 5672) == {"111"}  # 0x1628; 222 is a connection, 333 :5673


def test_a_backend_is_known_by_its_database_in_the_process_title() -> None:
    assert is_backend_of(
        "postgres: 15/main: postgres csms_bench 127.0.0.1(5000) idle", "csms_bench"
    )
    assert not is_backend_of(
        "postgres: 15/main: postgres csms_test 127.0.0.1(5000) idle", "csms_bench"
    )
    assert not is_backend_of("postgres: 15/main: checkpointer", "csms_bench")
    assert not is_backend_of("/usr/lib/postgresql/15/bin/postgres -D csms_bench", "csms_bench")


def test_cpu_delta_counts_new_processes_in_full_and_exited_ones_up_to_the_first_snapshot() -> None:
    before = {"postgres": {1: 2.0, 2: 5.0}, "gateway": {9: 10.0}}
    after = {"postgres": {1: 2.5, 3: 0.25}, "gateway": {9: 11.0}, "api": {7: 0.5}}
    assert cpu_delta(before, after) == {"postgres": 0.75, "gateway": 1.0, "api": 0.5}


def test_a_reused_pid_with_less_cpu_than_before_counts_nothing_negative() -> None:
    assert cpu_delta({"g": {1: 5.0}}, {"g": {1: 1.0}}) == {"g": 0.0}


def test_the_meter_finds_groups_anew_at_every_snapshot() -> None:
    members = [[1], [1, 2]]
    cpu = {1: 1.0, 2: 3.0}
    meter = CpuMeter(reader=lambda pid: cpu[pid])
    meter.add("postgres", lambda: members.pop(0))
    meter.add_pids("gateway", [2])
    first = meter.snapshot()
    cpu[1] = 1.5
    cpu[2] = 4.0
    assert cpu_delta(first, meter.snapshot()) == {"postgres": 4.5, "gateway": 1.0}


def test_per_call_ms_is_zero_without_calls() -> None:
    assert per_call_ms({"a": 1.0}, 0) == {"a": 0.0}
    assert per_call_ms({"a": 1.0}, 500) == {"a": 2.0}


def test_quantiles_are_nearest_rank_in_milliseconds() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert quantile_ms(values, 0.5) == 50.0
    assert quantile_ms(values, 0.99) == 99.0
    assert quantile_ms(values, 1.0) == 100.0
    assert quantile_ms([], 0.99) == 0.0


def test_errors_are_calls_and_figures_not_failures() -> None:
    r = PhaseResult("boot storm 3", latencies=[0.1], errors=Counter({"InternalError": 2}), wall=2.0)
    r.cpu = {"gateway": 0.03, "postgres": 0.03}
    assert r.calls == 3 and r.answered == 1
    assert r.rate == 0.5
    assert r.cpu_ms_per_call == 20.0
    table = format_phase(r)
    assert "errors: InternalError 2" in table
    assert table.index("gateway") < table.index("postgres")  # the fixed process order


def test_the_summary_states_each_phase_against_the_reference() -> None:
    mv = PhaseResult("MeterValues", latencies=[0.01] * 100, wall=1.0, cpu={"gateway": 0.3})
    ref = PhaseResult("MeterValues", latencies=[0.005] * 100, wall=0.5, cpu={"reference": 0.1})
    lines = format_summary([mv], ref).splitlines()
    assert lines[2].split()[-2:] == ["3.0", "0"]  # 3 ms/call is 3.0x the reference's 1 ms
    assert lines[3].startswith("REFERENCE MeterValues")
    assert lines[3].split()[-2:] == ["1.0", "0"]


def test_without_a_reference_the_ratio_is_a_dash() -> None:
    mv = PhaseResult("Heartbeat", latencies=[0.01], wall=1.0, cpu={"gateway": 0.001})
    assert format_summary([mv], None).splitlines()[2].split()[-2:] == ["-", "0"]


def test_the_auth_flood_phase_is_on_by_default_and_zero_clients_skip_it() -> None:
    args = parse_args([])
    assert (args.flood, args.flood_seconds, args.flood_free_failures) == (20, 10.0, 5)
    assert parse_args(["--flood", "0"]).flood == 0


def test_a_charge_point_with_a_password_sends_basic_credentials_and_one_without_none() -> None:
    with_password = SimChargePoint("ws://x/ocpp", "CP-1", password="secret-password-16")
    assert with_password.headers == {
        "Authorization": basic_authorization("CP-1", "secret-password-16")
    }
    assert SimChargePoint("ws://x/ocpp", "CP-1").headers == {}
