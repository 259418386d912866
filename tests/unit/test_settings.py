"""Settings: defaults, bad values named by their variable, secrets refused in production."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import (
    DEV_ADMIN_PASSWORD,
    DEV_JWT_SECRET,
    Environment,
    Settings,
    SettingsError,
    UnknownChargePointPolicy,
    get_settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CSMS_* variable and no .env file leak in from the developer's environment."""
    for key in list(os.environ):
        if key.startswith("CSMS_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults() -> None:
    s = load_settings()
    assert s.env is Environment.DEVELOPMENT
    assert s.gateway_port == 9000
    assert s.api_port == 8000
    assert (s.registry_health_port, s.transactions_health_port, s.charging_health_port) == (
        9101,
        9102,
        9103,
    )
    assert s.unknown_chargepoints is UnknownChargePointPolicy.PENDING
    assert s.database_url.startswith("postgresql+asyncpg://")
    assert s.amqp_url.startswith("amqp://")
    assert s.consumer_prefetch == 200
    assert s.log_format == "json"
    assert s.admin_password.get_secret_value() == DEV_ADMIN_PASSWORD
    assert s.gateway_node_id


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_GATEWAY_PORT", "9443")
    monkeypatch.setenv("CSMS_UNKNOWN_CHARGEPOINTS", "accept")
    monkeypatch.setenv("CSMS_WS_COMPRESSION", "true")
    monkeypatch.setenv("CSMS_LOG_LEVEL", "DEBUG")
    s = load_settings()
    assert s.gateway_port == 9443
    assert s.unknown_chargepoints is UnknownChargePointPolicy.ACCEPT
    assert s.ws_compression is True
    assert s.log_level == "DEBUG"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CSMS_API_PORT=8123\n")
    assert load_settings().api_port == 8123


def test_get_settings_reads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("CSMS_API_PORT", "8124")
    assert get_settings() is first


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CSMS_GATEWAY_PORT", "notaport"),
        ("CSMS_GATEWAY_PORT", "70000"),
        ("CSMS_GATEWAY_PORT", "0"),
        ("CSMS_UNKNOWN_CHARGEPOINTS", "maybe"),
        ("CSMS_ENV", "staging"),
        ("CSMS_LOG_FORMAT", "xml"),
        ("CSMS_UPSTREAM_CALL_TIMEOUT", "-1"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert variable in message
    assert repr(value) in message
    assert info.value.code == message  # SystemExit prints it and exits 1


def test_every_bad_variable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_GATEWAY_PORT", "notaport")
    monkeypatch.setenv("CSMS_API_PORT", "70000")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "CSMS_GATEWAY_PORT" in str(info.value)
    assert "CSMS_API_PORT" in str(info.value)


def test_health_port_zero_means_disabled_and_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_REGISTRY_HEALTH_PORT", "0")
    assert load_settings().registry_health_port == 0


@pytest.mark.parametrize(
    ("password", "secret", "refused"),
    [
        (None, None, "CSMS_ADMIN_PASSWORD"),
        ("a-real-password", None, "CSMS_JWT_SECRET"),
        (None, "a-real-secret-a-real-secret-a-real-secret", "CSMS_ADMIN_PASSWORD"),
        (DEV_ADMIN_PASSWORD, "a-real-secret", "CSMS_ADMIN_PASSWORD"),
        ("a-real-password", DEV_JWT_SECRET, "CSMS_JWT_SECRET"),
    ],
)
def test_production_refuses_development_secrets(
    monkeypatch: pytest.MonkeyPatch, password: str | None, secret: str | None, refused: str
) -> None:
    monkeypatch.setenv("CSMS_ENV", "production")
    if password is not None:
        monkeypatch.setenv("CSMS_ADMIN_PASSWORD", password)
    if secret is not None:
        monkeypatch.setenv("CSMS_JWT_SECRET", secret)
    with pytest.raises(SettingsError, match=refused):
        load_settings()


def test_production_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_ENV", "production")
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "a-real-password")
    monkeypatch.setenv("CSMS_JWT_SECRET", "a-real-secret-a-real-secret-a-real-secret")
    s = load_settings()
    assert s.env is Environment.PRODUCTION
    assert "a-real-password" not in repr(s)  # secrets are masked


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_defaults_allowed_outside_production(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("CSMS_ENV", env)
    assert isinstance(load_settings(), Settings)


def _csms(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["registry", "gateway", "run", "migrate"])
@pytest.mark.parametrize("value", ["notaport", "70000"])
def test_cli_exits_with_the_variable_named_and_no_traceback(
    tmp_path: Path, command: str, value: str
) -> None:
    result = _csms([command], {"CSMS_GATEWAY_PORT": value}, tmp_path)
    assert result.returncode != 0
    assert "CSMS_GATEWAY_PORT" in result.stderr
    assert value in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_refuses_production_defaults_without_traceback(tmp_path: Path) -> None:
    result = _csms(["api"], {"CSMS_ENV": "production"}, tmp_path)
    assert result.returncode != 0
    assert "CSMS_ADMIN_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr


def test_short_jwt_secret_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_ENV", "production")
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "a-real-password")
    monkeypatch.setenv("CSMS_JWT_SECRET", "x" * 31)
    with pytest.raises(SettingsError, match="CSMS_JWT_SECRET must be at least 32 bytes") as info:
        load_settings()
    assert "x" * 31 not in str(info.value)
    monkeypatch.setenv("CSMS_JWT_SECRET", "x" * 32)
    assert load_settings().env is Environment.PRODUCTION


def test_invalid_settings_never_echo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # A model-level error (here: production defaults) and a field error together; the message
    # names the variables but shows neither the URLs' passwords nor the secrets.
    monkeypatch.setenv("CSMS_ENV", "production")
    monkeypatch.setenv("CSMS_DATABASE_URL", "postgresql+asyncpg://csms:db-s3cret@db/csms")
    monkeypatch.setenv("CSMS_AMQP_URL", "amqp://csms:mq-s3cret@mq/")
    monkeypatch.setenv("CSMS_JWT_SECRET", "jwt-s3cret")
    monkeypatch.setenv("CSMS_ADMIN_PASSWORD", "admin-s3cret")
    monkeypatch.setenv("CSMS_DATABASE_POOL_SIZE", "many")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "CSMS_DATABASE_POOL_SIZE" in message
    for secret in ("db-s3cret", "mq-s3cret", "jwt-s3cret", "admin-s3cret"):
        assert secret not in message


def test_redacted_dump_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_DATABASE_URL", "postgresql+asyncpg://csms:db-s3cret@db/csms")
    monkeypatch.setenv("CSMS_AMQP_URL", "amqp://csms:mq-s3cret@mq/")
    monkeypatch.setenv("CSMS_JWT_SECRET", "jwt-s3cret-jwt-s3cret-jwt-s3cret-jwt")
    s = load_settings()
    dumped = s.redacted()
    assert dumped["database_url"] == "postgresql+asyncpg://csms:<redacted>@db/csms"
    assert dumped["amqp_url"] == "amqp://csms:<redacted>@mq/"
    assert dumped["jwt_secret"] == dumped["admin_password"] == "<redacted>"
    for text in (repr(s), str(s), str(dumped)):
        for secret in ("db-s3cret", "mq-s3cret", "jwt-s3cret"):
            assert secret not in text


def test_tls_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    monkeypatch.setenv("CSMS_GATEWAY_TLS_CERT", str(cert))
    with pytest.raises(SettingsError, match="go together"):
        load_settings()
    # Files are not looked at here: only the gateway's container may have them mounted (the
    # gateway refuses to start without them, services/gateway/main.py).
    monkeypatch.setenv("CSMS_GATEWAY_TLS_KEY", str(tmp_path / "missing.pem"))
    assert load_settings().gateway_tls_key == str(tmp_path / "missing.pem")
    monkeypatch.setenv("CSMS_GATEWAY_TLS_KEY", str(key))
    monkeypatch.setenv("CSMS_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1")
    s = load_settings()
    assert s.gateway_tls and s.gateway_tls_port == 9443
    monkeypatch.setenv("CSMS_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,nonsense")
    with pytest.raises(SettingsError, match="CSMS_GATEWAY_TRUSTED_PROXIES"):
        load_settings()
