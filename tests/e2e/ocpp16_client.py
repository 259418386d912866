"""A charge point played by the `ocpp` library's client role, for end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from ssl import SSLContext
from typing import Any

import websockets
from ocpp.v16 import ChargePoint, call


def now() -> str:
    """UTC now as an OCPP timestamp."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Client(ChargePoint):  # type: ignore[misc]
    """The library's charge point; helpers for the calls a session makes."""

    async def send(self, payload: Any) -> Any:
        """Call and raise on CALLERROR (the library swallows it unless suppress=False)."""
        return await self.call(payload, suppress=False)

    async def boot(self) -> Any:
        return await self.send(
            call.BootNotification(charge_point_vendor="E2E", charge_point_model="Model-1")
        )

    async def status(self, connector: int, status: str = "Available") -> Any:
        return await self.send(
            call.StatusNotification(
                connector_id=connector, error_code="NoError", status=status, timestamp=now()
            )
        )

    async def authorize(self, tag: str) -> Any:
        return await self.send(call.Authorize(id_tag=tag))

    async def start_tx(
        self, tag: str, connector: int = 1, meter: int = 0, ts: str | None = None
    ) -> Any:
        return await self.send(
            call.StartTransaction(
                connector_id=connector, id_tag=tag, meter_start=meter, timestamp=ts or now()
            )
        )

    async def meter(self, tx: int, wh: int, connector: int = 1) -> Any:
        return await self.send(
            call.MeterValues(
                connector_id=connector,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": now(),
                        "sampled_value": [
                            {
                                "value": str(wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            )
        )

    async def stop_tx(self, tx: int, wh: int, reason: str = "Local") -> Any:
        return await self.send(
            call.StopTransaction(transaction_id=tx, meter_stop=wh, timestamp=now(), reason=reason)
        )


@asynccontextmanager
async def connected(
    ws_url: str,
    cp_id: str,
    cls: type[Client] = Client,
    headers: dict[str, str] | None = None,
    ssl: SSLContext | None = None,
) -> AsyncIterator[Any]:
    """A connected charge point whose message loop runs while the block runs.

    `headers`: extra headers of the upgrade request (`Authorization: Basic ...`); `ssl`: the
    TLS context of a `wss://` URL (trusted CA, client certificate).
    """
    async with websockets.connect(
        f"{ws_url}/{cp_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=ssl,
    ) as ws:
        client = cls(cp_id, ws)
        task = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            task.cancel()
