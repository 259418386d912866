"""Pure mappings of the registry's OCPP 2.0.1 handlers."""

from __future__ import annotations

from services.registry.handlers.v201.boot_notification import reported_columns
from services.registry.handlers.v201.notify_report import config_key, configuration_rows


def test_boot_fields_map_onto_the_1_6_columns() -> None:
    payload = {
        "reason": "PowerUp",
        "chargingStation": {
            "model": "M",
            "vendorName": "V",
            "serialNumber": "S",
            "firmwareVersion": "F",
            "modem": {"iccid": "I", "imsi": "X"},
        },
    }
    assert reported_columns(payload) == {
        "chargepoint_vendor": "V",
        "chargepoint_model": "M",
        "chargepoint_serial_number": "S",
        "firmware_version": "F",
        "iccid": "I",
        "imsi": "X",
    }
    minimal = reported_columns({"reason": "PowerUp", "chargingStation": {"model": "M"}})
    assert minimal["chargepoint_model"] == "M" and minimal["iccid"] is None


def test_config_key() -> None:
    assert config_key({"component": {"name": "C"}, "variable": {"name": "V"}}) == "C.V"
    assert (
        config_key(
            {
                "component": {"name": "C", "instance": "a", "evse": {"id": 1}},
                "variable": {"name": "V", "instance": "b"},
            }
        )
        == "C:a@1.V:b"
    )


def test_configuration_rows_keep_actual_values_only() -> None:
    data = [
        {
            "component": {"name": "C"},
            "variable": {"name": "V"},
            "variableAttribute": [
                {"type": "Target", "value": "t"},
                {"value": 5, "mutability": "ReadOnly"},
            ],
        },
        {
            "component": {"name": "X" * 40},
            "variable": {"name": "Y" * 20},
            "variableAttribute": [{"value": "too long a key"}],
        },
        {"component": {"name": "N"}, "variable": {"name": "V"}, "variableAttribute": [{}]},
    ]
    assert configuration_rows("CP", data) == [
        {"chargepoint_id": "CP", "key": "C.V", "value": "5", "readonly": True},
        {"chargepoint_id": "CP", "key": "N.V", "value": None, "readonly": False},
    ]
