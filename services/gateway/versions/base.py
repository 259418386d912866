"""What a protocol version is to the gateway: its error spelling, its actions, its schemas.

One `ProtocolVersion` object per websocket subprotocol, built in its own module (`v16.py`,
`v201.py`); the gateway code asks it, never branches on a version name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from importlib import resources
from typing import Any

from services.gateway.errors import ErrorKey
from shared.ocpp import format_datetime

FixedAnswer = Callable[[datetime], dict[str, Any]]
Trigger = Callable[[Mapping[str, Any]], frozenset[str]]
"""A command's request payload -> the upstream actions it asks the charge point to send."""

BOOT_NOTIFICATION = "BootNotification"
# RegistrationStatus (1.6 §7.33) / RegistrationStatusEnumType (2.0.1): a BootNotification
# answer's `status`; the gateway lets anything but BootNotification through only when Accepted.
ACCEPTED, PENDING, REJECTED = "Accepted", "Pending", "Rejected"


class Direction(StrEnum):
    """Which schema of an action: the CALL payload or the CALLRESULT payload."""

    REQUEST = "request"
    RESPONSE = "response"


class Handling(StrEnum):
    """How the gateway answers an upstream CALL."""

    RPC = "rpc"  # the answer needs state: a service replies over the bus
    FIXED = "fixed"  # the answer is fixed: sent once the broker confirmed the message


@dataclass(frozen=True, slots=True)
class UpstreamAction:
    """An action a charge point may send us and how it is answered."""

    handling: Handling
    answer: FixedAnswer | None = None


@dataclass(frozen=True, slots=True)
class ActionRejected:
    """Why a CALL's action is refused: NotImplemented (unknown) or NotSupported (not handled)."""

    key: ErrorKey
    description: str


def empty_answer(_now: datetime) -> dict[str, Any]:
    """The `{}` answer of notifications."""
    return {}


def current_time_answer(now: datetime) -> dict[str, Any]:
    """`{"currentTime": ...}` in ISO 8601 UTC with a `Z` (Heartbeat)."""
    return {"currentTime": format_datetime(now)}


RPC = UpstreamAction(Handling.RPC)
NOTIFICATION = UpstreamAction(Handling.FIXED, empty_answer)
HEARTBEAT = UpstreamAction(Handling.FIXED, current_time_answer)


@dataclass(frozen=True)
class ProtocolVersion:
    """One OCPP-J version as spoken on one websocket subprotocol."""

    name: str  # the subprotocol: `ocpp1.6`
    schema_dir: str  # folder of the `ocpp` package holding the JSON schemas: `v16/schemas`
    request_suffix: str  # `""` (1.6: `Authorize.json`) or `"Request"` (2.0.1)
    error_codes: Mapping[ErrorKey, str]
    upstream: Mapping[str, UpstreamAction]  # what a charge point may send that we handle
    downstream: frozenset[str]  # commands we may send to a charge point
    # Per-action schema relaxations: action -> function editing a copy of the schema before it
    # is compiled. Empty by default: strict unless an action is listed (see validation.py).
    relaxations: Mapping[tuple[str, Direction], Callable[[dict[str, Any]], None]] = field(
        default_factory=dict
    )
    # Commands that, when the charge point accepts them, ask it to send upstream CALLs: the
    # messages a Pending charge point may send (1.6 §4.2, 2.0.1 B02.FR.09).
    triggers: Mapping[str, Trigger] = field(default_factory=dict)

    def triggered(self, action: str, payload: Mapping[str, Any]) -> frozenset[str] | None:
        """The upstream actions command `action` asks for, or None if it asks for none."""
        trigger = self.triggers.get(action)
        return None if trigger is None else trigger(payload)

    def error_code(self, key: ErrorKey) -> str:
        """The version's spelling of an error."""
        return self.error_codes[key]

    @cached_property
    def error_code_names(self) -> frozenset[str]:
        """Every error code this version defines."""
        return frozenset(self.error_codes.values())

    def schema_file(self, action: str, direction: Direction) -> str:
        """The schema file name of an action's request or response."""
        suffix = self.request_suffix if direction is Direction.REQUEST else "Response"
        return f"{action}{suffix}.json"

    def schema_text(self, action: str, direction: Direction) -> str:
        """The JSON schema text of an action, from the `ocpp` package."""
        path = resources.files("ocpp").joinpath(
            self.schema_dir, self.schema_file(action, direction)
        )
        return path.read_text(encoding="utf-8")

    @cached_property
    def known_actions(self) -> frozenset[str]:
        """Every action (both directions) the version's schemas define."""
        folder = resources.files("ocpp").joinpath(self.schema_dir)
        actions = set()
        for entry in folder.iterdir():
            stem = entry.name.removesuffix(".json")
            if stem == entry.name or stem.endswith("Response"):
                continue
            actions.add(stem.removesuffix(self.request_suffix) if self.request_suffix else stem)
        return frozenset(actions)

    def classify(self, action: str) -> UpstreamAction | ActionRejected:
        """How to answer an upstream CALL of `action`, or why it is refused."""
        handled = self.upstream.get(action)
        if handled is not None:
            return handled
        # OCPP-J 1.6 §4.2.3 / 2.0.1 Part 4 §4.3: NotImplemented = "Requested Action is not
        # known by receiver"; NotSupported = "recognized but not supported by the receiver".
        if action in self.known_actions:
            return ActionRejected(
                ErrorKey.NOT_SUPPORTED, f"{action} is not supported by this central system"
            )
        return ActionRejected(ErrorKey.NOT_IMPLEMENTED, f"{action} is not an {self.name} action")
