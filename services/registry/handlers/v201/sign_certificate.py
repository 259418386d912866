"""SignCertificateRequest (2.0.1 A02/A03): the station asks for a certificate.

Accepted when the CSR passes the checks (services/registry/certificates.py), then signed and
sent with CertificateSignedRequest by the registry's certificate delivery; Rejected otherwise
(with statusInfo, and recorded as a security event)."""

from __future__ import annotations

from services.registry.certificates import accept_csr
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.common import GenericStatusEnumType, StatusInfoType
from shared.ocpp.v201.sign_certificate_request import SignCertificateRequest
from shared.ocpp.v201.sign_certificate_response import SignCertificateResponse


async def handle(
    ctx: HandlerContext, env: Envelope, req: SignCertificateRequest
) -> SignCertificateResponse:
    """Accepted (the certificate follows) or Rejected with the reason."""
    kind = req.certificate_type.value if req.certificate_type is not None else None
    reason = await accept_csr(ctx, env, req.csr, kind)
    if reason is None:
        return SignCertificateResponse(status=GenericStatusEnumType.accepted)
    return SignCertificateResponse(
        status=GenericStatusEnumType.rejected,
        status_info=StatusInfoType(reason_code="InvalidCSR", additional_info=reason[:512]),
    )
