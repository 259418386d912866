"""The transactions settings: the default tag limit (unset or empty = unlimited), the grace."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shared.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("CSMS_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield


def test_unset_means_unlimited_and_the_grace_has_a_default() -> None:
    s = load_settings()
    assert s.default_max_active_transactions is None
    assert s.stale_transaction_grace == 120


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("  ", None), ("1", 1), ("3", 3)])
def test_default_max_active_transactions(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: int | None
) -> None:
    monkeypatch.setenv("CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS", raw)
    assert load_settings().default_max_active_transactions == expected


@pytest.mark.parametrize("raw", ["0", "-1", "many"])
def test_a_limit_below_one_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS", raw)
    with pytest.raises(SettingsError, match="CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS"):
        load_settings()
