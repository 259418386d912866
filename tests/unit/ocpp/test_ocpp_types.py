"""OCPP value types: date-times to UTC, exact decimals, strict integers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.ocpp import (
    OCPP16,
    OCPP201,
    RequestInvalid,
    format_datetime,
    parse_datetime,
    parse_payload,
    parse_request,
)
from shared.ocpp.types import INT32_MAX, as_utc
from shared.ocpp.v16.status_notification_request import StatusNotificationRequest
from shared.ocpp.v201.meter_values_request import MeterValuesRequest

UTC_NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", UTC_NOON),
        ("2024-05-01T12:00:00.1Z", UTC_NOON.replace(microsecond=100_000)),
        ("2024-05-01T12:00:00.12Z", UTC_NOON.replace(microsecond=120_000)),
        ("2024-05-01T12:00:00.123Z", UTC_NOON.replace(microsecond=123_000)),
        ("2024-05-01T12:00:00.123456Z", UTC_NOON.replace(microsecond=123_456)),
        # Nanoseconds: truncated, never rounded into the next second.
        ("2024-05-01T12:00:00.999999999Z", UTC_NOON.replace(microsecond=999_999)),
        ("2024-05-01T14:00:00+02:00", UTC_NOON),
        ("2024-05-01T14:00:00.5+0200", UTC_NOON.replace(microsecond=500_000)),
        ("2024-05-01T07:30:00-04:30", UTC_NOON),
        ("2024-05-01T12:00:00+00:00", UTC_NOON),
        ("2024-05-01T12:00:00-00:00", UTC_NOON),
        ("2024-05-01t12:00:00z", UTC_NOON),
        ("2024-05-02T00:30:00+12:30", UTC_NOON),
        # A leap second is the first instant of the next minute.
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, tzinfo=UTC)),
        ("2016-12-31T23:59:60.5Z", datetime(2017, 1, 1, tzinfo=UTC)),
    ],
)
def test_date_times_of_any_precision_and_offset_are_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:00:00",  # no offset: refused (decided in shared/ocpp/types.py)
        "2024-05-01T12:00:00.123",
        "2024-05-01 12:00:00Z",
        "2024-05-01",
        "2024-05-01T12:00Z",
        "2024-02-30T12:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00+24:00",
        "20240501T120000Z",
        "2024-05-01T12:00:00.Z",
        "",
    ],
)
def test_malformed_or_offsetless_date_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"date-time|day is out of range"):
        parse_datetime(text)


@settings(deadline=None)  # no timed assertion on a shared machine
@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
        ),
    )
)
def test_any_aware_moment_survives_the_wire_to_the_millisecond(moment: datetime) -> None:
    for text in (moment.isoformat(), format_datetime(moment)):
        parsed = parse_datetime(text)
        assert parsed.tzinfo is UTC
        assert abs(parsed - moment) < timedelta(milliseconds=1)
    assert format_datetime(moment) == format_datetime(parse_datetime(format_datetime(moment)))


def test_format_is_utc_milliseconds_z() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 0, 123_999, tzinfo=timezone(timedelta(hours=2)))
    assert format_datetime(moment) == "2024-05-01T12:00:00.123Z"
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="naive"):
        as_utc(datetime(2024, 5, 1))


def _sampled_201(value: object) -> dict[str, object]:
    return {
        "evseId": 1,
        "meterValue": [{"timestamp": "2024-05-01T12:00:00Z", "sampledValue": [{"value": value}]}],
    }


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (47.06, Decimal("47.06")),
        (0.1, Decimal("0.1")),
        (1234567.89, Decimal("1234567.89")),
        (1e-7, Decimal("1E-7")),
        (230, Decimal(230)),
        (-3.5, Decimal("-3.5")),
    ],
)
def test_numbers_keep_the_digits_sent(sent: float, expected: Decimal) -> None:
    req = parse_payload(MeterValuesRequest, _sampled_201(sent), version=OCPP201)
    value = req.meter_value[0].sampled_value[0].value
    assert isinstance(value, Decimal)
    assert value == expected
    assert str(value) == str(expected)


@settings(deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_reads_as_its_shortest_decimal(sent: float) -> None:
    req = parse_payload(MeterValuesRequest, _sampled_201(sent), version=OCPP201)
    value = req.meter_value[0].sampled_value[0].value
    assert value == Decimal(repr(sent))
    assert float(value) == sent


@pytest.mark.parametrize("sent", ["47.06", True, [1]])
def test_a_number_field_takes_only_json_numbers(sent: object) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_request("ocpp2.0.1", "MeterValues", _sampled_201(sent))
    assert caught.value.code == "TypeConstraintViolation"


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("1", "TypeConstraintViolation"),
        (True, "TypeConstraintViolation"),
        (1.5, "TypeConstraintViolation"),
        (INT32_MAX + 1, "PropertyConstraintViolation"),
    ],
)
def test_integers_are_strict_and_32_bit(sent: object, code: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_request("ocpp1.6", "StatusNotification", _status(sent))
    assert caught.value.code == code
    assert caught.value.details["path"] == "payload.connectorId"


def _status(connector: object) -> dict[str, object]:
    return {"connectorId": connector, "errorCode": "NoError", "status": "Available"}


def test_an_integral_float_is_an_integer_as_json_schema_draft_06_says() -> None:
    req = parse_payload(StatusNotificationRequest, _status(2.0), version=OCPP16)
    assert req.connector_id == 2
    assert type(req.connector_id) is int
