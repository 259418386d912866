"""The committed models are exactly what the `ocpp` package's schemas generate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.ocpp import generate


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate.generate_all(tmp_path_factory.mktemp("ocpp-models"))


def test_regenerating_gives_the_committed_files(generated: list[Path]) -> None:
    for package in generated:
        assert generate.differences(package, generate.PACKAGE_DIR / package.name) == []


def test_an_edited_model_is_noticed(generated: list[Path], tmp_path: Path) -> None:
    package = generated[0]
    committed = tmp_path / package.name
    shutil.copytree(generate.PACKAGE_DIR / package.name, committed)
    target = committed / "meter_values_request.py"
    target.write_text(target.read_text().replace("min_length=1", "min_length=0"))
    (committed / "stray.py").write_text("")
    assert generate.differences(package, committed) == [
        "stray.py (not generated)",
        "meter_values_request.py",
    ]


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("MeterValues", "meter_values"),
        ("GetCertificateStatus", "get_certificate_status"),
        ("NotifyEVChargingNeeds", "notify_ev_charging_needs"),
        ("Get15118EVCertificate", "get15118_ev_certificate"),
    ],
)
def test_module_names(name: str, snake: str) -> None:
    assert generate.snake(name) == snake
