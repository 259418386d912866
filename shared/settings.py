"""The one settings object: every `CSMS_*` environment variable, read once."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_ADMIN_PASSWORD = "admin-change-me"  # development default, refused elsewhere
DEV_JWT_SECRET = "dev-jwt-secret-change-me-0123456789abcdef"
MIN_JWT_SECRET_BYTES = 32
"""HS256 keys shorter than the hash (RFC 7518 3.2) are refused outside development and test."""
REDACTED = "<redacted>"
SECRET_FIELDS = frozenset({"admin_password", "jwt_secret"})
URL_FIELDS = frozenset({"database_url", "amqp_url"})
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@")


def redact_url(url: str) -> str:
    """A URL with the password of its userinfo replaced (`amqp://guest:<redacted>@host/`)."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}@", url)


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
    # Gateway processes sharing the gateway's ports (SO_REUSEPORT): `csms gateway` starts this
    # many, node ids `<node id>-<n>`; each holds its own sockets and command queue.
    gateway_processes: int = Field(default=1, ge=1, le=64)
    # Listen with SO_REUSEPORT (set for the processes above; set it yourself to run several
    # `csms gateway` on one port under another supervisor, each with its own node id).
    gateway_reuse_port: bool = False
    # TLS terminated by the gateway (security profiles 2 and 3; services/gateway/tls.py).
    gateway_tls_cert: str | None = None
    gateway_tls_key: str | None = None
    gateway_tls_ca: str | None = None
    gateway_tls_port: int = Field(default=9443, ge=0, le=65535)
    gateway_tls_reload_interval: float = Field(default=10.0, gt=0, le=86400)
    # Proxies whose forwarded client certificate headers are believed (comma-separated CIDRs).
    gateway_trusted_proxies: str = ""
    # Profile 3: the subject O a client certificate must carry (unset: CN only).
    gateway_client_cert_organization: str | None = None
    # Certificates the CSMS issues (shared/ca.py, docs/security.md): the built-in CA's
    # certificate and key files, how long what it signs is valid, or another signer's factory.
    ca_cert: str | None = None
    ca_key: str | None = None
    ca_validity_days: int = Field(default=365, ge=1, le=3650)
    ca_signer: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    # GetCertificateStatus (2.0.1 M06): the OCSP request's timeout; Get15118EVCertificate and
    # GetCertificateStatus providers (`package.module:factory`, unset: the built-in one).
    ocsp_timeout: float = Field(default=5.0, gt=0, le=60)
    # The responder URL comes from the charge point: private addresses only when allowed
    # (shared/ssrf.py).
    ocsp_allow_private_responders: bool = False
    certificate_provider: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    # Brute-force back-off (shared/backoff.py): failures of one identity from one address
    # before it waits, and the longest wait.
    auth_failures_before_backoff: int = Field(default=5, ge=1, le=1000)
    auth_backoff_max_seconds: float = Field(default=60.0, ge=1, le=3600)
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
    # After the first Accepted boot of a 2.0.1 station, ask it for GetBaseReport(FullInventory)
    # once (services/registry/base_report.py), so its device model is known.
    registry_base_report_on_first_boot: bool = True
    # The version of a websocket handshake without Sec-WebSocket-Protocol ("" = refuse it).
    default_ocpp_version: Literal["", "ocpp1.6", "ocpp2.0.1"] = "ocpp1.6"

    # The gateway answers Heartbeat itself and sends last-seen to the registry every this many
    # seconds, one message for all its charge points (services/gateway/heartbeats.py); 0:
    # each Heartbeat is published and answered after the broker's confirm.
    gateway_heartbeat_batch_seconds: float = Field(default=1.0, ge=0, le=60)
    # Fire-and-forget CALLs of all sockets go out together, several envelopes per broker
    # message and confirm, at most this many messages in flight (services/gateway/batching.py);
    # 0: one publish per CALL.
    gateway_batch_in_flight: int = Field(default=2, ge=0, le=64)

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
    # Seconds between two sweeps that mark reservations past their expiry date Expired.
    reservation_expiry_interval: float = Field(default=10.0, gt=0, le=3600)

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
    webhooks_dead_letter_retention_days: float = Field(default=30.0, gt=0, le=3650)
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

    @field_validator(
        "gateway_tls_cert",
        "gateway_tls_key",
        "gateway_tls_ca",
        "gateway_client_cert_organization",
        "ca_cert",
        "ca_key",
        "ca_signer",
        "certificate_provider",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("gateway_trusted_proxies")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for item in value.replace(";", ",").split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"not an IP address or CIDR: {item.strip()[:60]!r}") from None
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.gateway_tls_cert is None) != (self.gateway_tls_key is None):
            raise ValueError("CSMS_GATEWAY_TLS_CERT and CSMS_GATEWAY_TLS_KEY go together")
        if (self.ca_cert is None) != (self.ca_key is None):
            raise ValueError("CSMS_CA_CERT and CSMS_CA_KEY go together")
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            for name, value, default in (
                ("CSMS_ADMIN_PASSWORD", self.admin_password, DEV_ADMIN_PASSWORD),
                ("CSMS_JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET),
            ):
                if value.get_secret_value() == default:
                    raise ValueError(f"{name} still holds its development default")
        if (
            self.env not in (Environment.DEVELOPMENT, Environment.TEST)
            and len(self.jwt_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES
        ):
            raise ValueError(
                f"CSMS_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes in {self.env.value}"
            )
        return self

    @property
    def gateway_tls(self) -> bool:
        """Whether the gateway terminates TLS itself (a second, wss:// listener)."""
        return self.gateway_tls_cert is not None

    def redacted(self) -> dict[str, Any]:
        """Every setting, secrets and URL passwords replaced: safe to log or print."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            if name in SECRET_FIELDS:
                out[name] = REDACTED
            elif name in URL_FIELDS and isinstance(value, str):
                out[name] = redact_url(value)
            else:
                out[name] = value
        return out

    def __repr_args__(self) -> Any:  # repr() / str(): never the URL passwords
        for name, value in super().__repr_args__():
            if name in URL_FIELDS and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value


class SettingsError(SystemExit):
    """Raised at start when the environment holds an invalid setting."""


def format_validation_error(exc: ValidationError) -> str:
    """One line per bad setting, named by its environment variable."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        name = f"CSMS_{field.upper()}" if field else "settings"
        lines.append(f"{name}: {err['msg']}{_shown_input(field, err.get('input'))}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _shown_input(field: str, value: object) -> str:
    """The rejected value, when it can be shown: never a secret, a URL's password, nor the
    whole environment (a model-level error's input is every setting)."""
    if not field or field in SECRET_FIELDS:
        return ""
    if field in URL_FIELDS and isinstance(value, str):
        return f" (got {redact_url(value)!r})"
    if isinstance(value, dict | list):
        return ""
    return f" (got {value!r})"


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
