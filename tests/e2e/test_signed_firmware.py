"""Signed firmware and security logs end to end (issue 13 B): 1.6 SignedUpdateFirmware and
GetLog (security whitepaper) and 2.0.1 UpdateFirmware with a signature reach the station as
sent; the SignedFirmwareStatusNotification / LogStatusNotification / FirmwareStatusNotification
it sends back are stored (the charge point's latest firmware and log statuses)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e import ocpp16_client
from tests.e2e.test_certificates import Station201, connected201
from tests.e2e.test_ocpp16_commands import command
from tests.e2e.test_ocpp16_session import eventually
from tests.fixtures.pki import make_ca, make_leaf

pytestmark = [pytest.mark.e2e]

SIGNER = make_leaf(make_ca("Firmware Signing CA"), "Firmware Signer")
SIGNING_CERTIFICATE = SIGNER.cert_pem.decode()
SIGNATURE = "MEUCIQDu3Zl+example+signature+base64+AiBv3Q=="


class Firmware16(ocpp16_client.Client):
    """Answers SignedUpdateFirmware and GetLog, then reports their progress."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.background: set[asyncio.Task[Any]] = set()

    def _later(self, payload: Any) -> None:
        async def send() -> None:
            await asyncio.sleep(0.05)  # after our answer went out
            await self.send(payload)

        task = asyncio.create_task(send())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    @on(Action16.signed_update_firmware)
    async def on_signed_update(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        self.got.append(("SignedUpdateFirmware", {"request_id": request_id, **firmware}))
        # The signature does not verify with the signing certificate: the station says so.
        self._later(
            call16.SignedFirmwareStatusNotification(
                status="InvalidSignature", request_id=request_id
            )
        )
        return result16.SignedUpdateFirmware(status="Accepted")

    @on(Action16.get_log)
    async def on_get_log(
        self, log: dict[str, Any], log_type: str, request_id: int, **_: Any
    ) -> Any:
        self.got.append(("GetLog", {"log_type": log_type, "request_id": request_id, **log}))
        self._later(call16.LogStatusNotification(status="Uploaded", request_id=request_id))
        return result16.GetLog(status="Accepted", filename="security.log")


class Firmware201(Station201):
    """A 2.0.1 station that reports an invalid firmware signature."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.firmware: list[dict[str, Any]] = []

    @on(Action201.update_firmware)
    async def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        self.firmware.append({"request_id": request_id, **firmware})

        async def report() -> None:
            await asyncio.sleep(0.05)
            await self.send(
                call201.FirmwareStatusNotification(status="InvalidSignature", request_id=request_id)
            )

        task = asyncio.create_task(report())
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return result201.UpdateFirmware(status="Accepted")


async def test_16_signed_update_firmware_and_get_log(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP16-FW-1"
    async with ocpp16_client.connected(stack.ws_url, cp_id, cls=Firmware16) as cp:
        await cp.boot()
        sent = await command(
            api,
            cp_id,
            "signed-update-firmware",
            {
                "request_id": 41,
                "firmware": {
                    "location": "https://fw.example.com/1.3.bin",
                    "retrieve_date_time": "2030-01-01T00:00:00Z",
                    "signing_certificate": SIGNING_CERTIFICATE,
                    "signature": SIGNATURE,
                },
            },
        )
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"status": "Accepted"}
        await eventually(
            db_engine,
            "select firmware_status from chargepoint where chargepoint_id = :cp",
            "InvalidSignature",
            cp=cp_id,
        )
        log = await command(
            api,
            cp_id,
            "get-log",
            {
                "log_type": "SecurityLog",
                "request_id": 42,
                "log": {"remote_location": "https://logs.example.com/upload"},
            },
        )
        assert log.status_code == 200, log.text
        assert log.json() == {"status": "Accepted", "filename": "security.log"}
        await eventually(
            db_engine,
            "select diagnostics_status from chargepoint where chargepoint_id = :cp",
            "Uploaded",
            cp=cp_id,
        )
    assert cp.got == [
        (
            "SignedUpdateFirmware",
            {
                "request_id": 41,
                "location": "https://fw.example.com/1.3.bin",
                "retrieve_date_time": "2030-01-01T00:00:00+00:00",  # the API sends UTC so
                "signing_certificate": SIGNING_CERTIFICATE,
                "signature": SIGNATURE,
            },
        ),
        (
            "GetLog",
            {
                "log_type": "SecurityLog",
                "request_id": 42,
                "remote_location": "https://logs.example.com/upload",
            },
        ),
    ]
    got = await api.get(f"/api/v1/chargepoints/{cp_id}")
    assert (got.json()["firmware_status"], got.json()["diagnostics_status"]) == (
        "InvalidSignature",
        "Uploaded",
    )


async def test_201_update_firmware_with_a_signature(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP201-FW-1"
    async with connected201(stack.ws_url, cp_id, cls=Firmware201) as cp:
        await cp.boot()
        sent = await command(
            api,
            cp_id,
            "update-firmware",
            {
                "request_id": 43,
                "firmware": {
                    "location": "https://fw.example.com/2.1.bin",
                    "retrieve_date_time": "2030-01-01T00:00:00Z",
                    "signing_certificate": SIGNING_CERTIFICATE,
                    "signature": SIGNATURE,
                },
            },
        )
        assert sent.status_code == 200, sent.text
        await eventually(
            db_engine,
            "select firmware_status from chargepoint where chargepoint_id = :cp",
            "InvalidSignature",
            cp=cp_id,
        )
    assert cp.firmware == [
        {
            "request_id": 43,
            "location": "https://fw.example.com/2.1.bin",
            "retrieve_date_time": "2030-01-01T00:00:00+00:00",
            "signing_certificate": SIGNING_CERTIFICATE,
            "signature": SIGNATURE,
        }
    ]
