"""Certificates end to end (issue 13 B): SignCertificate -> CertificateSigned with the built-in
CA (the stack's test CA, `CSMS_CA_CERT`/`_KEY`), for 2.0.1 and 1.6 stations played by the
`ocpp` library over the real gateway; refusals as security events; the renewal trigger;
InstallCertificate / GetInstalledCertificateIds / DeleteCertificate and their stored effects;
GetCertificateStatus against an OCSP responder run in the test; Get15118EVCertificate."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from shared.ca import hash_data
from tests.e2e import ocpp16_client
from tests.e2e.conftest import StackPki
from tests.e2e.test_ocpp16_commands import command
from tests.e2e.test_ocpp16_session import eventually, rows
from tests.fixtures.ocsp import running_responder
from tests.fixtures.pki import client_context, make_ca, make_csr, make_leaf, tampered_csr
from tests.patience import wait_for, wait_for_async

pytestmark = [pytest.mark.e2e]


class Station201(ChargePoint201):  # type: ignore[misc]
    """A 2.0.1 station that keeps what the CSMS sends it and answers certificate commands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chains: list[dict[str, Any]] = []
        self.triggered: list[str] = []
        self.installed: list[dict[str, Any]] = []
        self.csr_key: Any = None
        self.background: set[asyncio.Task[Any]] = set()

    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)

    async def boot(self) -> Any:
        return await self.send(
            call201.BootNotification(
                charging_station={"model": "Cert-201", "vendor_name": "E2E"}, reason="PowerUp"
            )
        )

    async def sign(self, csr: str) -> Any:
        return await self.send(
            call201.SignCertificate(csr=csr, certificate_type="ChargingStationCertificate")
        )

    async def _sign_own(self) -> None:
        await asyncio.sleep(0.05)  # after our TriggerMessage answer went out
        csr, self.csr_key = make_csr(self.id)
        await self.sign(csr)

    @on(Action201.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, **kw: Any) -> Any:
        self.chains.append({"certificate_chain": certificate_chain, **kw})
        return result201.CertificateSigned(status="Accepted")

    @on(Action201.trigger_message)
    async def on_trigger(self, requested_message: str, **_: Any) -> Any:
        self.triggered.append(requested_message)
        if requested_message == "SignChargingStationCertificate":
            task = asyncio.create_task(self._sign_own())
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        return result201.TriggerMessage(status="Accepted")

    @on(Action201.install_certificate)
    async def on_install(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        self.installed.append({"certificate_type": certificate_type, "certificate": certificate})
        return result201.InstallCertificate(status="Accepted")

    @on(Action201.get_installed_certificate_ids)
    async def on_get_ids(self, **_: Any) -> Any:
        chain = []
        for item in self.installed:
            cert = x509.load_pem_x509_certificate(item["certificate"].encode())
            data = hash_data(cert, cert.public_key())
            chain.append(
                {
                    "certificate_type": item["certificate_type"],
                    "certificate_hash_data": {
                        "hash_algorithm": data["hashAlgorithm"],
                        "issuer_name_hash": data["issuerNameHash"],
                        "issuer_key_hash": data["issuerKeyHash"],
                        "serial_number": data["serialNumber"],
                    },
                }
            )
        if not chain:
            return result201.GetInstalledCertificateIds(status="NotFound")
        return result201.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data_chain=chain
        )

    @on(Action201.delete_certificate)
    async def on_delete(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        serial = certificate_hash_data["serial_number"]
        before = len(self.installed)
        self.installed = [
            i
            for i in self.installed
            if format(x509.load_pem_x509_certificate(i["certificate"].encode()).serial_number, "x")
            != serial
        ]
        return result201.DeleteCertificate(
            status="Accepted" if len(self.installed) < before else "NotFound"
        )


class Station16(ocpp16_client.Client):
    """A 1.6 charge point with the security whitepaper's certificate messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chains: list[str] = []
        self.triggered: list[str] = []
        self.background: set[asyncio.Task[Any]] = set()

    async def _sign_own(self) -> None:
        await asyncio.sleep(0.05)
        csr, _ = make_csr(self.id)
        await self.send(call16.SignCertificate(csr=csr))

    @on(Action16.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, **_: Any) -> Any:
        self.chains.append(certificate_chain)
        return result16.CertificateSigned(status="Accepted")

    @on(Action16.extended_trigger_message)
    async def on_extended_trigger(self, requested_message: str, **_: Any) -> Any:
        self.triggered.append(requested_message)
        if requested_message == "SignChargePointCertificate":
            task = asyncio.create_task(self._sign_own())
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        return result16.ExtendedTriggerMessage(status="Accepted")


@asynccontextmanager
async def connected201(
    url: str, cp_id: str, ssl: Any = None, cls: type[Station201] = Station201
) -> AsyncIterator[Station201]:
    async with websockets.connect(
        f"{url}/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        ssl=ssl,
    ) as ws:
        station = cls(cp_id, ws)
        task = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            task.cancel()


def verify_chain(pem: str, ca: x509.Certificate, cp_id: str) -> x509.Certificate:
    """The leaf of a CertificateSigned chain, checked: issued by `ca`, CN = `cp_id`."""
    chain = x509.load_pem_x509_certificates(pem.encode())
    leaf = chain[0]
    leaf.verify_directly_issued_by(ca)
    assert chain[-1] == ca
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cp_id
    return leaf


async def test_201_sign_certificate_is_answered_with_a_chain_that_serves_profile_3(
    stack: Stack,
    stack_pki: StackPki,
    api: httpx.AsyncClient,
    db_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    cp_id = "CP201-CERT-1"
    async with connected201(stack.ws_url, cp_id) as cp:
        await cp.boot()
        csr, key = make_csr(cp_id)
        answer = await cp.sign(csr)
        assert answer.status == "Accepted"
        await wait_for(lambda: len(cp.chains) == 1)
        signed = cp.chains[0]
        assert signed["certificate_type"] == "ChargingStationCertificate"
        leaf = verify_chain(signed["certificate_chain"], stack_pki.ca.cert, cp_id)
        assert leaf.public_key() == key.public_key()
        serial = format(leaf.serial_number, "x")
        await eventually(
            db_engine,
            "select status from issued_certificate where chargepoint_id = :cp",
            "installed",
            cp=cp_id,
        )
    [row] = await rows(
        db_engine,
        "select serial_number, not_after, command_id from issued_certificate "
        "where chargepoint_id = :cp",
        cp=cp_id,
    )
    assert row["serial_number"] == serial
    assert row["not_after"] == leaf.not_valid_after_utc
    [log] = await rows(
        db_engine,
        "select action, outcome, response from command_log where id = :id",
        id=row["command_id"],
    )
    assert log == {
        "action": "CertificateSigned",
        "outcome": "result",
        "response": {"status": "Accepted"},
    }
    listed = await api.get(f"/api/v1/chargepoints/{cp_id}/certificates")
    assert listed.status_code == 200, listed.text
    assert [(c["status"], c["serial_number"]) for c in listed.json()["issued"]] == [
        ("installed", serial)
    ]

    # The station uses it: profile 3 over wss:// with the issued certificate and its key.
    cert_path, key_path = tmp_path / "cp.pem", tmp_path / "cp.key"
    cert_path.write_text(signed["certificate_chain"])
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ssl = client_context(stack_pki.ca_file, (cert_path, key_path))
    async with connected201(stack.wss_url, cp_id, ssl=ssl) as cp:
        assert (await cp.boot()).status == "Accepted"


@pytest.mark.parametrize(
    ("csr", "reason"),
    [
        (make_csr("CP201-OTHER")[0], "subject CN 'CP201-OTHER' is not the charge point id"),
        (tampered_csr("CP201-CERT-2"), "signature does not verify"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n", "PEM"),
    ],
    ids=["wrong-cn", "bad-signature", "garbage"],
)
async def test_201_bad_csrs_are_rejected_and_recorded(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, csr: str, reason: str
) -> None:
    cp_id = "CP201-CERT-2"
    async with connected201(stack.ws_url, cp_id) as cp:
        await cp.boot()
        answer = await cp.sign(csr)
        assert answer.status == "Rejected"
        assert answer.status_info["reason_code"] == "InvalidCSR"
        assert reason in answer.status_info["additional_info"]
    events = await api.get(
        "/api/v1/security-events", params={"chargepoint_id": cp_id, "type": "InvalidCsr"}
    )
    assert events.status_code == 200, events.text
    [event] = events.json()["items"]
    assert event["source"] == "csms"
    assert reason in event["tech_info"]
    assert not await rows(
        db_engine, "select 1 from issued_certificate where chargepoint_id = :cp", cp=cp_id
    )
    assert not cp.chains


async def test_201_renewal_triggers_a_sign_certificate_and_a_new_certificate(
    stack: Stack, stack_pki: StackPki, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP201-CERT-3"
    async with connected201(stack.ws_url, cp_id) as cp:
        await cp.boot()
        renewal = await api.post(f"/api/v1/chargepoints/{cp_id}/certificate-renewal")
        assert renewal.status_code == 200, renewal.text
        assert renewal.json() == {"status": "Accepted"}
        assert cp.triggered == ["SignChargingStationCertificate"]
        await wait_for(lambda: len(cp.chains) == 1)
        leaf = verify_chain(cp.chains[0]["certificate_chain"], stack_pki.ca.cert, cp_id)
        assert leaf.public_key() == cp.csr_key.public_key()
        await eventually(
            db_engine,
            "select status from issued_certificate where chargepoint_id = :cp",
            "installed",
            cp=cp_id,
        )


async def test_16_sign_certificate_renewal_and_refusal(
    stack: Stack, stack_pki: StackPki, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP16-CERT-1"
    async with ocpp16_client.connected(stack.ws_url, cp_id, cls=Station16) as cp:
        await cp.boot()
        # Station-initiated.
        csr, key = make_csr(cp_id)
        assert (await cp.send(call16.SignCertificate(csr=csr))).status == "Accepted"
        await wait_for(lambda: len(cp.chains) == 1)
        leaf = verify_chain(cp.chains[0], stack_pki.ca.cert, cp_id)
        assert leaf.public_key() == key.public_key()
        # CSMS-initiated: ExtendedTriggerMessage SignChargePointCertificate.
        renewal = await api.post(f"/api/v1/chargepoints/{cp_id}/certificate-renewal")
        assert renewal.status_code == 200, renewal.text
        assert cp.triggered == ["SignChargePointCertificate"]
        await wait_for(lambda: len(cp.chains) == 2)
        verify_chain(cp.chains[1], stack_pki.ca.cert, cp_id)
        await eventually(
            db_engine,
            "select count(*) from issued_certificate where chargepoint_id = :cp "
            "and status = 'installed'",
            2,
            cp=cp_id,
        )
        # Refused: another station's CN.
        other = make_csr("CP16-SOMEONE-ELSE")[0]
        assert (await cp.send(call16.SignCertificate(csr=other))).status == "Rejected"
    events = await rows(
        db_engine,
        "select source, tech_info from security_event where chargepoint_id = :cp "
        "and type = 'InvalidCsr'",
        cp=cp_id,
    )
    assert len(events) == 1
    assert "CP16-SOMEONE-ELSE" in events[0]["tech_info"]
    assert len(cp.chains) == 2


async def test_201_install_get_ids_and_delete_keep_the_installed_certificates(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP201-CERT-4"
    root = make_ca("Some CSMS Root")
    pem = root.cert_pem.decode()
    data = hash_data(root.cert, root.cert.public_key())
    async with connected201(stack.ws_url, cp_id) as cp:
        await cp.boot()
        installed = await command(
            api,
            cp_id,
            "install-certificate",
            {"certificate_type": "CSMSRootCertificate", "certificate": pem},
        )
        assert installed.status_code == 200, installed.text
        assert installed.json() == {"status": "Accepted"}
        assert cp.installed == [{"certificate_type": "CSMSRootCertificate", "certificate": pem}]
        await eventually(
            db_engine,
            "select serial_number from installed_certificate where chargepoint_id = :cp "
            "and source = 'install'",
            data["serialNumber"],
            cp=cp_id,
        )
        ids = await command(
            api,
            cp_id,
            "get-installed-certificate-ids",
            {"certificate_type": ["CSMSRootCertificate"]},
        )
        assert ids.status_code == 200, ids.text
        [reported] = ids.json()["certificate_hash_data_chain"]
        assert reported["certificate_hash_data"]["serial_number"] == data["serialNumber"]
        await eventually(
            db_engine,
            "select source from installed_certificate where chargepoint_id = :cp",
            "report",
            cp=cp_id,
        )
        listed = (await api.get(f"/api/v1/chargepoints/{cp_id}/certificates")).json()
        [known] = listed["installed"]
        assert known["issuer_key_hash"] == data["issuerKeyHash"]
        assert known["certificate_type"] == "CSMSRootCertificate"
        deleted = await command(
            api,
            cp_id,
            "delete-certificate",
            {
                "certificate_hash_data": {
                    "hash_algorithm": "SHA256",
                    "issuer_name_hash": data["issuerNameHash"],
                    "issuer_key_hash": data["issuerKeyHash"],
                    "serial_number": data["serialNumber"],
                }
            },
        )
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"status": "Accepted"}
        await eventually(
            db_engine,
            "select count(*) from installed_certificate where chargepoint_id = :cp",
            0,
            cp=cp_id,
        )
        assert cp.installed == []


async def test_201_certificate_status_is_asked_of_the_stations_ocsp_responder(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    cp_id = "CP201-CERT-5"
    ca = make_ca("OCSP Test CA")
    leaf = make_leaf(ca, "secc.example.com")
    data = hash_data(leaf.cert, ca.cert.public_key())
    ocsp_data = {
        "hash_algorithm": data["hashAlgorithm"],
        "issuer_name_hash": data["issuerNameHash"],
        "issuer_key_hash": data["issuerKeyHash"],
        "serial_number": data["serialNumber"],
    }
    async with running_responder(ca) as responder, connected201(stack.ws_url, cp_id) as cp:
        responder.revoke(leaf.cert)
        await cp.boot()
        answer = await cp.send(
            call201.GetCertificateStatus(
                ocsp_request_data={**ocsp_data, "responder_url": responder.url}
            )
        )
        assert answer.status == "Accepted"
        response = ocsp.load_der_ocsp_response(base64.b64decode(answer.ocsp_result))
        assert response.serial_number == leaf.cert.serial_number
        assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert responder.asked == [leaf.cert.serial_number]
        # A certificate the responder does not know: its answer is unsuccessful -> Failed.
        other = make_leaf(ca, "other.example.com")
        other_data = hash_data(other.cert, ca.cert.public_key())
        failed = await cp.send(
            call201.GetCertificateStatus(
                ocsp_request_data={
                    **ocsp_data,
                    "serial_number": other_data["serialNumber"],
                    "responder_url": responder.url,
                }
            )
        )
        assert failed.status == "Failed"
        v2g = await cp.send(
            call201.Get15118EVCertificate(
                iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
                action="Install",
                exi_request="AAAA",
            )
        )
        assert v2g.status == "Failed"
        assert v2g.status_info["reason_code"] == "NoV2GBackend"


async def test_the_gateways_certificate_refusals_are_stored_as_security_events(
    stack: Stack, stack_pki: StackPki, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    cp_id = "CP201-CERT-6"
    other = make_leaf(stack_pki.ca, "CP201-SOMEONE-ELSE")
    ssl = client_context(stack_pki.ca_file, other.write(tmp_path, "other"))
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connected201(stack.wss_url, cp_id, ssl=ssl):
            pass
    assert refused.value.response.status_code == 403

    async def stored() -> list[tuple[str, str, str]]:
        got = await api.get("/api/v1/security-events", params={"chargepoint_id": cp_id})
        return [(e["type"], e["source"], e["remote_ip"]) for e in got.json()["items"]]

    await wait_for_async(stored, [("InvalidChargingStationCertificate", "csms", "127.0.0.1")])
    [event] = (await api.get("/api/v1/security-events", params={"chargepoint_id": cp_id})).json()[
        "items"
    ]
    assert "CP201-SOMEONE-ELSE" in event["tech_info"]


class Installer16(Station16):
    """A 1.6 charge point that keeps installed certificates (whitepaper M03-M05 messages)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.installed: dict[str, tuple[str, x509.Certificate]] = {}

    @on(Action16.install_certificate)
    async def on_install(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        cert = x509.load_pem_x509_certificate(certificate.encode())
        self.installed[format(cert.serial_number, "x")] = (certificate_type, cert)
        return result16.InstallCertificate(status="Accepted")

    @on(Action16.get_installed_certificate_ids)
    async def on_get_ids(self, certificate_type: str, **_: Any) -> Any:
        found = [
            hash_data(cert, cert.public_key())
            for kind, cert in self.installed.values()
            if kind == certificate_type
        ]
        if not found:
            return result16.GetInstalledCertificateIds(status="NotFound")
        return result16.GetInstalledCertificateIds(
            status="Accepted",
            certificate_hash_data=[
                {
                    "hash_algorithm": d["hashAlgorithm"],
                    "issuer_name_hash": d["issuerNameHash"],
                    "issuer_key_hash": d["issuerKeyHash"],
                    "serial_number": d["serialNumber"],
                }
                for d in found
            ],
        )

    @on(Action16.delete_certificate)
    async def on_delete(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        gone = self.installed.pop(certificate_hash_data["serial_number"], None)
        return result16.DeleteCertificate(status="Accepted" if gone else "NotFound")


async def test_16_install_get_ids_and_delete_keep_the_installed_certificates(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP16-CERT-2"
    roots = [make_ca("Central System Root A"), make_ca("Central System Root B")]
    data = [hash_data(r.cert, r.cert.public_key()) for r in roots]
    async with ocpp16_client.connected(stack.ws_url, cp_id, cls=Installer16) as cp:
        await cp.boot()
        for root in roots:
            sent = await command(
                api,
                cp_id,
                "install-certificate",
                {
                    "certificate_type": "CentralSystemRootCertificate",
                    "certificate": root.cert_pem.decode(),
                },
            )
            assert sent.status_code == 200, sent.text
        await eventually(
            db_engine,
            "select count(*) from installed_certificate where chargepoint_id = :cp "
            "and source = 'install' and certificate is not null",
            2,
            cp=cp_id,
        )
        # The station loses one behind our back; GetInstalledCertificateIds tells.
        del cp.installed[data[0]["serialNumber"]]
        ids = await command(
            api,
            cp_id,
            "get-installed-certificate-ids",
            {"certificate_type": "CentralSystemRootCertificate"},
        )
        assert ids.status_code == 200, ids.text
        assert [d["serial_number"] for d in ids.json()["certificate_hash_data"]] == [
            data[1]["serialNumber"]
        ]
        await eventually(
            db_engine,
            "select string_agg(serial_number || ':' || source, ',') from installed_certificate "
            "where chargepoint_id = :cp",
            f"{data[1]['serialNumber']}:report",
            cp=cp_id,
        )
        deleted = await command(
            api,
            cp_id,
            "delete-certificate",
            {
                "certificate_hash_data": {
                    "hash_algorithm": "SHA256",
                    "issuer_name_hash": data[1]["issuerNameHash"].upper(),  # hex, any case
                    "issuer_key_hash": data[1]["issuerKeyHash"],
                    "serial_number": data[1]["serialNumber"],
                }
            },
        )
        assert deleted.json() == {"status": "Accepted"}
        await eventually(
            db_engine,
            "select count(*) from installed_certificate where chargepoint_id = :cp",
            0,
            cp=cp_id,
        )
