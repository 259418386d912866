"""OCPP-J RPC frames: parse a websocket text frame, serialise CALL / CALLRESULT / CALLERROR.

OCPP-J 1.6 §4.1 and OCPP 2.0.1 Part 4 §4.2: a message is a JSON array whose first element is
the message type id: CALL `[2, id, action, payload]`, CALLRESULT `[3, id, payload]`,
CALLERROR `[4, id, code, description, details]`; the id is a string of at most 36 characters.

A frame whose message id cannot be read (not JSON, not an array, id missing or not a valid
string) is answered with the message id `"-1"`, as OCPP 2.0.1 Part 4 (edition 3) §4.2.3 asks for
an unreadable message id; 1.6 is silent about it and we do the same there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from services.gateway.errors import ErrorKey

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4
MAX_UNIQUE_ID_LENGTH: Final = 36
UNKNOWN_UNIQUE_ID: Final = "-1"
MAX_DESCRIPTION_LENGTH: Final = 255


@dataclass(frozen=True, slots=True)
class Call:
    """A request: `[2, unique_id, action, payload]`."""

    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A successful answer: `[3, unique_id, payload]`."""

    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """An error answer: `[4, unique_id, code, description, details]`."""

    unique_id: str
    code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


class FrameError(Exception):
    """A frame that is not a valid RPC message; `key` is spelled per version by the caller.

    `message_type_id` is the frame's type when it could be read: a broken CALLRESULT or
    CALLERROR (3, 4) is never answered, only a CALL (or an unreadable frame) is.
    """

    def __init__(
        self,
        key: ErrorKey,
        description: str,
        unique_id: str = UNKNOWN_UNIQUE_ID,
        message_type_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.key = key
        self.description = description
        self.unique_id = unique_id
        self.message_type_id = message_type_id

    @property
    def answerable(self) -> bool:
        """True unless the frame is a (broken) answer: answers are never answered."""
        return self.message_type_id not in (CALLRESULT, CALLERROR)


def _unique_id(msg: list[Any], type_id: int) -> str:
    if len(msg) < 2:
        raise FrameError(
            ErrorKey.RPC_FRAMEWORK, "message has no unique id", message_type_id=type_id
        )
    uid = msg[1]
    if not isinstance(uid, str):
        raise FrameError(
            ErrorKey.RPC_FRAMEWORK, "unique id is not a string", message_type_id=type_id
        )
    if not uid or len(uid) > MAX_UNIQUE_ID_LENGTH:
        raise FrameError(
            ErrorKey.RPC_FRAMEWORK,
            f"unique id must be 1 to {MAX_UNIQUE_ID_LENGTH} characters",
            message_type_id=type_id,
        )
    return uid


def parse(data: str | bytes) -> Frame:
    """Parse one websocket frame; raise `FrameError` for anything that is not an RPC message."""
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise FrameError(ErrorKey.RPC_FRAMEWORK, "frame is not valid JSON") from None
    if not isinstance(msg, list):
        raise FrameError(ErrorKey.RPC_FRAMEWORK, "frame is not a JSON array")
    if not msg:
        raise FrameError(ErrorKey.RPC_FRAMEWORK, "frame is an empty array")
    type_id = msg[0]
    # bool is an int in Python; `true` is not a message type id.
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise FrameError(ErrorKey.RPC_FRAMEWORK, "message type id is not an integer")
    if type_id not in (CALL, CALLRESULT, CALLERROR):
        uid = msg[1] if len(msg) > 1 and _valid_id(msg[1]) else UNKNOWN_UNIQUE_ID
        raise FrameError(
            ErrorKey.MESSAGE_TYPE_NOT_SUPPORTED,
            f"message type id {type_id} is not supported",
            uid,
            type_id,
        )
    uid = _unique_id(msg, type_id)
    if type_id == CALL:
        if len(msg) != 4:
            raise FrameError(
                ErrorKey.RPC_FRAMEWORK, f"a CALL has 4 elements, got {len(msg)}", uid, type_id
            )
        action, payload = msg[2], msg[3]
        if not isinstance(action, str) or not action:
            raise FrameError(ErrorKey.RPC_FRAMEWORK, "action is not a string", uid, type_id)
        if not isinstance(payload, dict):
            raise FrameError(ErrorKey.FORMAT_VIOLATION, "payload is not an object", uid, type_id)
        return Call(uid, action, payload)
    if type_id == CALLRESULT:
        if len(msg) != 3:
            raise FrameError(
                ErrorKey.RPC_FRAMEWORK,
                f"a CALLRESULT has 3 elements, got {len(msg)}",
                uid,
                type_id,
            )
        if not isinstance(msg[2], dict):
            raise FrameError(ErrorKey.FORMAT_VIOLATION, "payload is not an object", uid, type_id)
        return CallResult(uid, msg[2])
    # CALLERROR: be lenient in what we accept: details may be missing.
    if len(msg) not in (4, 5):
        raise FrameError(
            ErrorKey.RPC_FRAMEWORK, f"a CALLERROR has 5 elements, got {len(msg)}", uid, type_id
        )
    code, description = msg[2], msg[3]
    details = msg[4] if len(msg) == 5 else {}
    if not isinstance(code, str) or not isinstance(description, str):
        raise FrameError(
            ErrorKey.RPC_FRAMEWORK, "error code and description must be strings", uid, type_id
        )
    if not isinstance(details, dict):
        raise FrameError(ErrorKey.FORMAT_VIOLATION, "error details is not an object", uid, type_id)
    return CallError(uid, code, description, details)


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_UNIQUE_ID_LENGTH


def dump_call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    """Serialise a CALL."""
    return orjson.dumps([CALL, unique_id, action, payload]).decode()


def dump_result(unique_id: str, payload: dict[str, Any]) -> str:
    """Serialise a CALLRESULT."""
    return orjson.dumps([CALLRESULT, unique_id, payload]).decode()


def dump_error(
    unique_id: str, code: str, description: str = "", details: dict[str, Any] | None = None
) -> str:
    """Serialise a CALLERROR; the description is cut to 255 characters (2.0.1 Part 4 §4.2.3)."""
    return orjson.dumps(
        [CALLERROR, unique_id, code, description[:MAX_DESCRIPTION_LENGTH], details or {}]
    ).decode()


def dump(frame: Frame) -> str:
    """Serialise any frame."""
    if isinstance(frame, Call):
        return dump_call(frame.unique_id, frame.action, frame.payload)
    if isinstance(frame, CallResult):
        return dump_result(frame.unique_id, frame.payload)
    return dump_error(frame.unique_id, frame.code, frame.description, frame.details)
