"""Effects of the certificate commands on `installed_certificate` (1.6 security whitepaper,
2.0.1 M03-M05), applied by the registry's effect consumer like the other command effects:

- InstallCertificate Accepted -> the sent certificate, identified as OCPP does
  (CertificateHashDataType, SHA256: issuer name hash, issuer key hash, serial number; the
  issuer key hash only for a self-signed certificate, whose issuer key is its own: another
  one's issuer is not in the message), source `install`, with its PEM.
- GetInstalledCertificateIds Accepted -> the reported certificates of the asked types
  (source `report`; one the CSMS installed keeps its PEM), and the stored ones of those types
  the station no longer reports are forgotten; NotFound -> none of those types is installed.
  2.0.1 without certificateType: every type.
- DeleteCertificate Accepted (or NotFound: it is not there either) -> forgotten.

Hashes and serial numbers are stored in lowercase hex, serials without leading zeros
(2.0.1 CertificateHashDataType.serialNumber), and compared that way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from sqlalchemy import delete, func, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.ca import hash_data
from shared.command_outbox import Effect, typed_effect
from shared.db.models import InstalledCertificate
from shared.dispatch import HandlerContext
from shared.ocpp import OCPP16
from shared.ocpp.v16.common import CertificateHashDataType as HashData16
from shared.ocpp.v16.delete_certificate_request import (
    DeleteCertificateRequest as DeleteCertificate16,
)
from shared.ocpp.v16.delete_certificate_response import (
    DeleteCertificateResponse as DeleteCertificateAnswer16,
)
from shared.ocpp.v16.get_installed_certificate_ids_request import (
    GetInstalledCertificateIdsRequest as GetIds16,
)
from shared.ocpp.v16.get_installed_certificate_ids_response import (
    GetInstalledCertificateIdsResponse as GetIdsAnswer16,
)
from shared.ocpp.v16.install_certificate_request import (
    InstallCertificateRequest as InstallCertificate16,
)
from shared.ocpp.v16.install_certificate_response import (
    InstallCertificateResponse as InstallCertificateAnswer16,
)
from shared.ocpp.v201.common import CertificateHashDataType as HashData201
from shared.ocpp.v201.delete_certificate_request import DeleteCertificateRequest
from shared.ocpp.v201.delete_certificate_response import DeleteCertificateResponse
from shared.ocpp.v201.get_installed_certificate_ids_request import (
    GetInstalledCertificateIdsRequest,
)
from shared.ocpp.v201.get_installed_certificate_ids_response import (
    GetInstalledCertificateIdsResponse,
)
from shared.ocpp.v201.install_certificate_request import InstallCertificateRequest
from shared.ocpp.v201.install_certificate_response import InstallCertificateResponse

log = logging.getLogger(__name__)

ALL_TYPES_201: Final = (
    "V2GRootCertificate",
    "MORootCertificate",
    "CSMSRootCertificate",
    "V2GCertificateChain",
    "ManufacturerRootCertificate",
)
"""2.0.1 GetCertificateIdUseEnumType: what a GetInstalledCertificateIds without types asks."""


@dataclass(frozen=True, slots=True)
class HashData:
    """A certificate as OCPP names it, normalised."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str | None
    serial_number: str

    @classmethod
    def of(
        cls, hash_algorithm: str, issuer_name_hash: str, issuer_key_hash: str | None, serial: str
    ) -> HashData:
        return cls(
            hash_algorithm,
            issuer_name_hash.lower(),
            issuer_key_hash.lower() if issuer_key_hash else None,
            serial.lower().lstrip("0") or "0",
        )


def _hash(d: HashData16 | HashData201) -> HashData:
    return HashData.of(
        d.hash_algorithm.value, d.issuer_name_hash, d.issuer_key_hash, d.serial_number
    )


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def certificate_hash(pem: str) -> HashData | None:
    """The SHA256 hash data of a PEM certificate (None if it does not parse)."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None
    issuer_key = cert.public_key() if _self_signed(cert) else None
    if issuer_key is not None:
        data = hash_data(cert, issuer_key)
        return HashData.of(
            "SHA256", data["issuerNameHash"], data["issuerKeyHash"], data["serialNumber"]
        )
    name_hash = hash_data(cert, cert.public_key())["issuerNameHash"]
    return HashData.of("SHA256", name_hash, None, format(cert.serial_number, "x"))


async def remember(
    ctx: HandlerContext,
    chargepoint_id: str,
    certificate_type: str,
    data: HashData,
    *,
    source: str,
    certificate: str | None = None,
) -> None:
    """Upsert one installed certificate (a known PEM and issuer key hash are kept)."""
    table = InstalledCertificate.__table__
    stmt = pg_insert(InstalledCertificate).values(
        chargepoint_id=chargepoint_id,
        certificate_type=certificate_type,
        hash_algorithm=data.hash_algorithm,
        issuer_name_hash=data.issuer_name_hash,
        issuer_key_hash=data.issuer_key_hash,
        serial_number=data.serial_number,
        certificate=certificate,
        source=source,
        updated_at=ctx.now,
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_installed_certificate_identity",
            set_={
                "certificate_type": stmt.excluded.certificate_type,
                "issuer_key_hash": func.coalesce(
                    stmt.excluded.issuer_key_hash, table.c.issuer_key_hash
                ),
                "certificate": func.coalesce(stmt.excluded.certificate, table.c.certificate),
                "source": stmt.excluded.source,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


async def forget(ctx: HandlerContext, chargepoint_id: str, data: HashData) -> None:
    """Delete one installed certificate (by algorithm, issuer name hash and serial)."""
    c = InstalledCertificate
    await ctx.session.execute(
        delete(c).where(
            c.chargepoint_id == chargepoint_id,
            c.hash_algorithm == data.hash_algorithm,
            c.issuer_name_hash == data.issuer_name_hash,
            c.serial_number == data.serial_number,
        )
    )


async def replace_reported(
    ctx: HandlerContext,
    chargepoint_id: str,
    types: Iterable[str],
    reported: list[tuple[str, HashData]],
) -> None:
    """The station reported `reported` (type, hash data) for `types`: keep exactly those."""
    c = InstalledCertificate
    kept = [(d.hash_algorithm, d.issuer_name_hash, d.serial_number) for _, d in reported]
    stale = delete(c).where(c.chargepoint_id == chargepoint_id, c.certificate_type.in_(list(types)))
    if kept:
        stale = stale.where(
            tuple_(c.hash_algorithm, c.issuer_name_hash, c.serial_number).not_in(kept)
        )
    await ctx.session.execute(stale)
    for certificate_type, data in reported:
        await remember(ctx, chargepoint_id, certificate_type, data, source="report")


async def install_16(
    ctx: HandlerContext,
    chargepoint_id: str,
    req: InstallCertificate16,
    res: InstallCertificateAnswer16,
) -> None:
    """InstallCertificate.conf Accepted: the certificate is installed."""
    if res.status.value == "Accepted":
        await _installed(ctx, chargepoint_id, req.certificate_type.value, req.certificate)


async def install_201(
    ctx: HandlerContext,
    chargepoint_id: str,
    req: InstallCertificateRequest,
    res: InstallCertificateResponse,
) -> None:
    """InstallCertificateResponse Accepted: the certificate is installed."""
    if res.status.value == "Accepted":
        await _installed(ctx, chargepoint_id, req.certificate_type.value, req.certificate)


async def _installed(
    ctx: HandlerContext, chargepoint_id: str, certificate_type: str, pem: str
) -> None:
    data = certificate_hash(pem)
    if data is None:
        log.warning("%s accepted a certificate that does not parse; not recorded", chargepoint_id)
        return
    await remember(ctx, chargepoint_id, certificate_type, data, source="install", certificate=pem)


async def get_ids_16(
    ctx: HandlerContext, chargepoint_id: str, req: GetIds16, res: GetIdsAnswer16
) -> None:
    """GetInstalledCertificateIds.conf: the certificates of the asked type."""
    kind = req.certificate_type.value
    if res.status.value not in ("Accepted", "NotFound"):
        return
    answered = res.certificate_hash_data or [] if res.status.value == "Accepted" else []
    reported = [(kind, _hash(d)) for d in answered]
    await replace_reported(ctx, chargepoint_id, [kind], reported)


async def get_ids_201(
    ctx: HandlerContext,
    chargepoint_id: str,
    req: GetInstalledCertificateIdsRequest,
    res: GetInstalledCertificateIdsResponse,
) -> None:
    """GetInstalledCertificateIdsResponse: the certificates of the asked types (all without)."""
    types = [t.value for t in req.certificate_type] if req.certificate_type else list(ALL_TYPES_201)
    reported: list[tuple[str, HashData]] = []
    if res.status.value == "Accepted":
        for item in res.certificate_hash_data_chain or []:
            reported.append((item.certificate_type.value, _hash(item.certificate_hash_data)))
    await replace_reported(ctx, chargepoint_id, types, reported)


async def delete_16(
    ctx: HandlerContext,
    chargepoint_id: str,
    req: DeleteCertificate16,
    res: DeleteCertificateAnswer16,
) -> None:
    """DeleteCertificate.conf Accepted / NotFound: the certificate is not installed."""
    if res.status.value in ("Accepted", "NotFound"):
        await forget(ctx, chargepoint_id, _hash(req.certificate_hash_data))


async def delete_201(
    ctx: HandlerContext,
    chargepoint_id: str,
    req: DeleteCertificateRequest,
    res: DeleteCertificateResponse,
) -> None:
    """DeleteCertificateResponse Accepted / NotFound: the certificate is not installed."""
    if res.status.value in ("Accepted", "NotFound"):
        await forget(ctx, chargepoint_id, _hash(req.certificate_hash_data))


EFFECTS_16: dict[str, Effect] = {
    "InstallCertificate": typed_effect(
        InstallCertificate16, InstallCertificateAnswer16, install_16, version=OCPP16
    ),
    "GetInstalledCertificateIds": typed_effect(
        GetIds16, GetIdsAnswer16, get_ids_16, version=OCPP16
    ),
    "DeleteCertificate": typed_effect(
        DeleteCertificate16, DeleteCertificateAnswer16, delete_16, version=OCPP16
    ),
}
EFFECTS_201: dict[str, Effect] = {
    "InstallCertificate": typed_effect(
        InstallCertificateRequest, InstallCertificateResponse, install_201
    ),
    "GetInstalledCertificateIds": typed_effect(
        GetInstalledCertificateIdsRequest, GetInstalledCertificateIdsResponse, get_ids_201
    ),
    "DeleteCertificate": typed_effect(
        DeleteCertificateRequest, DeleteCertificateResponse, delete_201
    ),
}
