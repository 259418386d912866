"""Sending profiles to charge points and recording what each one accepted.

SetChargingProfile / ClearChargingProfile / GetCompositeSchedule go over `ocpp.downstream`
through `shared.commands.send_command` (which also publishes `command.completed`). The
sender is injected, so tests hand in a fake charge point.

Installation states (`charging_profile_installation.status`): `Installed` (the charge point
answered Accepted), `Rejected` (it answered Rejected / NotSupported or a CALLERROR),
`Pending` (offline or no answer: to be sent again when it reconnects), `Cleared` (removed by
ClearChargingProfile), `Replaced` (a newer profile with the same purpose and stack level was
installed on the same connector: OCPP 1.6 §5.16.2 "the new charging profile SHALL replace
the existing charging profile").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.charging.balancing import BALANCING_STACK_LEVEL, balancing_profile_id
from shared.charging.profiles import cs_charging_profile, set_charging_profile_payload
from shared.charging.schedule import TX_PROFILE
from shared.commands import (
    CallError,
    CommandBus,
    CommandOutcome,
    NotConnected,
    Refused,
    Result,
    TimedOut,
    send_command,
)
from shared.db.models import ChargePoint, ChargingProfile, ChargingProfileInstallation
from shared.ocpp.versions import OCPP201

log = logging.getLogger(__name__)


class Sender(Protocol):
    """Sends one command to a charge point (payload in camelCase) and returns how it ended."""

    def __call__(
        self, *, chargepoint_id: str, action: str, payload: dict[str, Any]
    ) -> Awaitable[CommandOutcome]: ...


def bus_sender(bus: CommandBus, *, timeout: float) -> Sender:
    """A `Sender` over the broker (`shared.commands.send_command`)."""

    async def send(*, chargepoint_id: str, action: str, payload: dict[str, Any]) -> CommandOutcome:
        return await send_command(
            bus, chargepoint_id=chargepoint_id, action=action, payload=payload, timeout=timeout
        )

    return send


def status_of(outcome: CommandOutcome) -> str:
    """The installation status an outcome of SetChargingProfile leads to."""
    if isinstance(outcome, Result):
        return "Installed" if outcome.payload.get("status") == "Accepted" else "Rejected"
    if isinstance(outcome, CallError | Refused):
        # Refused: the gateway did not send it (e.g. a 1.6 profile to a 2.0.1 station).
        return "Rejected"
    return "Pending"


def outcome_label(outcome: CommandOutcome) -> str:
    """A short word for logs and decision records: Accepted, Rejected, offline, timeout, ..."""
    if isinstance(outcome, Result):
        return str(outcome.payload.get("status", "result"))
    if isinstance(outcome, CallError):
        return f"error:{outcome.code}"
    if isinstance(outcome, Refused):
        return f"refused:{outcome.code}"
    if isinstance(outcome, NotConnected):
        return "offline"
    assert isinstance(outcome, TimedOut)
    return "timeout"


async def record_installation(
    session: AsyncSession,
    *,
    chargepoint_id: str,
    connector_id: int,
    profile_id: int,
    status: str,
) -> None:
    """Upsert the state of one profile on one connector of a charge point."""
    t = ChargingProfileInstallation
    stmt = pg_insert(t).values(
        chargepoint_id=chargepoint_id,
        connectorid=connector_id,
        chargingprofile_id=profile_id,
        status=status,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["chargepoint_id", "connectorid", "chargingprofile_id"],
            set_={"status": stmt.excluded.status, "updated_at": stmt.excluded.updated_at},
        )
    )


async def mark_replaced(
    session: AsyncSession, profile: ChargingProfile, *, chargepoint_id: str, connector_id: int
) -> None:
    """Other profiles installed on the connector with `profile`'s purpose and stack level
    become `Replaced` (OCPP 1.6 §5.16.2: "the new charging profile SHALL replace the
    existing charging profile")."""
    same_slot = select(ChargingProfile.chargingprofile_id).where(
        ChargingProfile.chargingprofile_purpose == profile.chargingprofile_purpose,
        ChargingProfile.stack_level == profile.stack_level,
        ChargingProfile.chargingprofile_id != profile.chargingprofile_id,
    )
    i = ChargingProfileInstallation
    await session.execute(
        update(i)
        .where(
            i.chargepoint_id == chargepoint_id,
            i.connectorid == connector_id,
            i.status == "Installed",
            i.chargingprofile_id.in_(same_slot),
        )
        .values(status="Replaced")
    )


@dataclass(frozen=True, slots=True)
class Installed:
    """What happened to one profile on one charge point."""

    status: str
    outcome: CommandOutcome


@dataclass(frozen=True, slots=True)
class ClearTarget:
    """A charge point connector where a profile is to be cleared, and its status there."""

    chargepoint_id: str
    connector_id: int
    previous: str
    ocpp_version: str | None = None


@dataclass(frozen=True, slots=True)
class Station:
    """What a SetChargingProfile needs of its station: the OCPP version the registry stored
    (`chargepoint.ocpp_version`; None = unknown, sent as 1.6) and, for a TxProfile of a
    2.0.1 station, the station's own transactionId (`transaction.remote_transaction_id`)."""

    ocpp_version: str | None = None
    remote_transaction_id: str | None = None


AS_16: Final = Station()
"""A station of unknown version: sent as 1.6 (the default of the senders)."""


class Installer:
    """Sends SetChargingProfile / ClearChargingProfile / GetCompositeSchedule and records the
    installations; sending and recording are separate steps (`services/charging/sending.py`
    runs them: no database transaction is open while a charge point is waited on)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    async def _record(
        self,
        session: AsyncSession,
        *,
        chargepoint_id: str,
        connector_id: int,
        profile_id: int,
        status: str,
    ) -> None:
        await record_installation(
            session,
            chargepoint_id=chargepoint_id,
            connector_id=connector_id,
            profile_id=profile_id,
            status=status,
        )

    async def send_install(
        self, profile: ChargingProfile, station: Station = AS_16
    ) -> CommandOutcome:
        """Send SetChargingProfile for `profile` to its target (no database work), in the
        station's OCPP version (`station`, read by the caller)."""
        if profile.chargepoint_id is None:
            raise ValueError("the profile has no target charge point")
        return await self.sender(
            chargepoint_id=profile.chargepoint_id,
            action="SetChargingProfile",
            payload=set_charging_profile_payload(
                cs_charging_profile(profile),
                connector_id=profile.connector_id or 0,
                ocpp_version=station.ocpp_version,
                remote_transaction_id=station.remote_transaction_id,
            ),
        )

    async def record_install(
        self, session: AsyncSession, profile: ChargingProfile, outcome: CommandOutcome
    ) -> Installed:
        """Record how SetChargingProfile of `profile` ended (idempotent: an upsert)."""
        assert profile.chargepoint_id is not None
        connector_id = profile.connector_id or 0
        status = status_of(outcome)
        await self._record(
            session,
            chargepoint_id=profile.chargepoint_id,
            connector_id=connector_id,
            profile_id=profile.chargingprofile_id,
            status=status,
        )
        if status == "Installed":
            await self._mark_replaced(session, profile, connector_id)
        log.info(
            "SetChargingProfile %s on %s/%s: %s",
            profile.chargingprofile_id,
            profile.chargepoint_id,
            connector_id,
            outcome_label(outcome),
        )
        return Installed(status, outcome)

    async def _mark_replaced(
        self, session: AsyncSession, profile: ChargingProfile, connector_id: int
    ) -> None:
        assert profile.chargepoint_id is not None
        await mark_replaced(
            session, profile, chargepoint_id=profile.chargepoint_id, connector_id=connector_id
        )

    async def clear_targets(
        self, session: AsyncSession, profile: ChargingProfile
    ) -> list[ClearTarget]:
        """Where `profile` is installed or pending (ClearChargingProfile goes there)."""
        i = ChargingProfileInstallation
        rows = (
            await session.execute(
                select(i.chargepoint_id, i.connectorid, i.status, ChargePoint.ocpp_version)
                .outerjoin(ChargePoint, ChargePoint.chargepoint_id == i.chargepoint_id)
                .where(
                    i.chargingprofile_id == profile.chargingprofile_id,
                    i.status.in_(("Installed", "Pending")),
                )
            )
        ).all()
        return [
            ClearTarget(cp, connector, previous, version)
            for cp, connector, previous, version in rows
        ]

    async def send_clear(self, profile_id: int, target: ClearTarget) -> CommandOutcome:
        """Send ClearChargingProfile(id) to one charge point (no database work)."""
        # 1.6 ClearChargingProfile.req `id`; 2.0.1 ClearChargingProfileRequest `chargingProfileId`.
        key = "chargingProfileId" if target.ocpp_version == OCPP201 else "id"
        return await self.sender(
            chargepoint_id=target.chargepoint_id,
            action="ClearChargingProfile",
            payload={key: profile_id},
        )

    async def record_clear(
        self, session: AsyncSession, profile_id: int, target: ClearTarget, outcome: CommandOutcome
    ) -> Installed:
        """Record how ClearChargingProfile ended on one charge point.

        `Unknown` (the charge point does not have it) also counts as cleared (OCPP 1.6
        §6.5: no profile matched). Refused, offline, no answer: it stays as it was.
        """
        if isinstance(outcome, Result) and outcome.payload.get("status") in (
            "Accepted",
            "Unknown",
        ):
            status = "Cleared"
        else:
            status = target.previous
            log.warning(
                "ClearChargingProfile %s on %s: %s",
                profile_id,
                target.chargepoint_id,
                outcome_label(outcome),
            )
        await self._record(
            session,
            chargepoint_id=target.chargepoint_id,
            connector_id=target.connector_id,
            profile_id=profile_id,
            status=status,
        )
        return Installed(status, outcome)

    async def composite_schedule(
        self, *, chargepoint_id: str, connector_id: int, duration: int, unit: str | None = None
    ) -> CommandOutcome:
        """Ask the charge point for its composite schedule (GetCompositeSchedule.req)."""
        payload: dict[str, Any] = {"connectorId": connector_id, "duration": duration}
        if unit is not None:
            payload["chargingRateUnit"] = unit
        return await self.sender(
            chargepoint_id=chargepoint_id, action="GetCompositeSchedule", payload=payload
        )

    async def set_balancing_limit(
        self,
        *,
        chargepoint_id: str,
        connector_id: int,
        transaction_id: int,
        limit: Decimal,
        unit: str,
        station: Station = AS_16,
    ) -> CommandOutcome:
        """Install the load balancer's TxProfile: one Relative period at `limit` (0 = pause),
        in the station's version (2.0.1: `evseId`, `chargingProfile` with the station's
        transactionId and a schedule list; 1.6: `connectorId`, `csChargingProfiles`)."""
        wire = {
            "chargingProfileId": balancing_profile_id(connector_id),
            "transactionId": transaction_id,
            "stackLevel": BALANCING_STACK_LEVEL,
            "chargingProfilePurpose": TX_PROFILE,
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(limit)}],
            },
        }
        payload = set_charging_profile_payload(
            wire,
            connector_id=connector_id,
            ocpp_version=station.ocpp_version,
            remote_transaction_id=station.remote_transaction_id,
        )
        return await self.sender(
            chargepoint_id=chargepoint_id, action="SetChargingProfile", payload=payload
        )
