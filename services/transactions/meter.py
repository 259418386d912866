"""Sampled values (MeterValues, StopTransaction.transactionData): parsing, defaults, units.

Pure functions: no database, no I/O, so the hot path stays cheap and is unit-tested alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from shared.ocpp.v16 import meter_values_request as v16_meter_values
from shared.ocpp.v16 import stop_transaction_request as v16_stop_transaction
from shared.ocpp.v201.common import MeterValueType, SampledValueType

SampledValue = v16_meter_values.SampledValue | v16_stop_transaction.SampledValue
"""A 1.6 SampledValue (MeterValues.req and StopTransaction.req's transactionData: the
generated models define the same type once per message)."""
MeterValue = v16_meter_values.MeterValue | v16_stop_transaction.MeterValue

ENERGY_ACTIVE_IMPORT_REGISTER = "Energy.Active.Import.Register"

# OCPP 1.6 SampledValue: "context ... Default = Sample.Periodic", "format ... Default =
# Raw", "measurand ... Default = Energy.Active.Import.Register", "location ... Default =
# Outlet", "unit ... Default = Wh if the (default) measurand is an Energy type".
DEFAULT_MEASURAND = ENERGY_ACTIVE_IMPORT_REGISTER
DEFAULT_CONTEXT = "Sample.Periodic"
DEFAULT_LOCATION = "Outlet"
DEFAULT_FORMAT = "Raw"
DEFAULT_ENERGY_UNIT = "Wh"

MAX_EXPONENT = 60
"""Largest decimal exponent of a stored numeric reading (1e60 of anything is not a meter)."""
_WH_PER_UNIT: dict[str, Decimal] = {"Wh": Decimal(1), "kWh": Decimal(1000)}


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled value with OCPP's defaults applied; `value` is kept as sent."""

    timestamp: datetime
    value: str
    value_numeric: Decimal | None
    measurand: str
    unit: str | None
    context: str
    location: str
    format: str
    phase: str | None

    def energy_wh(self) -> Decimal | None:
        """The total Energy.Active.Import.Register reading in Wh, exact, or None if not one.

        A per-phase register (phase set) is a share of the total, not the meter reading.
        The transaction's wh_meter_* columns are NUMERIC: 2.0.1 decimals (47.06 Wh) and kWh
        readings are kept as they are, not rounded.
        """
        if (
            self.measurand != ENERGY_ACTIVE_IMPORT_REGISTER
            or self.value_numeric is None
            or self.phase is not None
        ):
            return None
        factor = _WH_PER_UNIT.get(self.unit or "")
        if factor is None:
            return None
        return bounded(self.value_numeric * factor)


def bounded(number: Decimal | None) -> Decimal | None:
    """`number` if Postgres NUMERIC and the arithmetic here hold it comfortably, else None.

    NaN, infinity and absurd exponents (`1e999999`) keep only their text in `meter_value.value`
    instead of failing the whole batch's INSERT.
    """
    if number is None or not number.is_finite():
        return None
    if number and abs(number.adjusted()) > MAX_EXPONENT:
        return None
    return number


def parse_numeric(value: str, fmt: str = DEFAULT_FORMAT) -> Decimal | None:
    """The number in a Raw `value`, or None (SignedData, not a number, NaN, out of range)."""
    if fmt != DEFAULT_FORMAT:
        return None
    try:
        return bounded(Decimal(value.strip()))
    except (InvalidOperation, ValueError):
        return None


def default_unit(measurand: str) -> str | None:
    """The unit OCPP assumes when none is sent: Wh for Energy measurands, none otherwise."""
    return DEFAULT_ENERGY_UNIT if measurand.startswith("Energy.") else None


def parse_sampled_value(sampled: SampledValue, timestamp: datetime) -> Sample:
    """One 1.6 SampledValue with OCPP 1.6 defaults applied."""
    measurand = sampled.measurand.value if sampled.measurand else DEFAULT_MEASURAND
    fmt = sampled.format.value if sampled.format else DEFAULT_FORMAT
    return Sample(
        timestamp=timestamp,
        value=sampled.value,
        value_numeric=parse_numeric(sampled.value, fmt),
        measurand=measurand,
        unit=sampled.unit.value if sampled.unit else default_unit(measurand),
        context=sampled.context.value if sampled.context else DEFAULT_CONTEXT,
        location=sampled.location.value if sampled.location else DEFAULT_LOCATION,
        format=fmt,
        phase=sampled.phase.value if sampled.phase else None,
    )


def iter_samples(meter_values: Sequence[MeterValue] | None) -> Iterator[Sample]:
    """Every sampled value of a 1.6 `meterValue` / `transactionData` array, in order."""
    for meter_value in meter_values or ():
        for sampled in meter_value.sampled_value:
            yield parse_sampled_value(sampled, meter_value.timestamp)


Reading = tuple[datetime, Decimal]
"""A total energy register reading: (its timestamp, Wh)."""


def latest_energy_wh(samples: list[Sample]) -> Reading | None:
    """The newest Energy.Active.Import.Register reading (timestamp, Wh) among `samples`."""
    best: Reading | None = None
    for sample in samples:
        wh = sample.energy_wh()
        if wh is not None and (best is None or sample.timestamp >= best[0]):
            best = (sample.timestamp, wh)
    return best


# OCPP 2.0.1 SampledValueType: `value` is a number; `unitOfMeasure` {unit (default Wh),
# multiplier (default 0, a power of ten)} replaces `unit`; there is no `format` (signed
# readings travel in `signedMeterValue`, kept in the message log). The other defaults are 1.6's.
DEFAULT_UNIT_201 = "Wh"


def parse_sampled_value_201(sampled: SampledValueType, timestamp: datetime) -> Sample:
    """One 2.0.1 SampledValue with its defaults applied.

    `value` is kept as sent (its decimal text, read exactly: shared/ocpp/types.py);
    `value_numeric` is the quantity in `unit`, i.e. value x 10^multiplier (so a kWh-scaled
    register, multiplier 3, still reads in Wh).
    """
    numeric = bounded(sampled.value)
    measure = sampled.unit_of_measure
    multiplier = (measure.multiplier if measure is not None else None) or 0
    if numeric is not None and multiplier:
        numeric = bounded(numeric.scaleb(multiplier))
    return Sample(
        timestamp=timestamp,
        value=str(sampled.value),
        value_numeric=numeric,
        measurand=sampled.measurand.value if sampled.measurand else DEFAULT_MEASURAND,
        unit=(measure.unit if measure is not None else None) or DEFAULT_UNIT_201,
        context=sampled.context.value if sampled.context else DEFAULT_CONTEXT,
        location=sampled.location.value if sampled.location else DEFAULT_LOCATION,
        format=DEFAULT_FORMAT,
        phase=sampled.phase.value if sampled.phase else None,
    )


def iter_samples_201(meter_values: Sequence[MeterValueType] | None) -> Iterator[Sample]:
    """Every sampled value of a 2.0.1 `meterValue` array, in message order."""
    for meter_value in meter_values or ():
        for sampled in meter_value.sampled_value:
            yield parse_sampled_value_201(sampled, meter_value.timestamp)
