"""OCPP-J RPC frames: parse a websocket text frame, serialise CALL / CALLRESULT / CALLERROR.

OCPP-J 1.6 §4.1 and OCPP 2.0.1 Part 4 §4.2: a message is a JSON array whose first element is
the message type id: CALL `[2, id, action, payload]`, CALLRESULT `[3, id, payload]`,
CALLERROR `[4, id, code, description, details]`; the id is a string of at most 36 characters.

A frame whose message id cannot be read (not JSON, not an array, id missing or not a valid
string) is answered with the message id `"-1"`, as OCPP 2.0.1 Part 4 (edition 3) §4.2.3 asks for
an unreadable message id; 1.6 is silent about it and we do the same there. An id that is
a string but longer than 36 characters is readable: the error answers it with that id.

Beyond the shape, a frame is refused (checks cheap enough for every frame, see gateway.md):
- duplicate keys in any JSON object (orjson keeps the last one silently): FormationViolation
  (1.6) / FormatViolation (2.0.1): JSON text whose names are not unique is not
  interoperable (RFC 8259 §4), and which value counts would be the parser's guess;
- a NUL character (U+0000) in any string, key or value, of the unique id, action or payload:
  PropertyConstraintViolation naming the path. No OCPP field means a NUL, and Postgres
  cannot store one (text and jsonb refuse U+0000), so the gateway refuses it before anything
  is published.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import orjson

from services.gateway.errors import ErrorKey

CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4
MAX_UNIQUE_ID_LENGTH: Final = 36
UNKNOWN_UNIQUE_ID: Final = "-1"
MAX_DESCRIPTION_LENGTH: Final = 255
MAX_ACTION_LENGTH: Final = 64
"""Longest action a CALL may name. The longest OCPP 1.6 / 2.0.1 action is 33 characters
(PublishFirmwareStatusNotification); anything longer is no action of any version
(NotImplemented) and is cut to this length wherever it is repeated (logs, frame log)."""
NUL_ESCAPE: Final = "\\u0000"
"""How JSON text spells U+0000 (a raw NUL is not allowed in a JSON string): every frame
holding a NUL holds this, and a frame without it holds none (a cheap pre-filter)."""
ESCAPED_COLON: Final = "\\u003"
"""The start of `\\u003a` / `\\u003A` (an escaped ':'), which defeats the colon count below."""
UNICODE_ESCAPE: Final = "\\u"
"""Both of the above start with it; most frames hold none, so one search settles both."""


@dataclass(frozen=True, slots=True)
class Call:
    """A request: `[2, unique_id, action, payload]`."""

    unique_id: str
    action: str
    payload: dict[str, Any]
    # The payload serialised canonically (orjson, sorted keys), computed once by `parse` for
    # the duplicate-key check and reused for the message key; b"" when not computed.
    canonical: bytes = field(default=b"", compare=False, repr=False)


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
    CALLERROR (3, 4) is never answered, only a CALL (or an unreadable frame) is. `action` is
    the CALL's action when it could be read, `details` the CALLERROR's details.
    """

    def __init__(
        self,
        key: ErrorKey,
        description: str,
        unique_id: str = UNKNOWN_UNIQUE_ID,
        message_type_id: int | None = None,
        *,
        action: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.key = key
        self.description = description
        self.unique_id = unique_id
        self.message_type_id = message_type_id
        self.action = action
        self.details = details or {}

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
        # A too long id can still be read: answered with it, so the sender can match it.
        raise FrameError(
            ErrorKey.RPC_FRAMEWORK,
            f"unique id must be 1 to {MAX_UNIQUE_ID_LENGTH} characters",
            uid or UNKNOWN_UNIQUE_ID,
            type_id,
        )
    return uid


def parse(data: str | bytes) -> Frame:
    """Parse one websocket frame; raise `FrameError` for anything that is not an RPC message."""
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError:
            raise FrameError(ErrorKey.RPC_FRAMEWORK, "frame is not valid JSON") from None
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
        if len(action) > MAX_ACTION_LENGTH:
            raise FrameError(
                ErrorKey.NOT_IMPLEMENTED,
                f"action longer than {MAX_ACTION_LENGTH} characters: not an OCPP action",
                uid,
                type_id,
                action=action[:MAX_ACTION_LENGTH],
            )
        if not isinstance(payload, dict):
            raise FrameError(ErrorKey.FORMAT_VIOLATION, "payload is not an object", uid, type_id)
        canonical = _dumps(payload, uid, type_id, orjson.OPT_SORT_KEYS)  # canonical_payload
        escapes = UNICODE_ESCAPE in data
        decoded_colons = canonical.count(b":") + uid.count(":") + action.count(":")
        _check_duplicate_keys(data, decoded_colons, uid, type_id, action, escapes=escapes)
        if escapes and NUL_ESCAPE in data:
            _check_nul(msg, uid, type_id, action)
        return Call(uid, action, payload, canonical)
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
        _check_answer(data, msg, uid, type_id)
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
    _check_answer(data, msg, uid, type_id)
    return CallError(uid, code, description, details)


def _check_answer(text: str, msg: list[Any], uid: str, type_id: int) -> None:
    """The duplicate-key and NUL checks of a CALLRESULT / CALLERROR (not the hot path)."""
    decoded_colons = _dumps(msg, uid, type_id).count(b":")
    _check_duplicate_keys(text, decoded_colons, uid, type_id, None, escapes=True)
    if NUL_ESCAPE in text:
        _check_nul(msg, uid, type_id, None)


def _dumps(value: Any, uid: str, type_id: int, option: int = 0) -> bytes:
    """Serialise a parsed value again; orjson refuses more than 254 levels of nesting (it
    reads up to 1024), and so would the envelope on the broker: a FORMAT_VIOLATION here.
    Every check after this one can therefore recurse safely."""
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError:
        raise FrameError(
            ErrorKey.FORMAT_VIOLATION, "the frame is nested too deeply", uid, type_id
        ) from None


def _check_duplicate_keys(
    text: str,
    decoded_colons: int,
    uid: str,
    type_id: int,
    action: str | None,
    *,
    escapes: bool,
) -> None:
    """Raise FORMAT_VIOLATION if an object of the frame repeats a key.

    orjson keeps the last of repeated keys without a word, so they are found by counting:
    every object member of the text has its ':' separator, and every ':' inside a string is
    a ':' of the decoded string. The parsed frame serialised again (`decoded_colons`: the ':'
    of its serialisation plus those of the strings outside it) therefore has as many as the
    text, unless members were dropped, i.e. keys were repeated. An escaped colon
    (`\\u003a`) would add one back, so a frame holding one is checked exactly instead (rare).
    `escapes`: whether the text holds a `\\u` escape at all (False saves a search).
    About 1.5 µs on a MeterValues frame, against ~5 µs for parsing it (gateway.md).
    """
    raw_colons = text.count(":")
    if raw_colons == decoded_colons and not (escapes and ESCAPED_COLON in text):
        return
    if raw_colons > decoded_colons or _has_duplicate_keys(text):
        raise FrameError(
            ErrorKey.FORMAT_VIOLATION,
            "a JSON object of the frame has duplicate keys",
            uid,
            type_id,
            action=action,
        )


def _has_duplicate_keys(text: str) -> bool:
    """The exact (slow) check: parse again with a hook that sees every object's pairs."""
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        obj = dict(items)
        if len(obj) != len(items):
            found = True
        return obj

    try:
        json.loads(text, object_pairs_hook=pairs)
    except ValueError:  # orjson read it; the stdlib parser reads a superset of JSON
        return False
    return found


def _check_nul(msg: list[Any], uid: str, type_id: int, action: str | None) -> None:
    """Raise PROPERTY_CONSTRAINT naming the first string (key or value) holding a U+0000."""
    names = _PARTS[type_id]
    path = _first(_nul_path(value, name) for value, name in zip(msg[1:], names, strict=False))
    if path is not None:
        _raise_nul(path, uid, type_id, action)


_PARTS: Final = {
    CALL: ("uniqueId", "action", "payload"),
    CALLRESULT: ("uniqueId", "payload"),
    CALLERROR: ("uniqueId", "errorCode", "errorDescription", "errorDetails"),
}


def _raise_nul(path: str, uid: str, type_id: int, action: str | None) -> NoReturn:
    raise FrameError(
        ErrorKey.PROPERTY_CONSTRAINT,
        f"{path} contains a NUL character (U+0000)",
        uid,
        type_id,
        action=None if action is not None and "\x00" in action else action,
        details={"path": path},
    )


def _nul_path(node: Any, path: str) -> str | None:
    """The path of the first string under `node` (keys included) that holds a NUL."""
    if isinstance(node, str):
        return path if "\x00" in node else None
    if isinstance(node, dict):
        for key, value in node.items():
            if "\x00" in key:
                return f"{path} (a key)"
            found = _nul_path(value, f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(node, list):
        return _first(_nul_path(value, f"{path}[{i}]") for i, value in enumerate(node))
    return None


def _first(paths: Iterable[str | None]) -> str | None:
    return next((p for p in paths if p is not None), None)


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
