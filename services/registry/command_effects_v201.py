"""Effects of OCPP 2.0.1 commands on what the registry owns (command log rows sent as 2.0.1).

Applied by the registry's effect consumer with the 1.6 ones (command_effects.py), in `seq`
order, from the committed request and answer read as their typed models (shared/ocpp):

- ChangeAvailability (G03, G04) Accepted -> `connector.availability_status` = the requested
  operationalStatus; no `evse` = the whole station (every connector); `evse.id` = that EVSE's
  row (the data model keeps one connector row per EVSE, `connectorid` = evseId, so a
  connector of an EVSE is applied to its EVSE). Scheduled -> `Scheduled`, resolved by the
  next StatusNotification as in 1.6.
- SetVariables (B05): each attribute answered Accepted or RebootRequired -> the device model
  (command_effects_device.py); each Actual one also -> its
  `chargepoint_configuration` key (the NotifyReport key `Component[:instance][@evse[/connector]]
  .Variable[:instance]`, handlers/v201/notify_report.py) = the sent value, readonly false.
  Other attribute types (Target, MinSet, MaxSet) stay in the command log.
- GetVariables (B06): each attribute Accepted with a value -> the device model, an Actual
  one also its key; one answered UnknownComponent / UnknownVariable -> the variable and the
  key are forgotten.
- The reports, monitoring and display messages: command_effects_device.py.
- SendLocalList (D01) Accepted -> `chargepoint.local_list_version` = versionNumber;
  GetLocalListVersion (D02) -> the versionNumber reported.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy import delete, func

from services.registry import certificate_effects, command_effects_device
from services.registry.command_effects import (
    CONFIG_KEY_LENGTH,
    CONFIGURATION,
    apply_availability,
    set_list_version,
    upsert_keys,
)
from services.registry.local_list import SentEntry, apply_local_list, info_201
from shared.command_outbox import Effect, typed_effect
from shared.dispatch import HandlerContext
from shared.ocpp.v201.change_availability_request import ChangeAvailabilityRequest
from shared.ocpp.v201.change_availability_response import ChangeAvailabilityResponse
from shared.ocpp.v201.common import AttributeEnumType, ComponentType, VariableType
from shared.ocpp.v201.get_local_list_version_request import GetLocalListVersionRequest
from shared.ocpp.v201.get_local_list_version_response import GetLocalListVersionResponse
from shared.ocpp.v201.get_variables_request import GetVariablesRequest
from shared.ocpp.v201.get_variables_response import GetVariablesResponse
from shared.ocpp.v201.send_local_list_request import SendLocalListRequest
from shared.ocpp.v201.send_local_list_response import SendLocalListResponse
from shared.ocpp.v201.set_variables_request import SetVariablesRequest
from shared.ocpp.v201.set_variables_response import SetVariablesResponse

log = logging.getLogger(__name__)

STORED_SET_STATUSES: Final = frozenset({"Accepted", "RebootRequired"})
UNKNOWN_GET_STATUSES: Final = frozenset({"UnknownComponent", "UnknownVariable"})


def variable_key(component: ComponentType, variable: VariableType) -> str:
    """`Component[:instance][@evse[/connector]].Variable[:instance]`: the configuration key
    NotifyReport stores the same variable under."""
    key = component.name
    if component.instance:
        key += f":{component.instance}"
    if component.evse is not None:
        key += f"@{component.evse.id}"
        if component.evse.connector_id is not None:
            key += f"/{component.evse.connector_id}"
    key += f".{variable.name}"
    if variable.instance:
        key += f":{variable.instance}"
    return key


def _actual(attribute: AttributeEnumType | None) -> bool:
    return attribute is None or attribute == AttributeEnumType.actual


def _fits(key: str) -> bool:
    if len(key) > CONFIG_KEY_LENGTH:
        log.warning("variable key %r longer than %d: not stored", key, CONFIG_KEY_LENGTH)
        return False
    return True


async def change_availability(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: ChangeAvailabilityRequest,
    response: ChangeAvailabilityResponse,
) -> None:
    """Accepted -> the requested status; Scheduled -> `Scheduled`; Rejected -> nothing."""
    status = response.status.value
    if status == "Accepted":
        availability = request.operational_status.value
    elif status == "Scheduled":
        availability = "Scheduled"
    else:
        return
    # G03: no evse = the Charging Station as a whole (as 1.6 connectorId 0).
    evse_id = request.evse.id if request.evse is not None else 0
    if evse_id < 0:
        log.warning("ChangeAvailability with evse id %d: not applied", evse_id)
        return
    await apply_availability(ctx, chargepoint_id, evse_id, availability)


async def set_variables(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SetVariablesRequest,
    response: SetVariablesResponse,
) -> None:
    """Accepted / RebootRequired Actual values -> their configuration keys."""
    sent = {
        variable_key(d.component, d.variable).lower(): d
        for d in request.set_variable_data
        if _actual(d.attribute_type)
    }
    rows: dict[str, dict[str, Any]] = {}
    for result in response.set_variable_result:
        if not _actual(result.attribute_type):
            continue
        if result.attribute_status.value not in STORED_SET_STATUSES:
            continue
        # Component and variable names are case-insensitive (2.0.1 Part 2 §2.1).
        data = sent.get(variable_key(result.component, result.variable).lower())
        if data is None:
            log.warning("SetVariables result for a variable not sent: %r", result)
            continue
        key = variable_key(data.component, data.variable)
        if _fits(key):
            rows[key] = {
                "chargepoint_id": chargepoint_id,
                "key": key,
                "value": data.attribute_value,
                "readonly": False,
            }
    await upsert_keys(ctx, chargepoint_id, list(rows.values()), readonly_known=True)
    await command_effects_device.set_attributes(ctx, chargepoint_id, request, response)


async def get_variables(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: GetVariablesRequest,
    response: GetVariablesResponse,
) -> None:
    """Accepted Actual values -> their keys; unknown components / variables forgotten."""
    rows: dict[str, dict[str, Any]] = {}
    unknown: list[str] = []
    for result in response.get_variable_result:
        if not _actual(result.attribute_type):
            continue
        key = variable_key(result.component, result.variable)
        status = result.attribute_status.value
        if status in UNKNOWN_GET_STATUSES:
            unknown.append(key)
        elif status == "Accepted" and result.attribute_value is not None and _fits(key):
            rows[key] = {
                "chargepoint_id": chargepoint_id,
                "key": key,
                "value": result.attribute_value,
                "readonly": None,
            }
    await upsert_keys(ctx, chargepoint_id, list(rows.values()), readonly_known=False)
    if unknown:
        await ctx.session.execute(
            delete(CONFIGURATION).where(
                CONFIGURATION.c.chargepoint_id == chargepoint_id,
                func.lower(CONFIGURATION.c.key).in_([k.lower() for k in unknown]),
            )
        )
    await command_effects_device.get_attributes(ctx, chargepoint_id, request, response)


async def send_local_list(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SendLocalListRequest,
    response: SendLocalListResponse,
) -> None:
    """Accepted -> the station now holds list version `versionNumber` and its entries
    (local_list.py)."""
    if response.status.value == "Accepted":
        await set_list_version(ctx, chargepoint_id, request.version_number)
        await apply_local_list(
            ctx,
            chargepoint_id,
            update_type=request.update_type.value,
            version=request.version_number,
            entries=[
                SentEntry(
                    item.id_token.id_token,
                    item.id_token.type.value,
                    info_201(item.id_token_info) if item.id_token_info is not None else None,
                )
                for item in request.local_authorization_list or ()
            ],
        )


async def get_local_list_version(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: GetLocalListVersionRequest,
    response: GetLocalListVersionResponse,
) -> None:
    """The version the station reports (D02: 0 = no list)."""
    await set_list_version(ctx, chargepoint_id, response.version_number)


EFFECTS: dict[str, Effect] = {
    "ChangeAvailability": typed_effect(
        ChangeAvailabilityRequest, ChangeAvailabilityResponse, change_availability
    ),
    "SetVariables": typed_effect(SetVariablesRequest, SetVariablesResponse, set_variables),
    "GetVariables": typed_effect(GetVariablesRequest, GetVariablesResponse, get_variables),
    "SendLocalList": typed_effect(SendLocalListRequest, SendLocalListResponse, send_local_list),
    "GetLocalListVersion": typed_effect(
        GetLocalListVersionRequest, GetLocalListVersionResponse, get_local_list_version
    ),
    **certificate_effects.EFFECTS_201,
    **command_effects_device.EFFECTS,
}
"""2.0.1 action -> effect of its CALLRESULT."""
