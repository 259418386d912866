"""The built-in certificate provider (services/registry/certificate_provider.py) against an
OCSP responder run in the test, and its Get15118EVCertificate answer."""

from __future__ import annotations

import base64
import socket

import pytest
from cryptography.x509 import ocsp

from services.registry.certificate_provider import DefaultProvider, provider_for
from shared.ca import hash_data
from shared.ocpp.v201.get15118_ev_certificate_request import Get15118EVCertificateRequest
from shared.ocpp.v201.get_certificate_status_request import GetCertificateStatusRequest
from shared.settings import Settings
from tests.fixtures.ocsp import running_responder
from tests.fixtures.pki import Issued, make_ca, make_leaf


def status_request(cert: Issued, issuer: Issued, url: str) -> GetCertificateStatusRequest:
    data = hash_data(cert.cert, issuer.cert.public_key())
    return GetCertificateStatusRequest.model_validate(
        {"ocspRequestData": {**data, "responderURL": url}}
    )


def provider(timeout: float = 5.0, allow_private: bool = True) -> DefaultProvider:
    """The built-in provider; the test responders listen on loopback."""
    return DefaultProvider(
        Settings(env="test", ocsp_timeout=timeout, ocsp_allow_private_responders=allow_private)
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/ocsp",
        "http://10.0.0.1:{port}/",
        "http://169.254.169.254:{port}/latest/meta-data",
        "http://[::1]:{port}/",
    ],
)
async def test_a_private_responder_is_refused_without_the_setting(url: str) -> None:
    """The station's responder URL must not make the CSMS call its own network: Failed with
    RefusedURL, and nothing is sent (the responder running on loopback sees no request)."""
    ca = make_ca()
    leaf = make_leaf(ca, "CP-1")
    async with running_responder(ca) as responder:
        responder.good(leaf.cert)
        answer = await provider(allow_private=False).get_certificate_status(
            "CP-1", status_request(leaf, ca, url.format(port=responder.port))
        )
        assert answer.status.value == "Failed"
        assert answer.status_info is not None
        assert answer.status_info.reason_code == "RefusedURL"
        assert responder.asked == []


@pytest.mark.parametrize("revoked", [False, True], ids=["good", "revoked"])
async def test_the_responders_answer_is_returned(revoked: bool) -> None:
    ca = make_ca()
    leaf = make_leaf(ca, "CP-1")
    async with running_responder(ca) as responder:
        (responder.revoke if revoked else responder.good)(leaf.cert)
        answer = await provider().get_certificate_status(
            "CP-1", status_request(leaf, ca, responder.url)
        )
    assert answer.status.value == "Accepted"
    assert answer.ocsp_result is not None
    response = ocsp.load_der_ocsp_response(base64.b64decode(answer.ocsp_result))
    assert response.serial_number == leaf.cert.serial_number
    expected = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
    assert response.certificate_status is expected
    assert responder.asked == [leaf.cert.serial_number]


async def test_an_unsuccessful_ocsp_answer_is_failed() -> None:
    ca = make_ca()
    unknown = make_leaf(ca, "CP-2")
    async with running_responder(ca) as responder:
        answer = await provider().get_certificate_status(
            "CP-2", status_request(unknown, ca, responder.url)
        )
    assert answer.status.value == "Failed"
    assert answer.status_info is not None
    assert answer.status_info.reason_code == "ResponderError"
    assert answer.ocsp_result is None


async def test_a_responder_that_never_answers_is_failed_at_the_timeout() -> None:
    ca = make_ca()
    leaf = make_leaf(ca, "CP-3")
    async with running_responder(ca, silent=True) as responder:
        answer = await provider(timeout=0.2).get_certificate_status(
            "CP-3", status_request(leaf, ca, responder.url)
        )
    assert answer.status.value == "Failed"
    assert answer.status_info is not None
    assert answer.status_info.reason_code == "Timeout"


async def test_no_responder_and_a_bad_scheme_are_failed() -> None:
    ca = make_ca()
    leaf = make_leaf(ca, "CP-4")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    refused = await provider().get_certificate_status(
        "CP-4", status_request(leaf, ca, f"http://127.0.0.1:{port}/")
    )
    assert refused.status_info is not None
    assert (refused.status.value, refused.status_info.reason_code) == ("Failed", "Unreachable")
    scheme = await provider().get_certificate_status(
        "CP-4", status_request(leaf, ca, "file:///etc/passwd")
    )
    assert scheme.status_info is not None
    assert (scheme.status.value, scheme.status_info.reason_code) == ("Failed", "InvalidURL")


async def test_15118_is_failed_without_a_v2g_backend() -> None:
    answer = await provider().get_15118_ev_certificate(
        "CP-5",
        Get15118EVCertificateRequest.model_validate(
            {
                "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                "action": "Install",
                "exiRequest": "AAAA",
            }
        ),
    )
    assert answer.status.value == "Failed"
    assert answer.status_info is not None
    assert answer.status_info.reason_code == "NoV2GBackend"


def test_a_plugged_provider_is_used() -> None:
    plugged = provider_for(
        Settings(
            env="test", certificate_provider="tests.unit.registry.test_certificate_provider:make"
        )
    )
    assert isinstance(plugged, DefaultProvider)
    assert plugged.timeout == 1.5


def make(settings: Settings) -> DefaultProvider:
    return DefaultProvider(settings.model_copy(update={"ocsp_timeout": 1.5}))
