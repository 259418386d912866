"""The one settings object: every `CSMS_*` environment variable, read once."""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ADMIN_PASSWORD = "admin-change-me"  # development default, refused elsewhere
DEV_JWT_SECRET = "dev-jwt-secret-change-me-0123456789abcdef"


class Environment(StrEnum):
    """Where the system runs; development allows the default secrets."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class UnknownChargePointPolicy(StrEnum):
    """What a BootNotification from an id nobody provisioned gets."""

    PENDING = "pending"
    ACCEPT = "accept"
    REJECT = "reject"


def _default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    """Configuration of every service; see the table in README.md."""

    model_config = SettingsConfigDict(
        env_prefix="CSMS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/csms"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"

    gateway_host: str = "0.0.0.0"  # a server listens on all interfaces
    gateway_port: int = Field(default=9000, ge=1, le=65535)
    gateway_node_id: str = Field(default_factory=_default_node_id, min_length=1, max_length=200)
    api_host: str = "0.0.0.0"
    api_port: int = Field(default=8000, ge=1, le=65535)
    registry_health_port: int = Field(default=9101, ge=0, le=65535)
    transactions_health_port: int = Field(default=9102, ge=0, le=65535)
    charging_health_port: int = Field(default=9103, ge=0, le=65535)
    webhooks_health_port: int = Field(default=9104, ge=0, le=65535)

    heartbeat_interval: int = Field(default=300, ge=1, le=86400)
    upstream_call_timeout: float = Field(default=10.0, gt=0, le=300)
    command_timeout: float = Field(default=30.0, gt=0, le=600)
    unknown_chargepoints: UnknownChargePointPolicy = UnknownChargePointPolicy.PENDING
    # The version of a websocket handshake without Sec-WebSocket-Protocol ("" = refuse it).
    default_ocpp_version: Literal["", "ocpp1.6", "ocpp2.0.1"] = "ocpp1.6"

    ws_max_frame_size: int = Field(default=1_048_576, ge=1024)
    ws_send_queue_size: int = Field(default=64, ge=1)
    ws_ping_interval: float = Field(default=60.0, gt=0)
    ws_ping_timeout: float = Field(default=60.0, gt=0)
    ws_compression: bool = False

    # Transactions (services/transactions/README.md): the limit of open transactions new id
    # tags get (None = unlimited, what the OCA conformance test cases expect), and how long a
    # connector reported Available may hold an open transaction before it is closed Stale.
    default_max_active_transactions: int | None = Field(default=None, ge=1, le=1000)
    stale_transaction_grace: float = Field(default=120.0, ge=0, le=86400)

    consumer_prefetch: int = Field(default=200, ge=1, le=10000)
    consumer_max_redeliveries: int = Field(default=5, ge=1, le=1000)

    # Public events (docs/events.md): throttles, the outbox relay, retention, the stream.
    events_update_interval: float = Field(default=60.0, ge=0, le=86400)
    events_meter_values_interval: float = Field(default=60.0, ge=0, le=86400)
    events_relay_interval: float = Field(default=0.25, gt=0, le=60)
    events_retention_hours: float = Field(default=72.0, gt=0, le=24 * 365)
    events_stream_heartbeat: float = Field(default=15.0, gt=0, le=3600)
    events_stream_buffer: int = Field(default=1000, ge=1, le=1_000_000)
    events_stream_poll_interval: float = Field(default=0.5, gt=0, le=60)
    # Webhooks (docs/events.md): delivery timeout, retries, auto-disable, SSRF guard.
    webhooks_timeout: float = Field(default=10.0, gt=0, le=300)
    webhooks_retry_base: float = Field(default=10.0, gt=0, le=3600)
    webhooks_retry_max_delay: float = Field(default=3600.0, gt=0, le=86400)
    webhooks_retry_window_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    webhooks_disable_after: int = Field(default=50, ge=1, le=100_000)
    webhooks_endpoint_concurrency: int = Field(default=4, ge=1, le=100)
    webhooks_allow_private_targets: bool = False

    admin_email: str = "admin@example.com"
    admin_password: SecretStr = SecretStr(DEV_ADMIN_PASSWORD)
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_ttl_seconds: int = Field(default=3600, ge=60)
    media_dir: str = "media"
    max_upload_bytes: int = Field(default=2_097_152, ge=1024)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("default_max_active_transactions", mode="before")
    @classmethod
    def _empty_is_unlimited(cls, value: object) -> object:
        """`CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS=` (set but empty) means unlimited too."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            for name, value, default in (
                ("CSMS_ADMIN_PASSWORD", self.admin_password, DEV_ADMIN_PASSWORD),
                ("CSMS_JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET),
            ):
                if value.get_secret_value() == default:
                    raise ValueError(f"{name} still holds its development default")
        return self


class SettingsError(SystemExit):
    """Raised at start when the environment holds an invalid setting."""


def format_validation_error(exc: ValidationError) -> str:
    """One line per bad setting, named by its environment variable."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        name = f"CSMS_{field.upper()}" if field else "settings"
        lines.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings() -> Settings:
    """Read the environment; exit with a message naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
