"""Pure mappings of the registry's OCPP 2.0.1 handlers."""

from __future__ import annotations

from typing import Any

from services.registry.handlers.v201 import notify_report
from services.registry.handlers.v201.boot_notification import reported_columns as columns_of
from shared.ocpp.v201.boot_notification_request import BootNotificationRequest
from shared.ocpp.v201.common import ReportDataType


def reported_columns(payload: dict[str, Any]) -> dict[str, Any]:
    return columns_of(BootNotificationRequest.model_validate(payload))


def config_key(report: dict[str, Any]) -> str:
    return notify_report.config_key(ReportDataType.model_validate(report))


def configuration_rows(chargepoint_id: str, data: list[Any]) -> list[dict[str, Any]]:
    reports = [ReportDataType.model_validate(r) for r in data]
    return notify_report.configuration_rows(chargepoint_id, reports)


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
    minimal = reported_columns(
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
    )
    assert minimal["chargepoint_model"] == "M" and minimal["iccid"] is None


def test_config_key() -> None:
    one = {"component": {"name": "C"}, "variable": {"name": "V"}, "variableAttribute": [{}]}
    assert config_key(one) == "C.V"
    assert (
        config_key(
            {
                "component": {"name": "C", "instance": "a", "evse": {"id": 1}},
                "variable": {"name": "V", "instance": "b"},
                "variableAttribute": [{}],
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
                {"value": "5", "mutability": "ReadOnly"},
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
