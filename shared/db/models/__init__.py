"""Every table of the domain; import models from here (`from shared.db.models import ...`)."""

from shared.db.base import Base
from shared.db.models.authorization import LocalListEntry
from shared.db.models.balancing import BalancingAllocation, BalancingDecision
from shared.db.models.chargepoint import (
    ChargePoint,
    ChargePointConfiguration,
    Connector,
    Heartbeat,
    StatusNotification,
)
from shared.db.models.charging import (
    ChargingLimit,
    ChargingProfile,
    ChargingProfileInstallation,
    EvChargingNeed,
    ReportedChargingProfile,
)
from shared.db.models.device import (
    DeviceComponent,
    DeviceMonitor,
    DeviceReport,
    DeviceReportPart,
    DeviceVariable,
    DeviceVariableAttribute,
    DisplayMessage,
)
from shared.db.models.events import (
    EventOutbox,
    EventSequence,
    EventThrottle,
    WebhookDeadLetter,
    WebhookDelivery,
    WebhookEndpoint,
)
from shared.db.models.location import Location
from shared.db.models.log import (
    CommandEffectCursor,
    CommandLog,
    CommandSequence,
    DataTransfer,
    OcppMessage,
)
from shared.db.models.security import InstalledCertificate, IssuedCertificate, SecurityEvent
from shared.db.models.transactions import MeterValue, Reservation, Transaction
from shared.db.models.users import ApiKey, IdTag, Profile, User

__all__ = [
    "ApiKey",
    "BalancingAllocation",
    "BalancingDecision",
    "Base",
    "ChargePoint",
    "ChargePointConfiguration",
    "ChargingLimit",
    "ChargingProfile",
    "ChargingProfileInstallation",
    "CommandEffectCursor",
    "CommandLog",
    "CommandSequence",
    "Connector",
    "DataTransfer",
    "DeviceComponent",
    "DeviceMonitor",
    "DeviceReport",
    "DeviceReportPart",
    "DeviceVariable",
    "DeviceVariableAttribute",
    "DisplayMessage",
    "EvChargingNeed",
    "EventOutbox",
    "EventSequence",
    "EventThrottle",
    "Heartbeat",
    "IdTag",
    "InstalledCertificate",
    "IssuedCertificate",
    "LocalListEntry",
    "Location",
    "MeterValue",
    "OcppMessage",
    "Profile",
    "ReportedChargingProfile",
    "Reservation",
    "SecurityEvent",
    "StatusNotification",
    "Transaction",
    "User",
    "WebhookDeadLetter",
    "WebhookDelivery",
    "WebhookEndpoint",
]
