"""Frame parsing: every bad-frame class gets the right error code per version."""

from __future__ import annotations

import contextlib

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
    # Too long, but readable: answered with its own id.
    (
        orjson.dumps([2, "x" * 37, "Heartbeat", {}]).decode(),
        ErrorKey.RPC_FRAMEWORK,
        "x" * 37,
        "FormationViolation",
        "RpcFrameworkError",
    ),
    (
        orjson.dumps([2, "", "Heartbeat", {}]).decode(),
        ErrorKey.RPC_FRAMEWORK,
        "-1",
        "FormationViolation",
        "RpcFrameworkError",
    ),
    # Duplicate keys, at any depth (orjson would keep the last one).
    (
        '[2,"a","Heartbeat",{"k":1,"k":2}]',
        ErrorKey.FORMAT_VIOLATION,
        "a",
        "FormationViolation",
        "FormatViolation",
    ),
    (
        '[2,"a","MeterValues",{"connectorId":1,"meterValue":[{"sampledValue":'
        '[{"value":"1","value":"2"}],"timestamp":"t:0"}]}]',
        ErrorKey.FORMAT_VIOLATION,
        "a",
        "FormationViolation",
        "FormatViolation",
    ),
    # ... hidden behind an escaped colon: found by the exact check.
    (
        '[2,"a","DataTransfer",{"vendorId":"z","vendorId":"x\\u003ay"}]',
        ErrorKey.FORMAT_VIOLATION,
        "a",
        "FormationViolation",
        "FormatViolation",
    ),
    (
        '[2,"a","DataTransfer",{"data":' + "[" * 300 + "]" * 300 + "}]",
        ErrorKey.FORMAT_VIOLATION,
        "a",
        "FormationViolation",
        "FormatViolation",
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
    with contextlib.suppress(FrameError):
        frames.parse(data)


@pytest.mark.parametrize(
    "raw",
    [
        '[2,"a","DataTransfer",{"vendorId":"a:b","data":"{\\"x\\":1}"}]',
        '[2,"a:b:c","Heart:beat",{"k:":":"}]',
        '[2,"a","DataTransfer",{"vendorId":"x\\u003ay","data":"z"}]',
        '[2,"a","DataTransfer",{"vendorId":"\\u00e9t\\u00e9"}]',
        '[ 2 , "a" , "H" , { "k" : { "k" : [ { "k" : 1 } ] } } ]',
        '[3,"a",{"k":{"k":1},"j":"x:y"}]',
    ],
)
def test_repeated_names_in_different_objects_are_not_duplicates(raw: str) -> None:
    frames.parse(raw)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ('[2,"a","StatusNotification",{"info":"x\\u0000y"}]', "payload.info"),
        ('[2,"a","H",{"m":[{"s":[{"v":"1"},{"v":"\\u0000"}]}]}]', "payload.m[0].s[1].v"),
        ('[2,"a","H",{"m":{"k\\u0000":1}}]', "payload.m (a key)"),
        ('[2,"a\\u0000","H",{}]', "uniqueId"),
        ('[2,"a","H\\u0000",{}]', "action"),
    ],
)
def test_nul_characters_are_property_constraint_violations(raw: str, path: str) -> None:
    with pytest.raises(FrameError) as info:
        frames.parse(raw)
    err = info.value
    assert err.key is ErrorKey.PROPERTY_CONSTRAINT and err.answerable
    assert err.details == {"path": path} and path in err.description
    assert V16.error_code(err.key) == V201.error_code(err.key) == "PropertyConstraintViolation"


def test_an_escaped_backslash_before_u0000_is_no_nul() -> None:
    # The text `\\u0000` is a backslash and "u0000": the pre-filter matches, the walk not.
    assert frames.parse('[2,"a","H",{"k":"\\\\u0000"}]') == Call("a", "H", {"k": "\\u0000"})


@pytest.mark.parametrize(
    "raw",
    ['[3,"a",{"k":"\\u0000"}]', '[4,"a","X","d\\u0000",{}]', '[3,"a",{"k":1,"k":2}]'],
)
def test_nul_or_duplicate_keys_in_an_answer_make_it_broken(raw: str) -> None:
    with pytest.raises(FrameError) as info:
        frames.parse(raw)
    assert not info.value.answerable and info.value.unique_id == "a"


def test_a_call_carries_its_canonical_payload() -> None:
    call = frames.parse('[2,"a","H",{"b":1,"a":{"d":2,"c":3}}]')
    assert isinstance(call, Call)
    assert call.canonical == b'{"a":{"c":3,"d":2},"b":1}'


def test_an_overlong_action_is_not_implemented_and_cut() -> None:
    """Bounded log lines and frame-log rows whatever a charge point names its action."""
    longest = "PublishFirmwareStatusNotification"
    assert isinstance(frames.parse(f'[2,"a","{longest}",{{}}]'), Call)
    with pytest.raises(FrameError) as raised:
        frames.parse(orjson.dumps([2, "a", "X" * 10_000, {}]))
    assert raised.value.key is ErrorKey.NOT_IMPLEMENTED
    assert raised.value.unique_id == "a"
    assert raised.value.action == "X" * frames.MAX_ACTION_LENGTH
