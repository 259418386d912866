"""Metrics helpers: bounded label sets, close codes, CALL latency."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from shared import metrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_unknown_actions_count_as_unknown() -> None:
    metrics.register_actions("ocpp-test", frozenset({"Heartbeat"}))
    before = sample(
        "ocpp_messages_total", version="ocpp-test", action="unknown", direction="in", outcome="x"
    )
    for junk in ("Bogus1", "Bogus2", "x" * 200):
        metrics.count_ocpp_message("ocpp-test", junk, "in", "x")
    metrics.count_ocpp_message("ocpp-test", "Heartbeat", "in", "x")
    assert (
        sample(
            "ocpp_messages_total",
            version="ocpp-test",
            action="unknown",
            direction="in",
            outcome="x",
        )
        == before + 3
    )
    assert (
        sample(
            "ocpp_messages_total",
            version="ocpp-test",
            action="Heartbeat",
            direction="in",
            outcome="x",
        )
        >= 1
    )
    assert (
        sample(
            "ocpp_messages_total", version="ocpp-test", action="Bogus1", direction="in", outcome="x"
        )
        == 0
    )


def test_call_latency_is_observed_with_a_bounded_action_even_on_error() -> None:
    metrics.register_actions("ocpp-test", frozenset({"Reset"}))
    labels = {"version": "ocpp-test", "direction": "out"}
    before = sample("ocpp_call_seconds_count", action="Reset", **labels)
    with metrics.time_call("ocpp-test", "Reset", "out"):
        pass
    with pytest.raises(TimeoutError), metrics.time_call("ocpp-test", "NoSuchThing", "out"):
        raise TimeoutError
    assert sample("ocpp_call_seconds_count", action="Reset", **labels) == before + 1
    assert sample("ocpp_call_seconds_count", action="unknown", **labels) >= 1


@pytest.mark.parametrize(
    ("code", "label"),
    [(1000, "1000"), (1001, "1001"), (None, "1006"), (4000, "4000"), (3999, "other")],
)
def test_close_codes_are_bounded(code: int | None, label: str) -> None:
    before = sample("gateway_connections_closed_total", code=label)
    opened = sample("gateway_connections_opened_total", version="ocpp1.6")
    metrics.connection_opened("ocpp1.6")
    metrics.connection_closed(code)
    assert sample("gateway_connections_closed_total", code=label) == before + 1
    assert sample("gateway_connections_opened_total", version="ocpp1.6") == opened + 1
