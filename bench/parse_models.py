"""`python -m bench.parse_models`: parse time of typed OCPP payloads, per call, in µs.

From the dict an Envelope holds (what a consumer has after `Envelope.from_bytes`) to a typed
request: a realistic 1.6 MeterValues (one meter value, 10 sampled values) and a 2.0.1
TransactionEvent (Updated, 10 sampled values, transaction info, EVSE, id token).

Rows:
- `shared.ocpp` (pydantic): the committed models, what the services use: UTC date-times,
  exact decimals, null refused, 32-bit integers (`parse_payload`).
- `msgspec.convert`: Structs datamodel-code-generator writes from the same schemas
  (`--output-model-type msgspec.Struct`), with msgspec's own date-time and decimal
  handling (no UTC normalisation, no null refusal): a lower bound for msgspec.
- for scale: the gateway's schema validation of the same payload (fastjsonschema) and
  `orjson.loads` of the frame's payload text.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from functools import partial
from importlib import resources, util
from pathlib import Path
from types import ModuleType
from typing import Any

import fastjsonschema
import orjson

from shared.ocpp import OCPP16, OCPP201, parse_payload, request_model

MEASURANDS_16: list[dict[str, str]] = [
    {"measurand": "Energy.Active.Import.Register", "unit": "Wh", "value": "1234567.06"},
    {"measurand": "Power.Active.Import", "unit": "W", "value": "11040.5"},
    {"measurand": "Current.Import", "unit": "A", "phase": "L1", "value": "16.02"},
    {"measurand": "Current.Import", "unit": "A", "phase": "L2", "value": "15.98"},
    {"measurand": "Current.Import", "unit": "A", "phase": "L3", "value": "16.1"},
    {"measurand": "Voltage", "unit": "V", "phase": "L1-N", "value": "230.4"},
    {"measurand": "Voltage", "unit": "V", "phase": "L2-N", "value": "229.9"},
    {"measurand": "Voltage", "unit": "V", "phase": "L3-N", "value": "231.2"},
    {"measurand": "SoC", "unit": "Percent", "location": "EV", "value": "64"},
    {"measurand": "Temperature", "unit": "Celsius", "location": "Body", "value": "41.5"},
]


def meter_values_16() -> dict[str, Any]:
    """A 1.6 MeterValues.req payload with 10 sampled values."""
    return {
        "connectorId": 1,
        "transactionId": 123456,
        "meterValue": [
            {
                "timestamp": "2024-05-01T12:00:00.123Z",
                "sampledValue": [
                    {"context": "Sample.Periodic", "format": "Raw", "location": "Outlet", **sv}
                    for sv in MEASURANDS_16
                ],
            }
        ],
    }


def transaction_event_201() -> dict[str, Any]:
    """A 2.0.1 TransactionEventRequest (Updated) with 10 sampled values."""
    sampled = []
    for sv in MEASURANDS_16:
        if sv["measurand"] == "Temperature":  # not a 2.0.1 measurand
            sv = {"measurand": "Frequency", "unit": "Hz", "value": "50.01"}
        value: dict[str, Any] = {
            "value": float(sv["value"]),
            "context": "Sample.Periodic",
            "measurand": sv["measurand"],
            "unitOfMeasure": {"unit": sv["unit"]},
        }
        if "phase" in sv:
            value["phase"] = sv["phase"]
        if "location" in sv:
            value["location"] = sv["location"]
        sampled.append(value)
    return {
        "eventType": "Updated",
        "timestamp": "2024-05-01T12:00:00.123+02:00",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 17,
        "offline": False,
        "transactionInfo": {
            "transactionId": "0b2c9e6a-4a4e-4a52-9a3e-6f0c4f3d2b11",
            "chargingState": "Charging",
            "timeSpentCharging": 3600,
        },
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"},
        "meterValue": [{"timestamp": "2024-05-01T12:00:00.123+02:00", "sampledValue": sampled}],
    }


def schema_path(version: str, action: str) -> Path:
    """The `ocpp` package's request schema of an action."""
    if version == OCPP16:
        folder, name = "v16", f"{action}.json"
    else:
        folder, name = "v201", f"{action}Request.json"
    return Path(str(resources.files("ocpp").joinpath(folder, "schemas", name)))


def msgspec_parser(version: str, action: str) -> Callable[[dict[str, Any]], object] | None:
    """`msgspec.convert` into Structs generated from the schema; None without msgspec."""
    if util.find_spec("msgspec") is None:
        return None
    import msgspec  # optional: only this row needs it

    out = Path(tempfile.mkdtemp(prefix="bench-msgspec-")) / f"m_{action.lower()}.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "datamodel_code_generator",
            f"--input={schema_path(version, action)}",
            "--input-file-type=jsonschema",
            f"--output={out}",
            "--output-model-type=msgspec.Struct",
            "--target-python-version=3.11",
            "--snake-case-field",
            "--use-annotated",
            "--output-datetime-class=datetime",
            "--type-mappings",
            "number+default=decimal",
            "--class-name=Root",
            "--disable-timestamp",
            "--no-formatters",
        ],
        check=True,
        capture_output=True,
    )
    spec = util.spec_from_file_location(out.stem, out)
    assert spec is not None and spec.loader is not None
    module: ModuleType = util.module_from_spec(spec)
    sys.modules[out.stem] = module
    spec.loader.exec_module(module)
    root = module.Root

    def parse(payload: dict[str, Any]) -> object:
        return msgspec.convert(payload, root, strict=True)

    return parse


def per_call_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """CPU time per call in microseconds: the best of `repeat` runs of `number` calls.

    Process CPU time, not wall time: on a shared machine another process's load does not
    count (the budget in issue 11 is CPU per MeterValues too).
    """
    runs = timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)
    return min(runs) / number * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.parse_models")
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    cases = [
        (OCPP16, "MeterValues", meter_values_16()),
        (OCPP201, "TransactionEvent", transaction_event_201()),
    ]
    rows: list[tuple[str, str, float | None]] = []

    def measure(fn: Callable[[], object]) -> float:
        return per_call_us(fn, args.number, args.repeat)

    for version, action, payload in cases:
        label = f"{version} {action}"
        model = request_model(version, action)
        rows.append(
            (
                label,
                "shared.ocpp (pydantic)",
                measure(partial(parse_payload, model, payload, version=version)),
            )
        )
        convert = msgspec_parser(version, action)
        msgspec_us = None if convert is None else measure(partial(convert, payload))
        rows.append((label, "msgspec.convert (generated Structs)", msgspec_us))
        validate = fastjsonschema.compile(json.loads(schema_path(version, action).read_text()))
        rows.append(
            (label, "gateway schema check (fastjsonschema)", measure(partial(validate, payload)))
        )
        text = orjson.dumps(payload)
        rows.append((label, "orjson.loads of the payload", measure(partial(orjson.loads, text))))
    print(f"{'payload':<28} {'parser':<40} {'CPU µs/call':>11}")
    for label, name, value in rows:
        shown = "n/a" if value is None else f"{value:9.1f}"
        print(f"{label:<28} {name:<40} {shown:>11}")


if __name__ == "__main__":
    main()
