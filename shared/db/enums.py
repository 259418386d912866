"""Value sets of the enum-like string columns, checked by CHECK constraints.

Where OCPP defines the set, it is taken from the `ocpp` package's enums (1.6 and 2.0.1,
unioned where a column stores both versions), so the database accepts exactly what a
schema-valid frame can carry. Other packages import these tuples instead of repeating them.
Measurand, unit, phase, context, location and format of meter values are deliberately
*not* here: real chargers send vendor values and a meter reading must never be lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Final

from ocpp.v16 import enums as v16
from ocpp.v201 import enums as v201


def _union(*enums: Iterable[Enum]) -> tuple[str, ...]:
    """The values of the given enums, first-seen order, without duplicates."""
    seen: dict[str, None] = {}
    for enum in enums:
        for member in enum:
            seen.setdefault(str(member.value), None)
    return tuple(seen)


# -- versions ---------------------------------------------------------------------------------
OCPP_VERSIONS: tuple[str, ...] = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
# OCPP security profiles (1.6 security whitepaper, 2.0.1 A00); 0: none (not in the specs).
SECURITY_PROFILES: tuple[int, ...] = (0, 1, 2, 3)
SECURITY_EVENT_SOURCES: tuple[str, ...] = ("chargepoint", "csms")
# Certificates the CSMS signs for charge points (services/registry/certificates.py):
# requested (CSR accepted) -> signed (CertificateSigned on its way) -> installed / rejected
# (the station's answer); failed: not signed, or CertificateSigned got no answer.
ISSUED_CERTIFICATE_STATUSES: tuple[str, ...] = (
    "requested",
    "signed",
    "installed",
    "rejected",
    "failed",
)
INSTALLED_CERTIFICATE_SOURCES: tuple[str, ...] = ("install", "report")

# -- charge point -----------------------------------------------------------------------------
REGISTRATION_STATUSES: tuple[str, ...] = _union(
    v16.RegistrationStatus, v201.RegistrationStatusEnumType
)
# The statuses OCPP 1.6 (§7.7 ChargePointStatus) applies to the charge point as a whole
# (connectorId 0): Available, Unavailable, Faulted. Stored in chargepoint.chargepoint_status.
CHARGEPOINT_STATUSES: tuple[str, ...] = ("Available", "Unavailable", "Faulted")
FIRMWARE_STATUSES: tuple[str, ...] = _union(v16.FirmwareStatus, v201.FirmwareStatusEnumType)
# 1.6 DiagnosticsStatusNotification and 2.0.1 LogStatusNotification.
DIAGNOSTICS_STATUSES: tuple[str, ...] = _union(v16.DiagnosticsStatus, v201.UploadLogStatusEnumType)

# -- connector --------------------------------------------------------------------------------
# 1.6 ChargePointStatus united with 2.0.1 ConnectorStatusEnumType (adds Occupied).
CONNECTOR_STATUSES: tuple[str, ...] = _union(v16.ChargePointStatus, v201.ConnectorStatusEnumType)
# OCPP AvailabilityType, plus "Scheduled": a ChangeAvailability the charge point accepted to
# apply after the running transaction (ChangeAvailability.conf status Scheduled).
AVAILABILITY_STATUSES: tuple[str, ...] = ("Operative", "Inoperative", "Scheduled")
# 1.6 ChargePointErrorCode (2.0.1 StatusNotification has no error code: stored as NoError).
CONNECTOR_ERROR_CODES: tuple[str, ...] = _union(v16.ChargePointErrorCode)

# -- location ---------------------------------------------------------------------------------
LOCATION_TYPES: tuple[str, ...] = (
    "on_street",
    "parking_garage",
    "underground_garage",
    "parking_lot",
    "private",
    "other",
)
CHARGING_RATE_UNITS: tuple[str, ...] = _union(
    v16.ChargingRateUnitType, v201.ChargingRateUnitEnumType
)
GRID_LIMIT_UNITS: tuple[str, ...] = CHARGING_RATE_UNITS
BALANCING_STRATEGIES: tuple[str, ...] = ("equal", "by_connector_max")

# -- users ------------------------------------------------------------------------------------
USER_ROLES: tuple[str, ...] = ("admin", "operator", "driver")

# -- transactions -----------------------------------------------------------------------------
# Active = open (counts against the id tag's max_active_transactions); Completed = stopped;
# Rejected = its StartTransaction (or first 2.0.1 idToken) was answered other than Accepted:
# never open, whether or not the charge point ever stops it.
TX_ACTIVE: Final = "Active"
TX_COMPLETED: Final = "Completed"
TX_REJECTED: Final = "Rejected"
TRANSACTION_STATUSES: tuple[str, ...] = (TX_ACTIVE, TX_COMPLETED, TX_REJECTED)
# 1.6 Reason united with 2.0.1 ReasonEnumType (StopTransaction / TransactionEvent stoppedReason).
OCPP_STOP_REASONS: tuple[str, ...] = _union(v16.Reason, v201.ReasonEnumType)
# Closes the CSMS records itself, when the charge point never reported the stop
# (services/transactions/README.md, *Transactions that never end*).
CSMS_STOP_REASONS: tuple[str, ...] = ("Superseded", "Stale", "Rebooted", "Administrative")
STOP_REASONS: tuple[str, ...] = OCPP_STOP_REASONS + CSMS_STOP_REASONS
# 1.6 AuthorizationStatus united with 2.0.1 AuthorizationStatusEnumType: the idTagInfo /
# idTokenInfo status a transaction's start was answered (transaction.authorization_status).
AUTHORIZATION_STATUSES: tuple[str, ...] = _union(
    v16.AuthorizationStatus, v201.AuthorizationStatusEnumType
)
RESERVATION_STATUSES: tuple[str, ...] = ("Active", "Used", "Cancelled", "Expired")
# 2.0.1 TriggerReasonEnumType: why a TransactionEvent was sent (transaction.trigger_reason of
# its start, transaction.stop_trigger_reason of its end).
TRIGGER_REASONS: tuple[str, ...] = _union(v201.TriggerReasonEnumType)
# 2.0.1 ChargingStateEnumType (transactionInfo.chargingState: transaction.charging_state).
CHARGING_STATES: tuple[str, ...] = _union(v201.ChargingStateEnumType)
# 2.0.1 IdTokenEnumType: the type of an id tag (NULL: any type matches).
ID_TOKEN_TYPES: tuple[str, ...] = _union(v201.IdTokenEnumType)
# 2.0.1 ChargingLimitSourceEnumType (NotifyChargingLimit, ReportChargingProfiles).
CHARGING_LIMIT_SOURCES: tuple[str, ...] = _union(v201.ChargingLimitSourceEnumType)

# -- smart charging ---------------------------------------------------------------------------
CHARGING_PROFILE_PURPOSES: tuple[str, ...] = _union(
    v16.ChargingProfilePurposeType, v201.ChargingProfilePurposeEnumType
)
CHARGING_PROFILE_KINDS: tuple[str, ...] = _union(
    v16.ChargingProfileKindType, v201.ChargingProfileKindEnumType
)
RECURRENCY_KINDS: tuple[str, ...] = _union(v16.RecurrencyKind, v201.RecurrencyKindEnumType)
PROFILE_INSTALLATION_STATUSES: tuple[str, ...] = (
    "Pending",
    "Installed",
    "Rejected",
    "Cleared",
    "Replaced",
)

# -- message log, commands, data transfer -----------------------------------------------------
DIRECTIONS: tuple[str, ...] = ("in", "out")
# OCPP-J message type numbers: CALL 2, CALLRESULT 3, CALLERROR 4; OCPP 2.1 adds
# CALLRESULTERROR 5 and SEND 6 (allowed now so 2.1 needs no migration).
MESSAGE_TYPES: tuple[int, ...] = (2, 3, 4, 5, 6)
COMMAND_OUTCOMES: tuple[str, ...] = (
    "pending",
    "result",
    "error",
    "offline",
    "timeout",
    "lost",
    "refused",
)

# -- 2.0.1 device model, reports, display messages --------------------------------------------
DEVICE_DATA_TYPES: tuple[str, ...] = _union(v201.DataEnumType)
ATTRIBUTE_TYPES: tuple[str, ...] = _union(v201.AttributeEnumType)
MUTABILITIES: tuple[str, ...] = _union(v201.MutabilityEnumType)
MONITOR_TYPES: tuple[str, ...] = _union(v201.MonitorEnumType)
# Where a monitor comes from (NotifyEvent's eventNotificationType without HardWiredNotification).
MONITOR_ORIGINS: tuple[str, ...] = ("HardWiredMonitor", "PreconfiguredMonitor", "CustomMonitor")
MONITORING_BASES: tuple[str, ...] = _union(v201.MonitorBaseEnumType)
# What a complete report replaces (services/registry/device_model.py `sweep_report`).
REPORT_REPLACES: tuple[str, ...] = ("Variables", "ConfigurableVariables", "Monitors")
# The notification that carries each kind of report the CSMS asks for.
REPORT_KINDS: tuple[str, ...] = (
    "NotifyReport",
    "NotifyMonitoringReport",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
)
# Requested: the command went out and was accepted, no part yet; Receiving: parts arrived,
# not all; Complete: every part up to the one with tbc false; Refused: the station answered
# the command with another status than Accepted (command_status says which).
REPORT_STATUSES: tuple[str, ...] = ("Requested", "Receiving", "Complete", "Refused")
MESSAGE_PRIORITIES: tuple[str, ...] = _union(v201.MessagePriorityEnumType)
# The 2.0.1 schema's MessageStateEnumType (the `ocpp` package's enum lacks Unavailable).
MESSAGE_STATES: tuple[str, ...] = ("Charging", "Faulted", "Idle", "Unavailable")
MESSAGE_FORMATS: tuple[str, ...] = _union(v201.MessageFormatEnumType)
PUBLISH_FIRMWARE_STATUSES: tuple[str, ...] = _union(v201.PublishFirmwareStatusEnumType)
