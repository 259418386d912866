"""Frame parsing: every bad-frame class gets the right error code per version."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway import frames
from services.gateway.errors import ErrorKey
from services.gateway.frames import Call, CallError, CallResult, FrameError
from services.gateway.versions import VERSIONS

V16 = VERSIONS["ocpp1.6"]
V201 = VERSIONS["ocpp2.0.1"]


def test_parses_the_three_message_types() -> None:
    assert frames.parse('[2,"a","Heartbeat",{}]') == Call("a", "Heartbeat", {})
    assert frames.parse(b'[3,"a",{"x":1}]') == CallResult("a", {"x": 1})
    assert frames.parse('[4,"a","NotSupported","no",{}]') == CallError("a", "NotSupported", "no")
    # lenient: a CALLERROR without details
    assert frames.parse('[4,"a","InternalError","x"]') == CallError("a", "InternalError", "x")


# (frame, neutral key, unique id answered, 1.6 code, 2.0.1 code)
BAD_FRAMES = [
    ("not json", ErrorKey.RPC_FRAMEWORK, "-1", "FormationViolation", "RpcFrameworkError"),
    ('{"a": 1}', ErrorKey.RPC_FRAMEWORK, "-1", "FormationViolation", "RpcFrameworkError"),
    ("[]", ErrorKey.RPC_FRAMEWORK, "-1", "FormationViolation", "RpcFrameworkError"),
    (
        '["2","a","Heartbeat",{}]',
        ErrorKey.RPC_FRAMEWORK,
        "-1",
        "FormationViolation",
        "RpcFrameworkError",
    ),
    ('[2,"a","Heartbeat"]', ErrorKey.RPC_FRAMEWORK, "a", "FormationViolation", "RpcFrameworkError"),
    (
        '[2,"a","Heartbeat",{},1]',
        ErrorKey.RPC_FRAMEWORK,
        "a",
        "FormationViolation",
        "RpcFrameworkError",
    ),
    (
        '[7,"a","Heartbeat",{}]',
        ErrorKey.MESSAGE_TYPE_NOT_SUPPORTED,
        "a",
        "FormationViolation",
        "MessageTypeNotSupported",
    ),
    (
        '[2,17,"Heartbeat",{}]',
        ErrorKey.RPC_FRAMEWORK,
        "-1",
        "FormationViolation",
        "RpcFrameworkError",
    ),
    (
        orjson.dumps([2, "x" * 37, "Heartbeat", {}]).decode(),
        ErrorKey.RPC_FRAMEWORK,
        "-1",
        "FormationViolation",
        "RpcFrameworkError",
    ),
    ('[2,"a",5,{}]', ErrorKey.RPC_FRAMEWORK, "a", "FormationViolation", "RpcFrameworkError"),
    (
        '[2,"a","Heartbeat",[]]',
        ErrorKey.FORMAT_VIOLATION,
        "a",
        "FormationViolation",
        "FormatViolation",
    ),
    (
        '[2,"a","Heartbeat","x"]',
        ErrorKey.FORMAT_VIOLATION,
        "a",
        "FormationViolation",
        "FormatViolation",
    ),
]


@pytest.mark.parametrize(("raw", "key", "uid", "code16", "code201"), BAD_FRAMES)
def test_bad_frames(raw: str, key: ErrorKey, uid: str, code16: str, code201: str) -> None:
    with pytest.raises(FrameError) as info:
        frames.parse(raw)
    err = info.value
    assert err.key is key
    assert err.unique_id == uid
    assert err.answerable
    assert V16.error_code(err.key) == code16
    assert V201.error_code(err.key) == code201


@pytest.mark.parametrize("raw", ['[3,"a"]', '[3,"a",[]]', '[4,"a",1,"x",{}]', '[4,"a","X","y",[]]'])
def test_broken_answers_are_not_answered(raw: str) -> None:
    with pytest.raises(FrameError) as info:
        frames.parse(raw)
    assert not info.value.answerable
    assert info.value.unique_id == "a"


def test_serialisation() -> None:
    assert orjson.loads(frames.dump_call("1", "Reset", {"type": "Hard"})) == [
        2,
        "1",
        "Reset",
        {"type": "Hard"},
    ]
    assert orjson.loads(frames.dump_result("1", {})) == [3, "1", {}]
    error = orjson.loads(frames.dump_error("1", "InternalError", "x" * 300))
    assert error[:3] == [4, "1", "InternalError"] and len(error[3]) == 255 and error[4] == {}
    for frame in (
        Call("a", "B", {"c": 1}),
        CallResult("a", {}),
        CallError("a", "C", "d", {"e": 1}),
    ):
        assert frames.parse(frames.dump(frame)) == frame


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_parse_never_raises_anything_but_frame_error(data: str | bytes) -> None:
    try:
        frames.parse(data)
    except FrameError:
        pass
