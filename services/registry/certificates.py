"""Charge point certificates the CSMS issues: SignCertificate -> CertificateSigned.

OCPP 1.6 security whitepaper (SignCertificate.req / CertificateSigned.req) and 2.0.1 A02
(update charging station certificate by request of the CSMS) / A03 (initiated by the station):

1. The station sends SignCertificate with a CSR. The handler (`accept_csr`, in the registry's
   RPC batch) checks it (shared/ca.py `check_csr`: parses, signature verifies, CN = the
   charge point id, O = `CSMS_GATEWAY_CLIENT_CERT_ORGANIZATION` when set, RSA >= 2048 / EC
   P-256 or P-384) and whether a signer is configured and signs that certificate type.
   Refused: answered Rejected and recorded as a security event (source `csms`,
   `InvalidCsr`, the reason in tech_info). Accepted: an `issued_certificate` row (status
   `requested`) and, after the commit, the domain event `certificate.requested`.
2. `CertificateDelivery` (a consumer of the registry process, queue
   `csms.registry.certificates`) takes the event: has the CSR signed by the signer (outside
   any batch: an external CA may take its time), stores serial, validity and chain
   (`signed`), sends CertificateSigned through the command path (a command log row, the RPC
   to the gateway, the outcome committed with its seq and `command.completed`, as the API's
   commands) and records the station's answer: `installed` (Accepted), `rejected`, or
   `failed` (no answer, not connected; signing failed).

A `certificate.requested` event lost (it is published without confirms, like every domain
event) leaves the row `requested`: the delivery's sweep (every `SWEEP_INTERVAL`) takes rows
still `requested` `SWEEP_AFTER` after they were written, and marks `failed` those older than
`GIVE_UP_AFTER` (the station has long since repeated its SignCertificate, 2.0.1
CertSigningWaitMinimum / CertSigningRepeatTimes, which is a new row).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography import x509
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.policy import clip
from services.registry.security_events import record_security_event
from shared.bus import Bus, Delivery
from shared.bus.errors import BusError
from shared.bus.topology import EVENTS
from shared.ca import (
    CHARGING_STATION_CERTIFICATE,
    CertificateSigner,
    CsrRefused,
    SigningFailed,
    check_csr,
    load_signer,
)
from shared.command_log import log_values
from shared.command_outbox import complete, publish_nudge
from shared.commands import RPC_MARGIN, NotConnected, Result, TimedOut, send_command
from shared.db.models import ChargePoint, CommandLog, IssuedCertificate
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp import OCPP201
from shared.settings import Settings

log = logging.getLogger(__name__)

CERTIFICATE_REQUESTED: Final = "certificate.requested"
"""Domain event: an accepted CSR waits to be signed (payload `{"id"}`, the row's id)."""
DELIVERY_QUEUE: Final = "csms.registry.certificates"
INVALID_CSR: Final = "InvalidCsr"
"""The CSMS's security event type for a refused SignCertificate."""
REQUESTED_BY: Final = "csms:certificates"
"""`command_log.requested_by` of the CertificateSigned commands the CSMS sends itself."""
MAX_REQUESTS_PER_HOUR: Final = 10
"""Accepted CSRs of one charge point per hour; beyond, Rejected (a station that loops, or one
used to make the CA sign without end)."""
SWEEP_INTERVAL: Final = 30.0
"""Seconds between two sweeps of rows a lost `certificate.requested` left `requested`."""
SWEEP_AFTER: Final = timedelta(seconds=30)
GIVE_UP_AFTER: Final = timedelta(hours=1)
SWEEP_BATCH: Final = 100


_SIGNERS: dict[tuple[str | None, ...], CertificateSigner | None] = {}


def signer_for(settings: Settings) -> CertificateSigner | None:
    """The process's signer for these settings (built once)."""
    key = (settings.ca_signer, settings.ca_cert, settings.ca_key, str(settings.ca_validity_days))
    if key not in _SIGNERS:
        _SIGNERS[key] = load_signer(settings)
    return _SIGNERS[key]


def refusal_reason(
    settings: Settings, chargepoint_id: str, csr: str, certificate_type: str
) -> str | None:
    """Why this SignCertificate is Rejected, or None if it is accepted."""
    signer = signer_for(settings)
    if signer is None:
        return "no CA is configured (CSMS_CA_CERT and CSMS_CA_KEY, or CSMS_CA_SIGNER)"
    if certificate_type not in signer.certificate_types:
        return f"the configured CA does not sign a {certificate_type}"
    try:
        check_csr(csr, chargepoint_id, organization=settings.gateway_client_cert_organization)
    except CsrRefused as exc:
        return str(exc)
    return None


async def _too_many(ctx: HandlerContext, message_id: str | None) -> str | None:
    """The refusal of one CSR too many this hour (a redelivered request is not counted)."""
    table = IssuedCertificate
    recent = select(func.count()).where(
        table.chargepoint_id == ctx.chargepoint_id,
        table.created_at > ctx.now - timedelta(hours=1),
    )
    if message_id is not None:
        recent = recent.where(table.message_id.is_distinct_from(message_id))
    count = await ctx.session.scalar(recent)
    if count is not None and count >= MAX_REQUESTS_PER_HOUR:
        return f"{count} certificates requested in the last hour (at most {MAX_REQUESTS_PER_HOUR})"
    return None


async def accept_csr(
    ctx: HandlerContext, env: Envelope, csr: str, certificate_type: str | None
) -> str | None:
    """Check a SignCertificate; on acceptance queue it for signing (None), else record the
    refusal as a security event and return its reason."""
    kind = certificate_type or CHARGING_STATION_CERTIFICATE
    reason = refusal_reason(ctx.settings, ctx.chargepoint_id, csr, kind)
    if reason is None:
        reason = await _too_many(ctx, clip(env.correlation_id, 64))
    if reason is not None:
        log.warning("SignCertificate of %s rejected: %s", ctx.chargepoint_id, reason)
        await record_security_event(
            ctx, ctx.chargepoint_id, INVALID_CSR, f"SignCertificate rejected: {reason}"[:1000]
        )
        return reason
    row_id = uuid.uuid4()
    inserted = await ctx.session.scalar(
        pg_insert(IssuedCertificate)
        .values(
            id=row_id,
            chargepoint_id=ctx.chargepoint_id,
            certificate_type=kind,
            status="requested",
            csr=csr,
            message_id=clip(env.correlation_id, 64),
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(IssuedCertificate.id)
    )
    if inserted is not None:
        ctx.emit(CERTIFICATE_REQUESTED, {"id": str(row_id)}, ctx.chargepoint_id)
    return None


def _now() -> datetime:
    return datetime.now(UTC)


class CertificateDelivery:
    """Signs accepted CSRs and sends CertificateSigned (see the module docstring)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: Settings,
        signer: CertificateSigner | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.bus = bus
        self.settings = settings
        self.signer = signer

    async def start(self) -> None:
        """Declare `csms.registry.certificates` (bound to `certificate.requested`), consume."""
        await self.bus.declare_service_queue(DELIVERY_QUEUE, [(EVENTS, CERTIFICATE_REQUESTED)])
        await self.bus.consume(DELIVERY_QUEUE, self.handle, max_batch=1)

    async def sweep(self, now: datetime | None = None) -> int:
        """Deliver the rows a lost event left `requested`; give up on very old ones. The
        number of rows taken up."""
        moment = now or _now()
        async with self.sessionmaker() as session:
            await session.execute(
                update(IssuedCertificate)
                .where(
                    IssuedCertificate.status == "requested",
                    IssuedCertificate.created_at < moment - GIVE_UP_AFTER,
                )
                .values(
                    status="failed", error="never signed (the request was lost)", updated_at=moment
                )
            )
            due = (
                await session.scalars(
                    select(IssuedCertificate.id)
                    .where(
                        IssuedCertificate.status == "requested",
                        IssuedCertificate.created_at < moment - SWEEP_AFTER,
                    )
                    .order_by(IssuedCertificate.created_at)
                    .limit(SWEEP_BATCH)
                )
            ).all()
            await session.commit()
        for row_id in due:
            await self.deliver(row_id)
        return len(due)

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep every `SWEEP_INTERVAL` until `stopping` is set."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), SWEEP_INTERVAL)
            if stopping.is_set():
                return
            try:
                await self.sweep()
            except (SQLAlchemyError, BusError, OSError) as exc:
                log.warning("certificate sweep failed: %r", exc)

    async def handle(self, deliveries: list[Delivery]) -> Sequence[None]:
        """Each event: one certificate signed and delivered."""
        for delivery in deliveries:
            try:
                row_id = uuid.UUID(str(delivery.envelope.payload.get("id")))
            except ValueError:
                log.error("certificate.requested without a valid id: %r", delivery.envelope)
                continue
            await self.deliver(row_id)
        return [None] * len(deliveries)

    async def _sign(self, row: IssuedCertificate) -> tuple[str, dict[str, Any]]:
        signer = self.signer or signer_for(self.settings)
        if signer is None:
            raise SigningFailed("no CA is configured")
        csr = x509.load_pem_x509_csr(row.csr.encode())
        signed = await signer.sign(
            csr, chargepoint_id=row.chargepoint_id, certificate_type=row.certificate_type
        )
        cert = signed.certificate
        return signed.chain_pem, {
            "serial_number": signed.serial_hex,
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            "certificate_chain": signed.chain_pem,
        }

    async def deliver(self, row_id: uuid.UUID) -> None:
        """Sign the row's CSR (once: a row no longer `requested` is left alone) and send it."""
        async with self.sessionmaker() as session:
            row = await session.scalar(
                select(IssuedCertificate)
                .where(IssuedCertificate.id == row_id, IssuedCertificate.status == "requested")
                .with_for_update(skip_locked=True)
            )
            if row is None:
                return
            version = await session.scalar(
                select(ChargePoint.ocpp_version).where(
                    ChargePoint.chargepoint_id == row.chargepoint_id
                )
            )
            try:
                chain, values = await self._sign(row)
            except (CsrRefused, SigningFailed, ValueError) as exc:
                log.error("certificate of %s not signed: %s", row.chargepoint_id, exc)
                row.status, row.error, row.updated_at = "failed", str(exc)[:1000], _now()
                await session.commit()
                return
            for name, value in values.items():
                setattr(row, name, value)
            row.status, row.updated_at = "signed", _now()
            chargepoint_id, certificate_type = row.chargepoint_id, row.certificate_type
            await session.commit()
        payload: dict[str, Any] = {"certificateChain": chain}
        if version == OCPP201:
            payload["certificateType"] = certificate_type
        await self._send(row_id, chargepoint_id, version, payload)

    async def _send(
        self, row_id: uuid.UUID, chargepoint_id: str, version: str | None, payload: dict[str, Any]
    ) -> None:
        timeout = self.settings.command_timeout
        command_id = uuid.uuid4()
        async with self.sessionmaker() as session:
            session.add(
                CommandLog(
                    id=command_id,
                    chargepoint_id=chargepoint_id,
                    action="CertificateSigned",
                    request=payload,
                    outcome="pending",
                    requested_by=REQUESTED_BY,
                    expires_at=_now() + timedelta(seconds=timeout + RPC_MARGIN),
                    ocpp_version=version,
                )
            )
            await session.execute(
                update(IssuedCertificate)
                .where(IssuedCertificate.id == row_id)
                .values(command_id=command_id)
            )
            await session.commit()
        try:
            outcome = await send_command(
                self.bus,
                chargepoint_id=chargepoint_id,
                action="CertificateSigned",
                payload=payload,
                timeout=timeout,
                correlation_id=command_id.hex,
                ocpp_version=version,
            )
        except BusError as exc:
            # The pending row is marked lost by the sweeper; the certificate stays `signed`.
            log.error("CertificateSigned to %s not sent: %r", chargepoint_id, exc)
            return
        if isinstance(outcome, Result):
            answer = str(outcome.payload.get("status", ""))
            status = "installed" if answer == "Accepted" else "rejected"
            error = None if status == "installed" else f"the charge point answered {answer}"
        else:
            status = "failed"
            reason = getattr(outcome, "reason", "") or getattr(outcome, "description", "")
            kind = "not connected" if isinstance(outcome, NotConnected) else outcome.outcome
            error = f"CertificateSigned {kind}: {reason}" if reason else f"CertificateSigned {kind}"
            if isinstance(outcome, TimedOut):
                error = f"CertificateSigned not answered in time: {reason}"
        async with self.sessionmaker() as session:
            event = await complete(session, command_id, log_values(outcome))
            await session.execute(
                update(IssuedCertificate)
                .where(IssuedCertificate.id == row_id)
                .values(status=status, error=error, updated_at=_now())
            )
            await session.commit()
        log.info("CertificateSigned to %s: %s", chargepoint_id, status)
        if event is not None:
            await publish_nudge(self.bus, event)
