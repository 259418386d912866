"""`/chargepoints/{id}/certificate-renewal` and `/chargepoints/{id}/certificates`.

Renewal (1.6 security whitepaper "Update Charge Point Certificate by request of Central
System", 2.0.1 A02): the CSMS asks the station to send a SignCertificate, 1.6 with
ExtendedTriggerMessage `SignChargePointCertificate`, 2.0.1 with TriggerMessage
`SignChargingStationCertificate`; the registry then checks the CSR, has it signed and sends
CertificateSigned (services/registry/certificates.py). The answer here is the station's answer
to the trigger, as the commands API answers it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.api.certificates import service
from services.api.certificates.schemas import ChargePointCertificatesRead
from services.api.chargepoints.router import ChargePointId
from services.api.commands.router import MAX_TIMEOUT, get_bus, run_command
from services.api.commands.schemas import COMMANDS, COMMANDS_201
from services.api.commands.service import chargepoint_version
from services.api.deps import OperatorUser, SessionDep, SettingsDep
from services.api.errors import error_responses
from shared.ocpp.versions import OCPP201

router = APIRouter(prefix="/chargepoints", tags=["chargepoints"])


@router.post(
    "/{chargepoint_id}/certificate-renewal",
    summary="Ask the charge point for a new certificate (it sends SignCertificate)",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503, 504),
)
async def renew_certificate(
    chargepoint_id: ChargePointId,
    principal: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    """Send 1.6 ExtendedTriggerMessage SignChargePointCertificate / 2.0.1 TriggerMessage
    SignChargingStationCertificate (by the charge point's version) and return its answer
    (`{"status": "Accepted"}`); the certificate follows through SignCertificate ->
    CertificateSigned (`GET .../certificates` shows its progress). `X-Command-Id` names the
    command log row."""
    version = await chargepoint_version(session=session, chargepoint_id=chargepoint_id)
    if version == OCPP201:
        spec = COMMANDS_201["TriggerMessage"]
        body = spec.request.model_validate({"requested_message": "SignChargingStationCertificate"})
    else:
        spec = COMMANDS["ExtendedTriggerMessage"]
        body = spec.request.model_validate({"requested_message": "SignChargePointCertificate"})
    return await run_command(
        spec=spec,
        chargepoint_id=chargepoint_id,
        body=body,
        principal=principal,
        session=session,
        bus=get_bus(request),
        timeout=min(settings.command_timeout, MAX_TIMEOUT),
    )


@router.get(
    "/{chargepoint_id}/certificates",
    response_model=ChargePointCertificatesRead,
    responses=error_responses(401, 403, 404),
)
async def list_certificates(
    chargepoint_id: ChargePointId, _: OperatorUser, session: SessionDep
) -> ChargePointCertificatesRead:
    """The certificates the CSMS issued to the charge point (newest first, with their
    delivery status) and those it knows are installed on it (InstallCertificate,
    GetInstalledCertificateIds, DeleteCertificate keep them)."""
    issued, installed = await service.certificates(session=session, chargepoint_id=chargepoint_id)
    return ChargePointCertificatesRead.model_validate(
        {"chargepoint_id": chargepoint_id, "issued": issued, "installed": installed}
    )
