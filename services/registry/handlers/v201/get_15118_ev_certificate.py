"""Get15118EVCertificateRequest (2.0.1 M02): an EV's ISO 15118 contract certificate,
through the configured provider (services/registry/certificate_provider.py: by default
Failed, no V2G backend).

Routed like GetCertificateStatus: a queue of its own, no row locks."""

from __future__ import annotations

from services.registry.certificate_provider import provider_for
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.get15118_ev_certificate_request import Get15118EVCertificateRequest
from shared.ocpp.v201.get15118_ev_certificate_response import Get15118EVCertificateResponse


async def handle(
    ctx: HandlerContext, env: Envelope, req: Get15118EVCertificateRequest
) -> Get15118EVCertificateResponse:
    """The provider's answer (Accepted with the EXI response, or Failed)."""
    return await provider_for(ctx.settings).get_15118_ev_certificate(ctx.chargepoint_id, req)
