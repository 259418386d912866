"""Get15118EVCertificate and GetCertificateStatus (OCPP 2.0.1 M02/M06): a pluggable provider.

The station asks the CSMS for what it cannot reach itself: an ISO 15118 contract certificate
for the EV (M02: the CSMS forwards the EXI request to the mobility operator's / V2G PKI's
backend) and the OCSP status of a certificate (M06: the CSMS forwards an OCSP request to the
responder URL the station names, and returns the DER OCSP response, base64).

`CertificateProvider` is the plug (`CSMS_CERTIFICATE_PROVIDER=package.module:factory`, called
with the settings). The built-in `DefaultProvider`:

- Get15118EVCertificate: `Failed` (no V2G root / contract certificate pool is configured:
  statusInfo `NoV2GBackend`);
- GetCertificateStatus: a real OCSP request (RFC 6960, HTTP POST `application/ocsp-request`)
  built from the hash data of the request (cryptography's `add_certificate_by_hash`), to the
  request's `responderURL` (http or https only; a loopback, private or link-local address
  only with `CSMS_OCSP_ALLOW_PRIVATE_RESPONDERS`: the URL is the station's, and must not make
  the CSMS call its own network), within `CSMS_OCSP_TIMEOUT` seconds.
  `Accepted` with `ocspResult` when the responder answers `successful` about the serial that
  was asked; `Failed` otherwise (timeout, connection refused, HTTP error, an unparsable or
  unsuccessful OCSP response, one about another certificate, one longer than the 5500
  characters ocspResult may hold). The station verifies the response's signature itself.
"""

from __future__ import annotations

import base64
import importlib
import logging
from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from shared.ocpp.v201.common import (
    GetCertificateStatusEnumType,
    Iso15118EVCertificateStatusEnumType,
    StatusInfoType,
)
from shared.ocpp.v201.get15118_ev_certificate_request import Get15118EVCertificateRequest
from shared.ocpp.v201.get15118_ev_certificate_response import Get15118EVCertificateResponse
from shared.ocpp.v201.get_certificate_status_request import GetCertificateStatusRequest
from shared.ocpp.v201.get_certificate_status_response import GetCertificateStatusResponse
from shared.settings import Settings
from shared.ssrf import TargetRefused, check_target

log = logging.getLogger(__name__)

OCSP_RESULT_MAX: Final = 5500
"""GetCertificateStatusResponse.ocspResult maxLength."""
OCSP_RESPONSE_MAX_BYTES: Final = 64 * 1024
"""A responder's answer longer than this is not read (no OCSP response is that long)."""
_HASHES: Final[dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


@runtime_checkable
class CertificateProvider(Protocol):
    """Answers the station's certificate requests (2.0.1 M02, M06)."""

    async def get_15118_ev_certificate(
        self, chargepoint_id: str, req: Get15118EVCertificateRequest
    ) -> Get15118EVCertificateResponse: ...

    async def get_certificate_status(
        self, chargepoint_id: str, req: GetCertificateStatusRequest
    ) -> GetCertificateStatusResponse: ...


def _failed(reason: str, info: str) -> GetCertificateStatusResponse:
    return GetCertificateStatusResponse(
        status=GetCertificateStatusEnumType.failed,
        status_info=StatusInfoType(reason_code=reason[:20], additional_info=info[:512]),
    )


def ocsp_request(req: GetCertificateStatusRequest) -> bytes:
    """The DER OCSP request of the station's OCSPRequestData (ValueError if it is not hex)."""
    data = req.ocsp_request_data
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        bytes.fromhex(data.issuer_name_hash),
        bytes.fromhex(data.issuer_key_hash),
        int(data.serial_number, 16),
        _HASHES[data.hash_algorithm.value](),
    )
    return builder.build().public_bytes(Encoding.DER)


class DefaultProvider:
    """15118: Failed; certificate status: OCSP to the station's responder URL."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        self.timeout = settings.ocsp_timeout
        self.allow_private = settings.ocsp_allow_private_responders
        self.transport = transport

    async def get_15118_ev_certificate(
        self, chargepoint_id: str, req: Get15118EVCertificateRequest
    ) -> Get15118EVCertificateResponse:
        """Failed: no contract certificate backend is configured."""
        log.info("Get15118EVCertificate of %s: no V2G backend configured", chargepoint_id)
        return Get15118EVCertificateResponse(
            status=Iso15118EVCertificateStatusEnumType.failed,
            status_info=StatusInfoType(
                reason_code="NoV2GBackend",
                additional_info="no ISO 15118 contract certificate provider is configured "
                "(CSMS_CERTIFICATE_PROVIDER)",
            ),
            exi_response="",
        )

    async def get_certificate_status(
        self, chargepoint_id: str, req: GetCertificateStatusRequest
    ) -> GetCertificateStatusResponse:
        """Ask the responder; Accepted with its response, or Failed (module docstring)."""
        data = req.ocsp_request_data
        url = data.responder_url
        if urlsplit(url).scheme not in ("http", "https"):
            return _failed("InvalidURL", f"responder URL {url!r:.200} is not http(s)")
        try:
            # The URL is the station's: never let it make the CSMS call its own network.
            await check_target(url, allow_private=self.allow_private)
        except TargetRefused as exc:
            log.warning("OCSP responder of %s refused: %s", chargepoint_id, exc)
            return _failed("RefusedURL", f"responder URL {url!r:.200}: {exc}")
        try:
            body = ocsp_request(req)
        except (ValueError, KeyError) as exc:
            return _failed("InvalidRequest", f"OCSPRequestData: {exc}")
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=self.transport, follow_redirects=False
            ) as client:
                answer = await client.post(
                    url, content=body, headers={"Content-Type": "application/ocsp-request"}
                )
        except httpx.TimeoutException:
            return _failed("Timeout", f"{url:.200} did not answer within {self.timeout:g}s")
        except httpx.HTTPError as exc:
            return _failed("Unreachable", f"{url:.200}: {exc}")
        if answer.status_code != 200:
            return _failed("HttpError", f"{url:.200} answered HTTP {answer.status_code}")
        der = answer.content[:OCSP_RESPONSE_MAX_BYTES]
        try:
            response = ocsp.load_der_ocsp_response(der)
        except ValueError as exc:
            return _failed("InvalidResponse", f"not an OCSP response: {exc}")
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return _failed("ResponderError", f"OCSP status {response.response_status.name}")
        if response.serial_number != int(data.serial_number, 16):
            return _failed("WrongCertificate", "the response is about another certificate")
        result = base64.b64encode(der).decode()
        if len(result) > OCSP_RESULT_MAX:
            return _failed("TooLarge", f"OCSP response of {len(der)} bytes")
        log.info(
            "OCSP status of serial %s for %s: %s",
            data.serial_number,
            chargepoint_id,
            response.certificate_status.name,
        )
        return GetCertificateStatusResponse(
            status=GetCertificateStatusEnumType.accepted, ocsp_result=result
        )


_PROVIDERS: dict[str | None, CertificateProvider] = {}


def provider_for(settings: Settings) -> CertificateProvider:
    """`CSMS_CERTIFICATE_PROVIDER`'s provider, else the built-in one (built once)."""
    key = settings.certificate_provider
    if key not in _PROVIDERS:
        if key:
            module_name, _, attr = key.partition(":")
            provider = getattr(importlib.import_module(module_name), attr)(settings)
            if not isinstance(provider, CertificateProvider):
                raise TypeError(f"{key} did not return a CertificateProvider")
            _PROVIDERS[key] = provider
        else:
            _PROVIDERS[key] = DefaultProvider(settings)
    return _PROVIDERS[key]
