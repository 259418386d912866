"""docs/commands.md lists every command of both versions with an example body that the API's
model of that version accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.api.commands.schemas import SLUGS
from shared.ocpp import OCPP16, OCPP201

DOC = Path(__file__).resolve().parents[3] / "docs" / "commands.md"
ROW = re.compile(r"^\| `([a-z-]+)` \|(.*)\|(.*)\|(.*)\|$")
EXAMPLE = re.compile(r"(1\.6|2\.0\.1): `(\{.*?\})`(?:<br>|$| )")
VERSIONS = {"1.6": OCPP16, "2.0.1": OCPP201}


def _rows() -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = EXAMPLE.findall(match.group(4).strip())
    return rows


def test_every_command_of_both_versions_is_documented_with_a_valid_example() -> None:
    rows = _rows()
    for version, label in ((OCPP16, "1.6"), (OCPP201, "2.0.1")):
        for slug, spec in SLUGS[version].items():
            examples = dict(rows.get(slug, []))
            assert label in examples, f"{slug}: no {label} example"
            spec.request.model_validate(json.loads(examples[label]))
    assert set(rows) == set(SLUGS[OCPP16]) | set(SLUGS[OCPP201])
