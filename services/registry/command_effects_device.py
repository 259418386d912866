"""Effects of the OCPP 2.0.1 device-model commands on the device model, reports and display
messages (services/registry/device_model.py), applied with the other 2.0.1 effects
(command_effects_v201.py), from the committed request and answer:

- GetBaseReport (B07), GetReport (B08), GetMonitoringReport (N02), CustomerInformation
  (N09/N10), GetDisplayMessages (O04) -> the report's `device_report` row (requestId):
  `Requested` when Accepted, `Refused` otherwise (the answer's status kept in
  `command_status`); parts that arrived before the effect keep the status they made.
  A FullInventory / ConfigurationInventory, or a GetMonitoringReport without criteria or
  component variables, replaces what is stored once Complete (device_model.sweep_report);
  an unfiltered GetMonitoringReport answered EmptyResultSet: the station has no monitor.
  GetDisplayMessages answered Unknown without filters: the station shows no message, so
  none is kept.
- SetDisplayMessage (O01) Accepted -> the message upserted; ClearDisplayMessage (O05)
  Accepted or Unknown -> the message forgotten.
- SetVariableMonitoring (N04) -> each result Accepted with an id: that monitor (value and
  transaction from the request item it answers; origin CustomMonitor when the request gave
  no id); ClearVariableMonitoring (N06) -> each id answered Accepted or NotFound is
  forgotten.
- SetMonitoringBase (N03) Accepted -> `chargepoint.monitoring_base`, the monitors it removes
  (by known origin) forgotten, `monitors_stale_since` where the rest is unknown
  (device_model.apply_monitoring_base); SetMonitoringLevel (N04) Accepted ->
  `chargepoint.monitoring_level`.
- SetVariables (B05) / GetVariables (B06): see `set_attributes` / `get_attributes`, called
  by command_effects_v201.py.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from services.registry.device_model import (
    AttributeWrite,
    MonitorWrite,
    apply_monitoring_base,
    delete_display_messages,
    delete_monitors,
    folded,
    forget_monitors_before,
    forget_variables,
    request_report,
    variable_key,
    write_attributes,
    write_display_messages,
    write_monitors,
)
from services.registry.device_model import set_monitoring_level as store_monitoring_level
from shared.command_outbox import Effect, typed_effect
from shared.dispatch import HandlerContext
from shared.ocpp.v201.clear_display_message_request import ClearDisplayMessageRequest
from shared.ocpp.v201.clear_display_message_response import ClearDisplayMessageResponse
from shared.ocpp.v201.clear_variable_monitoring_request import ClearVariableMonitoringRequest
from shared.ocpp.v201.clear_variable_monitoring_response import (
    ClearVariableMonitoringResponse,
)
from shared.ocpp.v201.common import AttributeEnumType
from shared.ocpp.v201.customer_information_request import CustomerInformationRequest
from shared.ocpp.v201.customer_information_response import CustomerInformationResponse
from shared.ocpp.v201.get_base_report_request import GetBaseReportRequest
from shared.ocpp.v201.get_base_report_response import GetBaseReportResponse
from shared.ocpp.v201.get_display_messages_request import GetDisplayMessagesRequest
from shared.ocpp.v201.get_display_messages_response import GetDisplayMessagesResponse
from shared.ocpp.v201.get_monitoring_report_request import GetMonitoringReportRequest
from shared.ocpp.v201.get_monitoring_report_response import GetMonitoringReportResponse
from shared.ocpp.v201.get_report_request import GetReportRequest
from shared.ocpp.v201.get_report_response import GetReportResponse
from shared.ocpp.v201.get_variables_request import GetVariablesRequest
from shared.ocpp.v201.get_variables_response import GetVariablesResponse
from shared.ocpp.v201.set_display_message_request import SetDisplayMessageRequest
from shared.ocpp.v201.set_display_message_response import SetDisplayMessageResponse
from shared.ocpp.v201.set_monitoring_base_request import SetMonitoringBaseRequest
from shared.ocpp.v201.set_monitoring_base_response import SetMonitoringBaseResponse
from shared.ocpp.v201.set_monitoring_level_request import SetMonitoringLevelRequest
from shared.ocpp.v201.set_monitoring_level_response import SetMonitoringLevelResponse
from shared.ocpp.v201.set_variable_monitoring_request import SetVariableMonitoringRequest
from shared.ocpp.v201.set_variable_monitoring_response import SetVariableMonitoringResponse
from shared.ocpp.v201.set_variables_request import SetVariablesRequest
from shared.ocpp.v201.set_variables_response import SetVariablesResponse
from shared.secrets import REDACTED

log = logging.getLogger(__name__)

SET_STORED: Final = frozenset({"Accepted", "RebootRequired"})
# GetBaseReport's reportBase -> what the Complete report replaces (SummaryInventory: nothing).
INVENTORIES: Final = {
    "FullInventory": "Variables",
    "ConfigurationInventory": "ConfigurableVariables",
}
GET_UNKNOWN: Final = frozenset({"UnknownComponent", "UnknownVariable"})
CLEARED_MONITOR: Final = frozenset({"Accepted", "NotFound"})
CLEARED_MESSAGE: Final = frozenset({"Accepted", "Unknown"})


def _type(attribute: AttributeEnumType | None) -> str:
    return (attribute or AttributeEnumType.actual).value


async def set_attributes(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SetVariablesRequest,
    response: SetVariablesResponse,
) -> None:
    """Each attribute answered Accepted / RebootRequired holds the sent value (flagged
    `reboot_required` for RebootRequired), under the attribute type asked for."""
    sent = {
        (folded(variable_key(d.component, d.variable)), _type(d.attribute_type)): d
        for d in request.set_variable_data
    }
    writes = []
    for result in response.set_variable_result:
        status = result.attribute_status.value
        if status not in SET_STORED:
            continue
        key = (
            folded(variable_key(result.component, result.variable)),
            _type(result.attribute_type),
        )
        data = sent.get(key)
        if data is None:
            log.warning("SetVariables result for a variable not sent: %r", result)
            continue
        # A credential (BasicAuthPassword) is logged redacted: its value is not known.
        value = None if data.attribute_value == REDACTED else data.attribute_value
        writes.append(
            AttributeWrite(
                variable=variable_key(data.component, data.variable),
                type=key[1],
                value=value,
                reboot_required=status == "RebootRequired",
            )
        )
    await write_attributes(ctx.session, chargepoint_id, writes, ctx.now)


async def get_attributes(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: GetVariablesRequest,
    response: GetVariablesResponse,
) -> None:
    """Each attribute answered Accepted with a value holds it; a component or variable the
    station says it does not know is forgotten."""
    writes = []
    unknown = []
    for result in response.get_variable_result:
        key = variable_key(result.component, result.variable)
        status = result.attribute_status.value
        if status in GET_UNKNOWN:
            unknown.append(key)
        elif status == "Accepted" and result.attribute_value is not None:
            writes.append(
                AttributeWrite(
                    variable=key, type=_type(result.attribute_type), value=result.attribute_value
                )
            )
    await write_attributes(ctx.session, chargepoint_id, writes, ctx.now)
    await forget_variables(ctx.session, chargepoint_id, unknown)


async def _report(
    ctx: HandlerContext,
    chargepoint_id: str,
    kind: str,
    command: str,
    request_id: int,
    status: str,
    replaces: str | None = None,
) -> None:
    await request_report(
        ctx.session,
        chargepoint_id,
        kind=kind,
        request_id=request_id,
        command=command,
        command_status=status,
        now=ctx.now,
        replaces=replaces,
    )


async def get_base_report(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: GetBaseReportRequest,
    response: GetBaseReportResponse,
) -> None:
    """The report asked for (answered by NotifyReport); a FullInventory replaces the
    station's variables once Complete, a ConfigurationInventory its configurable ones."""
    await _report(
        ctx,
        chargepoint_id,
        "NotifyReport",
        "GetBaseReport",
        request.request_id,
        response.status.value,
        INVENTORIES.get(request.report_base.value),
    )


async def get_report(
    ctx: HandlerContext, chargepoint_id: str, request: GetReportRequest, response: GetReportResponse
) -> None:
    """The report asked for (answered by NotifyReport)."""
    await _report(
        ctx, chargepoint_id, "NotifyReport", "GetReport", request.request_id, response.status.value
    )


async def get_monitoring_report(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: GetMonitoringReportRequest,
    response: GetMonitoringReportResponse,
) -> None:
    """The monitoring report asked for (answered by NotifyMonitoringReport). Without
    criteria or component variables it lists every monitor: once Complete it replaces the
    stored ones; answered EmptyResultSet, the station has none."""
    unfiltered = not request.monitoring_criteria and not request.component_variable
    status = response.status.value
    await _report(
        ctx,
        chargepoint_id,
        "NotifyMonitoringReport",
        "GetMonitoringReport",
        request.request_id,
        status,
        "Monitors" if unfiltered else None,
    )
    if unfiltered and status == "EmptyResultSet":
        await forget_monitors_before(ctx.session, chargepoint_id, ctx.now)


async def customer_information(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: CustomerInformationRequest,
    response: CustomerInformationResponse,
) -> None:
    """The customer information asked for (answered by NotifyCustomerInformation)."""
    await _report(
        ctx,
        chargepoint_id,
        "NotifyCustomerInformation",
        "CustomerInformation",
        request.request_id,
        response.status.value,
    )


async def get_display_messages(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: GetDisplayMessagesRequest,
    response: GetDisplayMessagesResponse,
) -> None:
    """The messages asked for (answered by NotifyDisplayMessages); Unknown to a request
    without filters: the station shows none."""
    status = response.status.value
    await _report(
        ctx,
        chargepoint_id,
        "NotifyDisplayMessages",
        "GetDisplayMessages",
        request.request_id,
        status,
    )
    unfiltered = request.id is None and request.priority is None and request.state is None
    if status == "Unknown" and unfiltered:
        await delete_display_messages(ctx.session, chargepoint_id, None)


async def set_display_message(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SetDisplayMessageRequest,
    response: SetDisplayMessageResponse,
) -> None:
    """Accepted -> the station shows the message (same id: replaced, O01.FR.09)."""
    if response.status.value == "Accepted":
        await write_display_messages(ctx.session, chargepoint_id, [request.message], ctx.now)


async def clear_display_message(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: ClearDisplayMessageRequest,
    response: ClearDisplayMessageResponse,
) -> None:
    """Accepted (cleared) or Unknown (not there) -> the message is not shown."""
    if response.status.value in CLEARED_MESSAGE:
        await delete_display_messages(ctx.session, chargepoint_id, [request.id])


async def set_variable_monitoring(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SetVariableMonitoringRequest,
    response: SetVariableMonitoringResponse,
) -> None:
    """Each monitor answered Accepted (with the id the station gave it) is kept."""

    def match(d: Any) -> tuple[Any, ...]:
        return (folded(variable_key(d.component, d.variable)), d.type.value, d.severity)

    sent: dict[tuple[Any, ...], Any] = {}
    for d in request.set_monitoring_data:
        sent.setdefault(match(d), d)
    monitors = []
    for result in response.set_monitoring_result:
        if result.status.value != "Accepted" or result.id is None:
            continue
        data = sent.get(match(result))
        if data is None:
            log.warning("SetVariableMonitoring result for a monitor not sent: %r", result)
            continue
        monitors.append(
            MonitorWrite(
                variable=variable_key(data.component, data.variable),
                monitor_id=result.id,
                transaction=bool(data.transaction),
                value=data.value,
                type=data.type.value,
                severity=data.severity,
                # A new monitor is the CSMS's own; one replaced by id keeps its origin.
                origin="CustomMonitor" if data.id is None else None,
            )
        )
    await write_monitors(ctx.session, chargepoint_id, monitors, ctx.now)


async def clear_variable_monitoring(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: ClearVariableMonitoringRequest,
    response: ClearVariableMonitoringResponse,
) -> None:
    """Each id answered Accepted or NotFound is no monitor of the station any more."""
    await delete_monitors(
        ctx.session,
        chargepoint_id,
        (r.id for r in response.clear_monitoring_result if r.status.value in CLEARED_MONITOR),
    )


async def set_monitoring_base(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SetMonitoringBaseRequest,
    response: SetMonitoringBaseResponse,
) -> None:
    """Accepted -> the monitors the base removes are forgotten as far as their origin is
    known; the rest is marked for a new GetMonitoringReport (device_model)."""
    if response.status.value == "Accepted":
        await apply_monitoring_base(
            ctx.session, chargepoint_id, request.monitoring_base.value, ctx.now
        )


async def set_monitoring_level(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SetMonitoringLevelRequest,
    response: SetMonitoringLevelResponse,
) -> None:
    """Accepted -> `chargepoint.monitoring_level` = the severity."""
    if response.status.value == "Accepted":
        await store_monitoring_level(ctx.session, chargepoint_id, request.severity)


EFFECTS: dict[str, Effect] = {
    "GetBaseReport": typed_effect(GetBaseReportRequest, GetBaseReportResponse, get_base_report),
    "GetReport": typed_effect(GetReportRequest, GetReportResponse, get_report),
    "GetMonitoringReport": typed_effect(
        GetMonitoringReportRequest, GetMonitoringReportResponse, get_monitoring_report
    ),
    "CustomerInformation": typed_effect(
        CustomerInformationRequest, CustomerInformationResponse, customer_information
    ),
    "GetDisplayMessages": typed_effect(
        GetDisplayMessagesRequest, GetDisplayMessagesResponse, get_display_messages
    ),
    "SetDisplayMessage": typed_effect(
        SetDisplayMessageRequest, SetDisplayMessageResponse, set_display_message
    ),
    "ClearDisplayMessage": typed_effect(
        ClearDisplayMessageRequest, ClearDisplayMessageResponse, clear_display_message
    ),
    "SetVariableMonitoring": typed_effect(
        SetVariableMonitoringRequest, SetVariableMonitoringResponse, set_variable_monitoring
    ),
    "ClearVariableMonitoring": typed_effect(
        ClearVariableMonitoringRequest, ClearVariableMonitoringResponse, clear_variable_monitoring
    ),
    "SetMonitoringBase": typed_effect(
        SetMonitoringBaseRequest, SetMonitoringBaseResponse, set_monitoring_base
    ),
    "SetMonitoringLevel": typed_effect(
        SetMonitoringLevelRequest, SetMonitoringLevelResponse, set_monitoring_level
    ),
}
"""2.0.1 action -> its effect on the device model, reports and display messages."""
