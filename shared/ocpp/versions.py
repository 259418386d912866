"""The OCPP versions, named as the websocket subprotocol and `Envelope.ocpp_version` say."""

from __future__ import annotations

from typing import Final

OCPP16: Final = "ocpp1.6"
OCPP201: Final = "ocpp2.0.1"

PACKAGES: Final = {OCPP16: "v16", OCPP201: "v201"}
"""Version -> the package of its generated models (`shared.ocpp.v16`)."""
