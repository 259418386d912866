"""Effects of profile commands sent through the commands API, from the command log (outbox).

Profiles the charging service sends itself (installer.py) are recorded where it sends them.
A SetChargingProfile / ClearChargingProfile an operator sends with
`POST /chargepoints/{id}/commands/...` is recorded here, in `seq` order with the charge
point's other commands (shared/command_outbox.py), on `csms.charging.command-effects`:

- SetChargingProfile Accepted -> the profile as a `charging_profile` row (its id is the
  sent `chargingProfileId`; target = this charge point and connectorId) and an `Installed`
  installation; other profiles installed on that connector with the same purpose and stack
  level become `Replaced` (OCPP 1.6 §5.16.2). If the id already names a profile:
  - targeted at this charge point: its definition becomes what was sent (§5.16.2: a
    profile with the same chargingProfileId SHALL be replaced);
  - otherwise (another charge point's, or a template): recorded only if the definition sent
    is that profile's own; else logged and not recorded (the id names another profile).
  A `transactionId` the transactions table does not hold is left out (the column is a
  foreign key). The id sequence of `charging_profile` is moved past the sent id, so the
  API's next profile does not collide with it.
- ClearChargingProfile Accepted or Unknown (§6.5: no profile matched, so none is installed)
  -> the matching `Installed` / `Pending` installations on this charge point become
  `Cleared`: by `id` if given, else by connectorId, chargingProfilePurpose and stackLevel
  (each when given; none given = every profile of the charge point).

The 2.0.1 commands' effects are in command_effects_v201.py (same consumer, same cursor).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Final

from sqlalchemy import exists, select, text, update

from services.charging.installer import mark_replaced, record_installation
from shared.charging.profiles import cs_charging_profile
from shared.command_outbox import Effect, effect_routes
from shared.db.models import ChargingProfile, ChargingProfileInstallation, Transaction
from shared.dispatch import HandlerContext, Route

log = logging.getLogger(__name__)

CONSUMER: Final = "charging"
"""This service's cursors in `command_effect_cursor`."""
DESCRIPTION: Final = "sent with the commands API"

_BUMP_SEQUENCE = text(
    "SELECT setval(pg_get_serial_sequence('charging_profile', 'chargingprofile_id'), :id)"
    " WHERE :id > coalesce((SELECT last_value FROM pg_sequences"
    "  WHERE schemaname = current_schema()"
    "  AND sequencename = 'charging_profile_chargingprofile_id_seq'), 0)"
)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def profile_columns(profile: dict[str, Any]) -> dict[str, Any]:
    """The `charging_profile` columns of a csChargingProfiles object (wire names, 1.6 §7.8)."""
    schedule = profile["chargingSchedule"]
    periods = [
        {
            "startPeriod": int(p["startPeriod"]),
            "limit": p["limit"],
            **({"numberPhases": int(p["numberPhases"])} if "numberPhases" in p else {}),
        }
        for p in schedule["chargingSchedulePeriod"]
    ]
    return {
        "stack_level": int(profile["stackLevel"]),
        "chargingprofile_purpose": str(profile["chargingProfilePurpose"]),
        "chargingprofile_kind": str(profile["chargingProfileKind"]),
        "recurrency_kind": profile.get("recurrencyKind"),
        "valid_from": _time(profile.get("validFrom")),
        "valid_to": _time(profile.get("validTo")),
        "duration": schedule.get("duration"),
        "start_schedule": _time(schedule.get("startSchedule")),
        "charging_rate_unit": str(schedule["chargingRateUnit"]),
        "chargingschedule_period": periods,
        "min_charging_rate": schedule.get("minChargingRate"),
    }


async def _transaction(ctx: HandlerContext, transaction_id: object) -> int | None:
    if not isinstance(transaction_id, int) or isinstance(transaction_id, bool):
        return None
    known = await ctx.session.scalar(
        select(exists().where(Transaction.transaction_id == transaction_id))
    )
    return transaction_id if known else None


async def set_charging_profile(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Accepted -> the profile and its installation (see the module docstring)."""
    if response.get("status") != "Accepted":
        return
    connector_id = request.get("connectorId")
    sent = request.get("csChargingProfiles")
    if not isinstance(connector_id, int) or not isinstance(sent, dict):
        log.warning("SetChargingProfile request not readable: %r; not recorded", request)
        return
    profile_id = sent.get("chargingProfileId")
    if not isinstance(profile_id, int):
        log.warning("SetChargingProfile without chargingProfileId: not recorded")
        return
    await record_sent_profile(
        ctx,
        chargepoint_id,
        connector_id=connector_id,
        profile_id=profile_id,
        sent=sent,
        transaction_id=await _transaction(ctx, sent.get("transactionId")),
    )


async def record_sent_profile(
    ctx: HandlerContext,
    chargepoint_id: str,
    *,
    connector_id: int,
    profile_id: int,
    sent: dict[str, Any],
    transaction_id: int | None,
) -> None:
    """An accepted profile (`sent`: 1.6 csChargingProfiles wire form) as a `charging_profile`
    row and its `Installed` installation (see the module docstring)."""
    columns = {
        **profile_columns(sent),
        "transaction_id": transaction_id,
        "chargepoint_id": chargepoint_id,
        "connector_id": connector_id,
    }
    session = ctx.session
    row = await session.get(ChargingProfile, profile_id, with_for_update=True)
    if row is None:
        row = ChargingProfile(chargingprofile_id=profile_id, description=DESCRIPTION, **columns)
        session.add(row)
        await session.flush()
        await session.execute(_BUMP_SEQUENCE, {"id": profile_id})
    elif row.chargepoint_id == chargepoint_id:
        for name, value in columns.items():
            setattr(row, name, value)
        await session.flush()
    elif _wire(cs_charging_profile(row)) != _wire(sent):
        log.warning(
            "SetChargingProfile %d accepted by %s, but profile %d is another definition "
            "(target %s): installation not recorded",
            profile_id,
            chargepoint_id,
            profile_id,
            row.chargepoint_id,
        )
        return
    await record_installation(
        session,
        chargepoint_id=chargepoint_id,
        connector_id=connector_id,
        profile_id=profile_id,
        status="Installed",
    )
    await mark_replaced(session, row, chargepoint_id=chargepoint_id, connector_id=connector_id)


def _wire(profile: dict[str, Any]) -> dict[str, Any]:
    """A profile's definition for comparison (numbers as floats, no transaction id)."""
    columns = profile_columns(profile)
    columns["chargingschedule_period"] = [
        {**p, "limit": float(p["limit"])} for p in columns["chargingschedule_period"]
    ]
    if columns["min_charging_rate"] is not None:
        columns["min_charging_rate"] = float(columns["min_charging_rate"])
    return columns


async def clear_charging_profile(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Accepted / Unknown -> the matching installations on this charge point are Cleared."""
    if response.get("status") not in ("Accepted", "Unknown"):
        return
    profile_id = request.get("id")
    connector_id = request.get("connectorId")
    purpose = request.get("chargingProfilePurpose")
    stack_level = request.get("stackLevel")
    await clear_installations(
        ctx,
        chargepoint_id,
        profile_id=profile_id if isinstance(profile_id, int) else None,
        connector_id=connector_id if isinstance(connector_id, int) else None,
        purpose=purpose if isinstance(purpose, str) else None,
        stack_level=stack_level if isinstance(stack_level, int) else None,
    )


async def clear_installations(
    ctx: HandlerContext,
    chargepoint_id: str,
    *,
    profile_id: int | None,
    connector_id: int | None,
    purpose: str | None,
    stack_level: int | None,
) -> None:
    """The matching `Installed` / `Pending` installations on this charge point become
    `Cleared`: by profile id if given, else by connector, purpose and stack level as given."""
    i = ChargingProfileInstallation
    stmt = update(i).where(
        i.chargepoint_id == chargepoint_id, i.status.in_(("Installed", "Pending"))
    )
    if profile_id is not None:
        stmt = stmt.where(i.chargingprofile_id == profile_id)
    else:
        if connector_id is not None:
            stmt = stmt.where(i.connectorid == connector_id)
        matching = select(ChargingProfile.chargingprofile_id)
        if purpose is not None:
            matching = matching.where(ChargingProfile.chargingprofile_purpose == purpose)
        if stack_level is not None:
            matching = matching.where(ChargingProfile.stack_level == stack_level)
        if purpose is not None or stack_level is not None:
            stmt = stmt.where(i.chargingprofile_id.in_(matching))
    await ctx.session.execute(stmt.values(status="Cleared"))


EFFECTS: dict[str, Effect] = {
    "SetChargingProfile": set_charging_profile,
    "ClearChargingProfile": clear_charging_profile,
}
"""Action -> effect of its CALLRESULT (other outcomes change nothing)."""

from services.charging import command_effects_v201  # noqa: E402 - it uses the helpers above

ROUTES: list[Route[Any]] = effect_routes(CONSUMER, EFFECTS, command_effects_v201.EFFECTS)
"""Add to the charging service's route table (consumed on its `command-effects` queue)."""
