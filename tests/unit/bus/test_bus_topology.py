"""Routing keys and queue arguments of the broker topology."""

import pytest

from shared.bus import topology
from shared.bus.topology import gateway_node_queue, service_queue_arguments, upstream_key


@pytest.mark.parametrize(
    ("version", "action", "key"),
    [
        ("ocpp1.6", "BootNotification", "ocpp16.BootNotification"),
        ("ocpp1.6", "StartTransaction", "ocpp16.StartTransaction"),
        ("ocpp2.0.1", "TransactionEvent", "ocpp201.TransactionEvent"),
        ("ocpp2.0.1", "Heartbeat", "ocpp201.Heartbeat"),
    ],
)
def test_upstream_key(version: str, action: str, key: str) -> None:
    assert upstream_key(version, action) == key


@pytest.mark.parametrize("version", ["ocpp1.5", "1.6", "", "ocpp16"])
def test_upstream_key_refuses_unknown_versions(version: str) -> None:
    with pytest.raises(ValueError, match="unknown OCPP version"):
        upstream_key(version, "Heartbeat")


@pytest.mark.parametrize("action", ["", "Boot.Notification", "*", "#"])
def test_upstream_key_refuses_actions_that_break_topic_matching(action: str) -> None:
    with pytest.raises(ValueError, match="invalid action"):
        upstream_key("ocpp1.6", action)


def test_names() -> None:
    assert gateway_node_queue("gw-1") == "gateway.node.gw-1"
    assert topology.UPSTREAM == "ocpp.upstream"
    assert topology.DOWNSTREAM == "ocpp.downstream"
    assert topology.EVENTS == "csms.events"
    assert topology.DEAD_LETTER == "csms.dead-letter"
    assert (topology.REGISTRY_QUEUE, topology.TRANSACTIONS_QUEUE, topology.CHARGING_QUEUE) == (
        "csms.registry",
        "csms.transactions",
        "csms.charging",
    )


def test_service_queue_arguments() -> None:
    assert service_queue_arguments(5) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": "csms.dead-letter",
    }
