"""Sampled-value parsing: OCPP 1.6 defaults, numeric values, timestamps, Wh/kWh conversion."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.transactions import meter
from services.transactions.meter import Sample, latest_energy_wh, parse_numeric
from shared.ocpp import parse_datetime
from shared.ocpp.v16.meter_values_request import MeterValue, SampledValue

TS = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def parse_sampled_value(payload: dict[str, Any], timestamp: datetime) -> Sample:
    """A SampledValue as received (camelCase JSON), parsed as the dispatcher does first."""
    return meter.parse_sampled_value(SampledValue.model_validate(payload), timestamp)


def iter_samples(meter_values: list[dict[str, Any]] | None) -> list[Sample]:
    """`meter.iter_samples` of a meterValue array as received."""
    models = [MeterValue.model_validate(v) for v in meter_values or ()]
    return list(meter.iter_samples(models))


def test_defaults_when_only_value_is_sent() -> None:
    s = parse_sampled_value({"value": "1234"}, TS)
    assert s == Sample(
        timestamp=TS,
        value="1234",
        value_numeric=Decimal("1234"),
        measurand="Energy.Active.Import.Register",
        unit="Wh",
        context="Sample.Periodic",
        location="Outlet",
        format="Raw",
        phase=None,
    )
    assert s.energy_wh() == 1234


def test_given_fields_are_kept() -> None:
    s = parse_sampled_value(
        {
            "value": "16.2",
            "measurand": "Current.Import",
            "unit": "A",
            "phase": "L2",
            "context": "Transaction.End",
            "location": "Inlet",
        },
        TS,
    )
    assert (s.measurand, s.unit, s.phase, s.context, s.location) == (
        "Current.Import",
        "A",
        "L2",
        "Transaction.End",
        "Inlet",
    )
    assert s.value_numeric == Decimal("16.2")
    assert s.energy_wh() is None


def test_non_energy_measurand_gets_no_default_unit() -> None:
    assert parse_sampled_value({"value": "50", "measurand": "SoC"}, TS).unit is None


def test_other_energy_measurand_defaults_to_wh_but_is_not_the_register() -> None:
    s = parse_sampled_value({"value": "10", "measurand": "Energy.Active.Export.Register"}, TS)
    assert s.unit == "Wh"
    assert s.energy_wh() is None


@pytest.mark.parametrize(
    ("value", "unit", "wh"),
    [
        ("12.345", "kWh", Decimal("12345")),
        ("12.3454", "kWh", Decimal("12345.4")),
        ("12.3455", "kWh", Decimal("12345.5")),
        ("0.0005", "kWh", Decimal("0.5")),
        ("1000", "Wh", Decimal(1000)),
        ("47.06", "Wh", Decimal("47.06")),
        ("1e3", "kWh", Decimal(1_000_000)),
    ],
)
def test_energy_register_in_wh_is_exact(value: str, unit: str, wh: Decimal) -> None:
    """wh_meter_* are NUMERIC: a reading is kept to the last decimal, never rounded."""
    assert parse_sampled_value({"value": value, "unit": unit}, TS).energy_wh() == wh


def test_energy_in_other_units_or_per_phase_is_not_a_reading() -> None:
    assert parse_sampled_value({"value": "5", "unit": "kvarh"}, TS).energy_wh() is None
    assert parse_sampled_value({"value": "5", "phase": "L1"}, TS).energy_wh() is None


def test_non_numeric_and_signed_values_are_kept_as_strings() -> None:
    signed = parse_sampled_value({"value": "1234", "format": "SignedData"}, TS)
    assert (signed.value, signed.value_numeric, signed.energy_wh()) == ("1234", None, None)
    text = parse_sampled_value({"value": "abc"}, TS)
    assert (text.value, text.value_numeric) == ("abc", None)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "", " ", "1,5", "0x10"])
def test_parse_numeric_rejects(value: str) -> None:
    assert parse_numeric(value) is None


def test_parse_numeric_accepts_signs_and_spaces() -> None:
    assert parse_numeric(" -1.50 ") == Decimal("-1.50")


def test_iter_samples_flattens_in_order_and_latest_energy_wins_by_timestamp() -> None:
    meter_value = [
        {
            "timestamp": "2025-03-01T12:05:00Z",
            "sampledValue": [{"value": "2.5", "unit": "kWh"}, {"value": "7", "measurand": "SoC"}],
        },
        {"timestamp": "2025-03-01T12:01:00Z", "sampledValue": [{"value": "1000"}]},
    ]
    samples = list(iter_samples(meter_value))
    assert [s.value for s in samples] == ["2.5", "7", "1000"]
    assert latest_energy_wh(samples) == (parse_datetime("2025-03-01T12:05:00Z"), Decimal(2500))
    assert latest_energy_wh(samples[1:2]) is None
    assert list(iter_samples(None)) == []


@given(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False))
def test_kwh_conversion_matches_wh(kwh: Decimal) -> None:
    as_kwh = parse_sampled_value({"value": str(kwh), "unit": "kWh"}, TS).energy_wh()
    as_wh = parse_sampled_value({"value": str(kwh * 1000), "unit": "Wh"}, TS).energy_wh()
    assert as_kwh == as_wh


def test_numbers_beyond_what_the_columns_hold_keep_only_their_text() -> None:
    """1e999999 would fail Postgres NUMERIC: it may not fail the batch, and the raw text is
    always kept. A lifetime register of 6.5 GWh is a reading like any other (NUMERIC)."""

    assert parse_numeric("1e999999") is None
    assert parse_numeric("1e-999999") is None
    assert parse_numeric("0") == 0
    big = parse_numeric("6500000000")
    assert big == 6_500_000_000
    [fits, too_big, absurd] = iter_samples(
        [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampledValue": [
                    {"value": "2147483647"},
                    {"value": "6500000000"},
                    {"value": "9e99"},
                ],
            }
        ]
    )
    assert fits.energy_wh() == 2_147_483_647
    assert too_big.energy_wh() == 6_500_000_000 and too_big.value_numeric == 6_500_000_000
    assert absurd.energy_wh() is None and absurd.value_numeric is None and absurd.value == "9e99"
