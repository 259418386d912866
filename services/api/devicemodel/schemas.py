"""The OCPP 2.0.1 device model of a station as the API shows it (docs/data-model.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from services.api.common import ReadModel, UtcDateTime

AttributeType = Literal["Actual", "Target", "MinSet", "MaxSet"]
ReportKind = Literal[
    "NotifyReport", "NotifyMonitoringReport", "NotifyCustomerInformation", "NotifyDisplayMessages"
]
ReportStatus = Literal["Requested", "Receiving", "Complete", "Refused"]


class ComponentRead(ReadModel):
    """A component (2.0.1 ComponentType): name, instance, EVSE and connector."""

    name: str
    instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None


class CharacteristicsRead(ReadModel):
    """VariableCharacteristicsType, as the last NotifyReport gave it."""

    unit: str | None = None
    data_type: str
    min_limit: Decimal | None = None
    max_limit: Decimal | None = None
    values_list: str | None = None
    supports_monitoring: bool | None = None


class AttributeRead(ReadModel):
    """One attribute of a variable. `reboot_required`: the value was set with SetVariables
    answered RebootRequired and applies after the station's next reboot."""

    type: AttributeType
    value: str | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None
    reboot_required: bool
    updated_at: UtcDateTime


class VariableRead(ReadModel):
    """A variable of a component with its attributes and characteristics."""

    id: int
    component: ComponentRead
    name: str
    instance: str | None = None
    characteristics: CharacteristicsRead | None = None
    attributes: list[AttributeRead]
    updated_at: UtcDateTime


class MonitorRead(ReadModel):
    """A variable monitor (VariableMonitoringType) with the variable it watches."""

    id: int
    component: ComponentRead
    variable: str
    variable_instance: str | None = None
    transaction: bool
    value: Decimal
    type: str
    severity: int
    origin: str | None = Field(
        default=None,
        description="HardWiredMonitor, PreconfiguredMonitor or CustomMonitor when known (a "
        "SetVariableMonitoring that created it, or a NotifyEvent it raised); null: unknown.",
    )
    updated_at: UtcDateTime


class DisplayMessageRead(ReadModel):
    """A message on a station's display (MessageInfoType)."""

    id: int
    priority: str
    state: str | None = None
    start_date_time: UtcDateTime | None = None
    end_date_time: UtcDateTime | None = None
    transaction_id: str | None = None
    content: str
    format: str
    language: str | None = None
    display_name: str | None = None
    display_evse_id: int | None = None
    updated_at: UtcDateTime


class ReportRead(ReadModel):
    """A report the CSMS asked for and how much of it arrived.

    `status`: Requested (accepted, no part yet), Receiving, Complete (every part up to the
    one with tbc false), Refused (`command_status` says how the station answered).
    `text`: NotifyCustomerInformation's data, the parts in seqNo order.
    """

    kind: ReportKind
    request_id: int
    command: str | None = None
    command_status: str | None = None
    status: ReportStatus
    parts: int
    last_seq_no: int | None = None
    items: int
    requested_at: UtcDateTime | None = None
    completed_at: UtcDateTime | None = None
    updated_at: UtcDateTime
    text: str | None = None
