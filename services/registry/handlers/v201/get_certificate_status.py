"""GetCertificateStatusRequest (2.0.1 M06): the OCSP status of a certificate, through the
configured provider (services/registry/certificate_provider.py: by default a real OCSP
request to the station's responder URL).

Routed on a queue of its own, one message at a time and without row locks: waiting on a
responder never holds up the registry's other batches."""

from __future__ import annotations

from services.registry.certificate_provider import provider_for
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.get_certificate_status_request import GetCertificateStatusRequest
from shared.ocpp.v201.get_certificate_status_response import GetCertificateStatusResponse


async def handle(
    ctx: HandlerContext, env: Envelope, req: GetCertificateStatusRequest
) -> GetCertificateStatusResponse:
    """The provider's answer: Accepted with the OCSP response, or Failed."""
    return await provider_for(ctx.settings).get_certificate_status(ctx.chargepoint_id, req)
