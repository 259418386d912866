"""Commands to charge points (CSMS -> charge point): one RPC on `ocpp.downstream`, four outcomes.

`send_command` publishes the CALL as an RPC to the direct exchange `ocpp.downstream` with the
charge point id as routing key, `mandatory` and a TTL; the gateway node that holds the socket
sends the CALL and replies (services/gateway/downstream.py). The outcomes are distinct:

- `Result`: the charge point's CALLRESULT payload (camelCase, as the charge point sent it);
- `CallError`: its CALLERROR (code, description, details), or a CALLRESULT the gateway
  found invalid (`AnswerInvalid`, `source` "gateway");
- `Refused`: the gateway did not send it (`RequestInvalid`: the version's schema refuses
  it; `UnsupportedForVersion`; `GatewayError`); never "the charge point answered";
- `NotConnected`: no gateway node binds the id (the broker returns the message at once), or
  the node lost the socket before the charge point answered (gateway error `NotConnected`);
- `TimedOut`: the charge point did not answer in time (gateway error `Timeout`), or no reply
  came back at all (a gateway node died with the command).

`send_command` only sends and returns the outcome. The sender records it in `command_log`
and publishes `command.completed` after the commit (shared/command_outbox.py): the services
that own the affected tables apply the effects from the committed rows, in order
(services/*/command_effects.py, docs/commands.md).

Payload keys: OCPP uses camelCase, the REST API snake_case. `to_snake` / `to_camel` convert
keys (recursively, values untouched) with a mapping derived from every property name of the
`ocpp` package's JSON schemas of the version (1.6 by default), so odd names
(`csChargingProfiles`) convert exactly. The contents of free-form fields (`data` of
DataTransfer, `customData`) are the vendor's: left as they are.

The routing table: `COMMANDS_BY_VERSION` (what the API sends to a charge point of each
negotiated version) and `EQUIVALENTS` (a command of one version -> the other's command for
the same job: RemoteStartTransaction -> RequestStartTransaction).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final, Literal, Protocol

import orjson

from shared.bus.errors import RpcTimeout, Unroutable
from shared.bus.topology import DOWNSTREAM
from shared.envelope import Envelope, Kind
from shared.ocpp.versions import OCPP16, OCPP201

log = logging.getLogger(__name__)

COMMAND_COMPLETED: Final = "command.completed"
"""Routing key (and envelope action) of the domain event published after every command."""
COMMAND_EFFECTS_DUE: Final = "command.effects_due"
"""Routing key of the sweeper's nudge: a charge point has command outcomes some effect
consumer has not applied yet (payload `{"chargepoint_id"}`)."""

RPC_MARGIN: Final = 0.5
"""Seconds the sender waits beyond the command's timeout, so the gateway's own `Timeout`
reply (sent when its deadline passes) normally arrives before the RPC gives up."""

# What services/gateway/downstream.py puts in `error_code` when no CALLERROR came back
# (`Envelope.error_source = "gateway"`; a charge point's CALLERROR has "chargepoint").
GATEWAY_NOT_CONNECTED: Final = "NotConnected"
GATEWAY_TIMEOUT: Final = "Timeout"
GATEWAY_REQUEST_INVALID: Final = "RequestInvalid"
"""The gateway's schema check refused the request (details: `ocpp_code`, `path`, `rule`)."""
GATEWAY_UNSUPPORTED: Final = "UnsupportedForVersion"
"""The action is no command of the connection's version, or the sender routed it for
another version than the connection speaks (the charge point reconnected meanwhile)."""
GATEWAY_ANSWER_INVALID: Final = "AnswerInvalid"
"""The charge point answered with a CALLRESULT its version's schema refuses."""
GATEWAY_FAILED: Final = "GatewayError"
"""The gateway failed while handling the command."""
GATEWAY_REFUSALS: Final = frozenset({GATEWAY_REQUEST_INVALID, GATEWAY_UNSUPPORTED, GATEWAY_FAILED})
SOURCE_GATEWAY: Final = "gateway"
SOURCE_CHARGEPOINT: Final = "chargepoint"

COMMANDS_V16: Final[tuple[str, ...]] = (
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    # Security whitepaper (CertificateSigned is sent by the CSMS itself: certificates.py)
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
)
"""Every OCPP 1.6 core/profile message the central system initiates, and the security
whitepaper's (but CertificateSigned, which answers a SignCertificate)."""

COMMANDS_V201: Final[tuple[str, ...]] = (
    "CancelReservation",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "CostUpdated",
    "CustomerInformation",
    "DataTransfer",
    "GetBaseReport",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetDisplayMessages",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "PublishFirmware",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
    # Certificates (A, M): CertificateSigned is sent by the CSMS itself (certificates.py)
    "DeleteCertificate",
    "GetInstalledCertificateIds",
    "InstallCertificate",
)
"""Every OCPP 2.0.1 message the CSMS initiates, but CertificateSigned (it answers a
SignCertificate: services/registry/certificates.py)."""

COMMANDS_BY_VERSION: Final[dict[str, tuple[str, ...]]] = {
    OCPP16: COMMANDS_V16,
    OCPP201: COMMANDS_V201,
}
"""The commands the REST API sends, per negotiated OCPP version (the routing table)."""

_RENAMED: Final = (
    # (1.6 action, its 2.0.1 counterpart): same purpose, other message.
    ("RemoteStartTransaction", "RequestStartTransaction"),
    ("RemoteStopTransaction", "RequestStopTransaction"),
    ("ChangeConfiguration", "SetVariables"),
    ("GetConfiguration", "GetVariables"),
    ("GetDiagnostics", "GetLog"),
)
EQUIVALENTS: Final[dict[str, dict[str, str]]] = {
    OCPP16: {
        **{a: a for a in COMMANDS_V201 if a in COMMANDS_V16},
        **{new: old for old, new in _RENAMED},
    },
    OCPP201: {
        **{a: a for a in COMMANDS_V16 if a in COMMANDS_V201},
        **dict(_RENAMED),
        # 1.6 security whitepaper messages whose job 2.0.1's own message does (one way only:
        # 1.6 keeps TriggerMessage and UpdateFirmware too).
        "ExtendedTriggerMessage": "TriggerMessage",
        "SignedUpdateFirmware": "UpdateFirmware",
    },
}
"""Version -> (a command of the other version -> this version's command for the same job)."""


def command_version(action: str, version: str) -> bool:
    """True if `action` is a command the API sends to charge points speaking `version`."""
    return action in COMMANDS_BY_VERSION.get(version, ())


def equivalent(action: str, version: str) -> str | None:
    """The command of `version` that does what `action` (of the other version) does."""
    return EQUIVALENTS.get(version, {}).get(action)


OutcomeName = Literal["result", "error", "offline", "timeout", "refused"]
"""The `command_log.outcome` value of each outcome (shared/db/enums.COMMAND_OUTCOMES)."""


# ------------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True)
class Result:
    """The charge point answered with a CALLRESULT."""

    payload: dict[str, Any]
    outcome: OutcomeName = field(default="result", init=False)


@dataclass(frozen=True, slots=True)
class CallError:
    """The charge point answered with a CALLERROR (`source` "chargepoint"), or with a
    CALLRESULT the gateway found invalid (`source` "gateway", code `AnswerInvalid`)."""

    code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    source: str = SOURCE_CHARGEPOINT
    outcome: OutcomeName = field(default="error", init=False)


@dataclass(frozen=True, slots=True)
class Refused:
    """The gateway did not send the command (`code` one of `GATEWAY_REFUSALS`): the request
    fails the version's schema, is no command of the version, or the gateway failed."""

    code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    outcome: OutcomeName = field(default="refused", init=False)


@dataclass(frozen=True, slots=True)
class NotConnected:
    """No gateway node holds a socket of the charge point (or it closed before answering)."""

    reason: str = ""
    outcome: OutcomeName = field(default="offline", init=False)


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The charge point did not answer within the timeout."""

    reason: str = ""
    outcome: OutcomeName = field(default="timeout", init=False)


CommandOutcome = Result | CallError | Refused | NotConnected | TimedOut


class CommandBus(Protocol):
    """What `send_command` and the command log need of `shared.bus.Bus` (tests hand in
    fakes): the RPC, and a confirmed publish for `command.completed`."""

    async def rpc(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        timeout: float,
        mandatory: bool = ...,
    ) -> Envelope: ...

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = ...
    ) -> None: ...


# ------------------------------------------------------------------------------- sending


async def send_command(
    bus: CommandBus,
    *,
    chargepoint_id: str,
    action: str,
    payload: dict[str, Any],
    timeout: float,
    correlation_id: str | None = None,
    ocpp_version: str | None = None,
) -> CommandOutcome:
    """Send one command (payload in camelCase) and return how it ended; never raises for the
    four outcomes (a broken broker connection still raises `shared.bus` errors).

    `correlation_id` (default: a new uuid4 hex) identifies the command end to end: the
    command log row, the envelope the gateway gets and the `command.completed` event. No
    event is published here: the caller commits the outcome first (shared/command_outbox.py).
    `ocpp_version`: the version the payload was built for; the gateway refuses the command
    (`UnsupportedForVersion`) if the connection speaks another one. None: not checked.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    correlation_id = correlation_id or uuid.uuid4().hex
    request = Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=chargepoint_id,
        ocpp_version=ocpp_version,
        correlation_id=correlation_id,
    )
    outcome: CommandOutcome
    try:
        # Bus.rpc uses one value as both TTL and wait; the margin lets the gateway's own
        # Timeout reply (sent at its deadline, min(TTL, CSMS_COMMAND_TIMEOUT)) arrive first.
        reply = await bus.rpc(
            DOWNSTREAM, chargepoint_id, request, timeout=timeout + RPC_MARGIN, mandatory=True
        )
    except Unroutable:
        outcome = NotConnected(f"{chargepoint_id} is not connected")
    except RpcTimeout:
        outcome = TimedOut(f"no answer from {chargepoint_id} within {timeout:g}s")
    else:
        outcome = outcome_of(reply)
    return outcome


def outcome_of(reply: Envelope) -> CommandOutcome:
    """Map the gateway's reply envelope to an outcome.

    A charge point's CALLERROR (`error_source` "chargepoint") is a `CallError` whatever its
    code (a charge point answering `NotConnected` did answer). The gateway's own errors
    (`error_source` "gateway", or none from a gateway that predates it) are told by code.
    """
    if reply.kind is Kind.RESULT:
        return Result(dict(reply.payload))
    code = reply.error_code or "GenericError"
    description = reply.error_description or ""
    details = dict(reply.error_details or {})
    if reply.kind is not Kind.ERROR:
        return Refused(GATEWAY_FAILED, f"unexpected reply kind {reply.kind}")
    if reply.error_source == SOURCE_CHARGEPOINT:
        return CallError(code, description, details)
    if code == GATEWAY_NOT_CONNECTED:
        return NotConnected(description)
    if code == GATEWAY_TIMEOUT:
        return TimedOut(description)
    if reply.error_source == SOURCE_GATEWAY:
        if code in GATEWAY_REFUSALS:
            return Refused(code, description, details)
        return CallError(code, description, details, source=SOURCE_GATEWAY)
    return CallError(code, description, details)


# ------------------------------------------------------------------------------- key names

_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_ACRONYM_BOUNDARY = re.compile(r"([A-Z]+)([A-Z][a-z])")


def camel_to_snake(name: str) -> str:
    """`connectorId` -> `connector_id` by rule (use `to_snake` for payloads)."""
    return _CAMEL_BOUNDARY.sub(r"\1_\2", _ACRONYM_BOUNDARY.sub(r"\1_\2", name)).lower()


def snake_to_camel(name: str) -> str:
    """`connector_id` -> `connectorId` by rule (use `to_camel` for payloads)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _property_names(schema: Any, into: set[str]) -> None:
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        into.update(properties)
        for sub in properties.values():
            _property_names(sub, into)
    _property_names(schema.get("items"), into)
    for key in ("definitions", "$defs"):
        definitions = schema.get(key)
        if isinstance(definitions, dict):
            for sub in definitions.values():
                _property_names(sub, into)


@cache
def schema_property_names(version: str = "v16") -> frozenset[str]:
    """Every property name in the `ocpp` package's JSON schemas of `version`."""
    names: set[str] = set()
    folder = resources.files("ocpp").joinpath(version, "schemas")
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            _property_names(orjson.loads(entry.read_bytes()), names)
    return frozenset(names)


@cache
def key_maps(version: str = "v16") -> tuple[dict[str, str], dict[str, str]]:
    """(camel -> snake, snake -> camel) for every schema property name; a bijection."""
    to_snake_map: dict[str, str] = {}
    to_camel_map: dict[str, str] = {}
    for camel in sorted(schema_property_names(version)):
        snake = camel_to_snake(camel)
        other = to_camel_map.setdefault(snake, camel)
        if other != camel:
            raise RuntimeError(f"{camel!r} and {other!r} both map to {snake!r}")
        to_snake_map[camel] = snake
    return to_snake_map, to_camel_map


OPAQUE_KEYS: Final = frozenset({"data", "customData", "custom_data"})
"""Keys whose values are free-form vendor data (2.0.1 DataTransfer `data`, `customData`):
their contents keep their own key names."""

_SCHEMA_DIRS: Final = {OCPP16: "v16", OCPP201: "v201", "v16": "v16", "v201": "v201"}


def _convert(value: Any, mapping: dict[str, str], fallback: Any) -> Any:
    if isinstance(value, dict):
        return {
            (mapping.get(k) or fallback(k) if isinstance(k, str) else k): (
                v if k in OPAQUE_KEYS else _convert(v, mapping, fallback)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_convert(item, mapping, fallback) for item in value]
    return value


def to_snake(payload: Any, version: str = OCPP16) -> Any:
    """An OCPP payload with snake_case keys (recursive; values untouched)."""
    return _convert(payload, key_maps(_SCHEMA_DIRS[version])[0], camel_to_snake)


def to_camel(payload: Any, version: str = OCPP16) -> Any:
    """A snake_case payload with OCPP's camelCase keys (recursive; values untouched)."""
    return _convert(payload, key_maps(_SCHEMA_DIRS[version])[1], snake_to_camel)


def kebab(action: str) -> str:
    """`RemoteStartTransaction` -> `remote-start-transaction` (the REST path segment)."""
    return camel_to_snake(action).replace("_", "-")
