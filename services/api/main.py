"""`csms api`: serve the REST API with uvicorn (uvloop)."""

from __future__ import annotations

import uvicorn

from services.api.app import create_app
from shared.logging import configure_logging
from shared.settings import get_settings


def main() -> None:
    """Run the API on CSMS_API_HOST:CSMS_API_PORT until SIGINT/SIGTERM."""
    settings = get_settings()
    configure_logging("api", settings.log_level, settings.log_format)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
