"""`csms charging`: placeholder until the charging service is written."""

from __future__ import annotations

import logging
import signal
import threading

from shared.logging import configure_logging
from shared.settings import get_settings


def main() -> None:
    """Log that the service is not implemented yet and wait for SIGTERM/SIGINT."""
    settings = get_settings()
    configure_logging("charging", settings.log_level, settings.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logging.getLogger("services.charging").warning("charging: not implemented yet")
    stop.wait()
