"""Structured logging: JSON lines (or console) with charge point, unique and correlation ids."""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

chargepoint_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "chargepoint_id", default=None
)
unique_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "unique_id", default=None
)
correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

_CONTEXT = (
    ("chargepoint_id", chargepoint_id_var),
    ("unique_id", unique_id_var),
    ("correlation_id", correlation_id_var),
)
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; context ids and `extra=` fields become keys."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in _CONTEXT:
            value = var.get()
            if value is not None:
                data[key] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines with the context ids appended."""

    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s " + service + " %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = " ".join(f"{k}={v.get()}" for k, v in _CONTEXT if v.get() is not None)
        return f"{line} [{ctx}]" if ctx else line


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Send every log record to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter(service) if fmt == "json" else ConsoleFormatter(service)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiormq", "aio_pika", "websockets.server"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
