"""SignCertificate (1.6 security whitepaper): the charge point asks for a certificate.

Accepted when the CSR passes the checks (services/registry/certificates.py), then signed and
sent with CertificateSigned by the registry's certificate delivery; Rejected otherwise (and
recorded as a security event)."""

from __future__ import annotations

from services.registry.certificates import accept_csr
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.common import GenericStatusEnumType
from shared.ocpp.v16.sign_certificate_request import SignCertificateRequest
from shared.ocpp.v16.sign_certificate_response import SignCertificateResponse


async def handle(
    ctx: HandlerContext, env: Envelope, req: SignCertificateRequest
) -> SignCertificateResponse:
    """Accepted (the certificate follows) or Rejected."""
    reason = await accept_csr(ctx, env, req.csr, None)
    status = GenericStatusEnumType.accepted if reason is None else GenericStatusEnumType.rejected
    return SignCertificateResponse(status=status)
