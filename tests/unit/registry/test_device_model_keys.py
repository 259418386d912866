"""The identities the device model upserts by (services/registry/device_model.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.registry.device_model import (
    characteristics_row,
    component_key,
    display_message_row,
    folded,
    variable_key,
)
from shared.ocpp.v201.common import (
    ComponentType,
    MessageInfoType,
    VariableCharacteristicsType,
    VariableType,
)


def component(**data: object) -> ComponentType:
    return ComponentType.model_validate(data)


def test_component_and_variable_keys() -> None:
    connector = component(name="Connector", instance="a", evse={"id": 2, "connectorId": 1})
    assert component_key(connector) == ("Connector", "a", 2, 1)
    assert component_key(component(name="EVSE", evse={"id": 1})) == ("EVSE", None, 1, None)
    assert component_key(component(name="OCPPCommCtrlr")) == ("OCPPCommCtrlr", None, None, None)
    key = variable_key(connector, VariableType(name="Power", instance="L1"))
    assert key == (("Connector", "a", 2, 1), "Power", "L1")


def test_folded_compares_names_case_insensitively_and_keeps_numbers() -> None:
    a = variable_key(component(name="OCPPCommCtrlr"), VariableType(name="HeartbeatInterval"))
    b = variable_key(component(name="ocppcommctrlr"), VariableType(name="HEARTBEATINTERVAL"))
    assert folded(a) == folded(b)
    evse1 = variable_key(component(name="EVSE", evse={"id": 1}), VariableType(name="Power"))
    evse2 = variable_key(component(name="EVSE", evse={"id": 2}), VariableType(name="Power"))
    assert folded(evse1) != folded(evse2)
    # No instance and an empty instance are one variable; an instance is another.
    plain = variable_key(component(name="C"), VariableType(name="V"))
    empty = variable_key(component(name="C", instance=""), VariableType(name="V", instance=""))
    other = variable_key(component(name="C"), VariableType(name="V", instance="x"))
    assert folded(plain) == folded(empty) != folded(other)


def test_characteristics_and_display_message_rows() -> None:
    assert characteristics_row(None) is None
    chars = VariableCharacteristicsType.model_validate(
        {"dataType": "decimal", "supportsMonitoring": True, "unit": "W", "maxLimit": 22000.5}
    )
    assert characteristics_row(chars) == {
        "unit": "W",
        "data_type": "decimal",
        "min_limit": None,
        "max_limit": Decimal("22000.5"),
        "values_list": None,
        "supports_monitoring": True,
    }
    now = datetime(2026, 1, 1, tzinfo=UTC)
    info = MessageInfoType.model_validate(
        {
            "id": 3,
            "priority": "InFront",
            "state": "Unavailable",
            "display": {"name": "Display", "evse": {"id": 1}},
            "transactionId": "tx-9",
            "message": {"format": "HTML", "content": "<b>Out</b>", "language": "nl"},
        }
    )
    row = display_message_row("CP-1", info, now)
    assert row == {
        "chargepoint_id": "CP-1",
        "message_id": 3,
        "priority": "InFront",
        "state": "Unavailable",
        "start_date_time": None,
        "end_date_time": None,
        "transaction_id": "tx-9",
        "content": "<b>Out</b>",
        "format": "HTML",
        "language": "nl",
        "display_name": "Display",
        "display_evse_id": 1,
        "updated_at": now,
    }
