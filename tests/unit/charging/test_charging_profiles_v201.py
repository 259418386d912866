"""The SetChargingProfile payload of each OCPP version from one stored (1.6 wire) profile."""

from __future__ import annotations

from typing import Any

from shared.charging.profiles import set_charging_profile_payload
from shared.ocpp import OCPP16, OCPP201
from shared.ocpp.v16.set_charging_profile_request import SetChargingProfileRequest as Set16
from shared.ocpp.v201.set_charging_profile_request import SetChargingProfileRequest as Set201

WIRE: dict[str, Any] = {
    "chargingProfileId": 7,
    "transactionId": 12,
    "stackLevel": 8,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        "minChargingRate": 6.0,
    },
}


def test_16_payload_is_the_wire_profile() -> None:
    payload = set_charging_profile_payload(WIRE, connector_id=1, ocpp_version=OCPP16)
    assert payload == {"connectorId": 1, "csChargingProfiles": WIRE}
    Set16.model_validate(payload)


def test_201_payload_names_the_evse_and_the_stations_transaction() -> None:
    payload = set_charging_profile_payload(
        WIRE, connector_id=2, ocpp_version=OCPP201, remote_transaction_id="tx-abc"
    )
    req = Set201.model_validate(payload)  # a valid 2.0.1 SetChargingProfileRequest
    assert req.evse_id == 2
    profile = payload["chargingProfile"]
    assert profile["id"] == 7
    assert profile["transactionId"] == "tx-abc"
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"] == [
        {
            "id": 7,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            "minChargingRate": 6.0,
        }
    ]


def test_201_renames_the_station_max_purpose() -> None:
    wire = {**WIRE, "chargingProfilePurpose": "ChargePointMaxProfile"}
    del wire["transactionId"]
    payload = set_charging_profile_payload(wire, connector_id=0, ocpp_version=OCPP201)
    Set201.model_validate(payload)
    assert payload["chargingProfile"]["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert "transactionId" not in payload["chargingProfile"]


def test_a_stored_201_station_max_profile_caps_like_a_charge_point_max() -> None:
    from shared.charging.profiles import to_schedule_profile
    from shared.charging.schedule import CHARGE_POINT_MAX
    from shared.db.models import ChargingProfile

    row = ChargingProfile(
        chargingprofile_id=1,
        stack_level=0,
        chargingprofile_purpose="ChargingStationMaxProfile",
        chargingprofile_kind="Absolute",
        charging_rate_unit="A",
        chargingschedule_period=[{"startPeriod": 0, "limit": 20}],
        connector_id=0,
    )
    assert to_schedule_profile(row).purpose == CHARGE_POINT_MAX
