"""The `csms` command line: subcommands, argument pass-through, settings checked first."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import cli, supervisor
from shared.settings import get_settings
from shared.supervisor import SERVICES

SUBCOMMANDS = [*SERVICES, "migrate", "prune", "dlq", "proxy", "ca", "run", "version"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("CSMS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CSMS_ENV", "test")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    # One-shot commands configure logging like the services; keep pytest's handlers.
    monkeypatch.setattr(cli, "configure_logging", lambda *_args: None)
    yield
    get_settings.cache_clear()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Fake service mains, migration tool and supervisor that record how they were called."""
    recorded: list[tuple[str, object]] = []
    for name in SERVICES:
        module = types.ModuleType(f"services.{name}.main")

        def fake_main(name: str = name) -> None:
            recorded.append((name, None))

        module.main = fake_main  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"services.{name}.main", module)

    migrate = types.ModuleType("shared.db.migrate")

    def fake_migrate(argv: list[str] | None = None) -> int:
        recorded.append(("migrate", argv))
        return 3 if argv == ["--fail"] else 0

    migrate.main = fake_migrate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "shared.db.migrate", migrate)

    def fake_supervise(services: tuple[str, ...] = SERVICES) -> None:
        recorded.append(("run", services))

    monkeypatch.setattr(supervisor, "main", fake_supervise)
    return recorded


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_parser_knows_exactly_the_subcommands() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices is not None
    assert sorted(sub.choices) == sorted(SUBCOMMANDS)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    assert "usage: csms" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["version"])
    assert capsys.readouterr().out.startswith("csms ")


def test_version_needs_no_valid_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CSMS_GATEWAY_PORT", "notaport")
    cli.main(["version"])
    assert "csms" in capsys.readouterr().out


@pytest.mark.parametrize("service", SERVICES)
def test_service_subcommand_calls_its_main(calls: list[tuple[str, object]], service: str) -> None:
    cli.main([service])
    assert calls == [(service, None)]


def test_service_subcommand_rejects_extra_arguments(calls: list[tuple[str, object]]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["registry", "--bogus"])
    assert info.value.code == 2
    assert calls == []


@pytest.mark.parametrize(
    "rest",
    [
        [],
        ["--create-database"],
        ["--revision", "head"],
        ["--revision=abc123"],
        ["--downgrade", "-1"],
        ["--downgrade", "base", "--create-database"],
        ["--help"],
    ],
)
def test_migrate_passes_its_arguments_through(
    calls: list[tuple[str, object]], rest: list[str]
) -> None:
    cli.main(["migrate", *rest])
    assert calls == [("migrate", rest)]


def test_migrate_failure_status_is_the_exit_status(calls: list[tuple[str, object]]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["migrate", "--fail"])
    assert info.value.code == 3


def test_run_supervises_all_services_in_order(calls: list[tuple[str, object]]) -> None:
    cli.main(["run"])
    assert calls == [("run", SERVICES)]
    assert SERVICES == ("registry", "transactions", "charging", "webhooks", "gateway", "api")


def test_run_a_subset_keeps_start_order(calls: list[tuple[str, object]]) -> None:
    cli.main(["run", "api", "registry"])
    assert calls == [("run", ("registry", "api"))]


def test_run_unknown_service_is_a_usage_error(calls: list[tuple[str, object]]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "registry", "billing"])
    assert info.value.code == 2
    assert calls == []


@pytest.mark.parametrize("command", [*SERVICES, "migrate", "run"])
def test_bad_settings_stop_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, object]], command: str
) -> None:
    monkeypatch.setenv("CSMS_GATEWAY_PORT", "notaport")
    with pytest.raises(SystemExit) as info:
        cli.main([command])
    assert "CSMS_GATEWAY_PORT" in str(info.value.code)
    assert calls == []


def test_default_children_run_the_cli_with_this_interpreter() -> None:
    children = supervisor.default_children()
    assert [c.name for c in children] == list(SERVICES)
    for child in children:
        assert list(child.argv) == [sys.executable, "-m", "shared.cli", child.name]
