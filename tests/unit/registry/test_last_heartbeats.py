"""The registry's per-batch heartbeat aggregation: one upsert row per charge point, newest wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.registry.heartbeats import LastHeartbeats

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_newest_heartbeat_of_each_chargepoint_wins_whatever_the_order() -> None:
    step = LastHeartbeats()
    step.add("CP-B", T0 + timedelta(seconds=5), "Accepted", "m1")
    step.add("CP-A", T0, "Accepted", "m2")
    step.add("CP-B", T0, "Accepted", "m3")  # older, consumed later: last-seen stays
    step.add("CP-A", T0 + timedelta(seconds=1), "Accepted", "m4")
    assert step.rows() == [
        {
            "chargepoint_id": "CP-A",
            "registration_status": "Accepted",
            "last_heartbeat": T0 + timedelta(seconds=1),
        },
        {
            "chargepoint_id": "CP-B",
            "registration_status": "Accepted",
            "last_heartbeat": T0 + timedelta(seconds=5),
        },
    ]


def test_every_heartbeat_keeps_its_own_row() -> None:
    step = LastHeartbeats()
    step.add("CP-A", T0, "Pending", "m1")
    step.add("CP-A", T0 + timedelta(seconds=1), "Pending", "m2")
    assert [h["message_id"] for h in step.heartbeats] == ["m1", "m2"]
