"""OCPP 2.0.1 smart-charging messages of the stations (block K), in the charging service
where the state they feed lives:

- NotifyChargingLimit (K12): the external limit (ChargingStationExternalConstraints) of a
  source on the station (evseId absent or 0) or an EVSE is stored in `charging_limit`,
  replacing the source's earlier one there; ClearedChargingLimit (K13) removes the
  source's limits (of the EVSE named, else of the whole station). Both ask the load
  balancer to recompute the station's location (`charging.constraints_changed`): the
  limit caps the station's sessions (loadmanager.py).
- ReportChargingProfiles (K09, after GetChargingProfiles): the reported profiles are the
  station's `reported_charging_profile` rows. A report of a new requestId replaces those of
  earlier requests; the parts of one request (`tbc`) add up.
- NotifyEVChargingNeeds (K15): the EV's needs (energy, max/min current, max power,
  departure) stored per EVSE for the transaction on it; answered Accepted when the station
  is at a balanced location (the balancer sends its TxProfile for the session again, with
  the EV's maximum as a cap: "a schedule will be provided momentarily"), else Rejected
  (K15: "no charging schedule will be provided").
- NotifyEVChargingSchedule (K17): the EV's chosen schedule stored with its needs; Accepted.

The gateway answers NotifyChargingLimit, ClearedChargingLimit and ReportChargingProfiles
`{}` once queued; NotifyEVChargingNeeds / NotifyEVChargingSchedule are answered here (RPC).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.charging.loadmanager import RESEND
from shared.db.enums import TX_ACTIVE
from shared.db.models import (
    BalancingAllocation,
    ChargePoint,
    ChargingLimit,
    EvChargingNeed,
    Location,
    ReportedChargingProfile,
    Transaction,
)
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.event_names import CHARGING_CONSTRAINTS_CHANGED
from shared.ocpp.v201.cleared_charging_limit_request import ClearedChargingLimitRequest
from shared.ocpp.v201.common import (
    GenericStatusEnumType,
    NotifyEVChargingNeedsStatusEnumType,
)
from shared.ocpp.v201.notify_charging_limit_request import NotifyChargingLimitRequest
from shared.ocpp.v201.notify_ev_charging_needs_request import NotifyEVChargingNeedsRequest
from shared.ocpp.v201.notify_ev_charging_needs_response import NotifyEVChargingNeedsResponse
from shared.ocpp.v201.notify_ev_charging_schedule_request import (
    NotifyEVChargingScheduleRequest,
)
from shared.ocpp.v201.notify_ev_charging_schedule_response import (
    NotifyEVChargingScheduleResponse,
)
from shared.ocpp.v201.report_charging_profiles_request import ReportChargingProfilesRequest

log = logging.getLogger(__name__)

STATION = 0
"""evseId of the whole station (a limit without evseId applies to it)."""


def wire(model: Any) -> Any:
    """A model as on the wire (camelCase, no absent fields, JSON types)."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def _changed(ctx: HandlerContext, evse_id: int, why: str) -> None:
    ctx.emit(CHARGING_CONSTRAINTS_CHANGED, {"evse_id": evse_id, "why": why}, ctx.chargepoint_id)


async def notify_charging_limit(
    ctx: HandlerContext, env: Envelope, req: NotifyChargingLimitRequest
) -> None:
    """K12: store the source's limit on the station / EVSE (replacing its earlier one)."""
    evse_id = req.evse_id or STATION
    limit = req.charging_limit
    schedule = [wire(s) for s in req.charging_schedule] if req.charging_schedule else None
    stmt = pg_insert(ChargingLimit).values(
        chargepoint_id=ctx.chargepoint_id,
        evse_id=evse_id,
        source=limit.charging_limit_source.value,
        grid_critical=limit.is_grid_critical,
        schedule=schedule,
        updated_at=ctx.now,
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["chargepoint_id", "evse_id", "source"],
            set_={
                "grid_critical": stmt.excluded.grid_critical,
                "schedule": stmt.excluded.schedule,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )
    _changed(ctx, evse_id, env.action)


async def cleared_charging_limit(
    ctx: HandlerContext, env: Envelope, req: ClearedChargingLimitRequest
) -> None:
    """K13: the source's limits end (on the EVSE named, else everywhere on the station)."""
    stmt = delete(ChargingLimit).where(
        ChargingLimit.chargepoint_id == ctx.chargepoint_id,
        ChargingLimit.source == req.charging_limit_source.value,
    )
    if req.evse_id is not None:
        stmt = stmt.where(ChargingLimit.evse_id == req.evse_id)
    await ctx.session.execute(stmt)
    _changed(ctx, req.evse_id or STATION, env.action)


async def report_charging_profiles(
    ctx: HandlerContext, env: Envelope, req: ReportChargingProfilesRequest
) -> None:
    """K09: the station holds these profiles (a new requestId replaces earlier reports)."""
    r = ReportedChargingProfile
    await ctx.session.execute(
        delete(r).where(r.chargepoint_id == ctx.chargepoint_id, r.request_id != req.request_id)
    )
    for profile in req.charging_profile:
        stmt = pg_insert(r).values(
            chargepoint_id=ctx.chargepoint_id,
            evse_id=req.evse_id,
            chargingprofile_id=profile.id,
            request_id=req.request_id,
            charging_limit_source=req.charging_limit_source.value,
            profile=wire(profile),
            reported_at=ctx.now,
        )
        await ctx.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["chargepoint_id", "evse_id", "chargingprofile_id"],
                set_={
                    "request_id": stmt.excluded.request_id,
                    "charging_limit_source": stmt.excluded.charging_limit_source,
                    "profile": stmt.excluded.profile,
                    "reported_at": stmt.excluded.reported_at,
                },
            )
        )
    if req.tbc:
        log.info("ReportChargingProfiles %d of %s: more parts follow", req.request_id, env.action)


def _number(value: int | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


async def _balanced(ctx: HandlerContext) -> bool:
    """Whether the station is at a location with a grid limit (the balancer sends it
    TxProfiles)."""
    found = await ctx.session.scalar(
        select(Location.grid_limit)
        .join(ChargePoint, ChargePoint.location_uuid == Location.uuid)
        .where(ChargePoint.chargepoint_id == ctx.chargepoint_id)
    )
    return found is not None


async def notify_ev_charging_needs(
    ctx: HandlerContext, env: Envelope, req: NotifyEVChargingNeedsRequest
) -> NotifyEVChargingNeedsResponse:
    """K15: store the EV's needs for the EVSE's transaction; Accepted when the balancer will
    send a schedule (a balanced location), else Rejected."""
    needs = req.charging_needs
    ac, dc = needs.ac_charging_parameters, needs.dc_charging_parameters
    transaction_id = await ctx.session.scalar(
        select(Transaction.transaction_id)
        .where(
            Transaction.chargepoint_id == ctx.chargepoint_id,
            Transaction.connectorid == req.evse_id,
            Transaction.status == TX_ACTIVE,
        )
        .order_by(Transaction.start_transaction_timestamp.desc())
        .limit(1)
    )
    values: dict[str, Any] = {
        "transaction_id": transaction_id,
        "requested_energy_transfer": needs.requested_energy_transfer.value,
        "departure_time": needs.departure_time,
        "energy_amount": _number(
            ac.energy_amount if ac is not None else dc.energy_amount if dc is not None else None
        ),
        "ev_min_current": _number(ac.ev_min_current if ac is not None else None),
        "ev_max_current": _number(
            ac.ev_max_current if ac is not None else dc.ev_max_current if dc is not None else None
        ),
        "ev_max_power": _number(dc.ev_max_power if dc is not None else None),
        "ev_max_voltage": _number(
            ac.ev_max_voltage if ac is not None else dc.ev_max_voltage if dc is not None else None
        ),
        "needs": wire(needs),
        "received_at": ctx.now,
        "ev_schedule": None,
        "ev_schedule_timebase": None,
    }
    stmt = pg_insert(EvChargingNeed).values(
        chargepoint_id=ctx.chargepoint_id, evse_id=req.evse_id, **values
    )
    await ctx.session.execute(
        stmt.on_conflict_do_update(index_elements=["chargepoint_id", "evse_id"], set_=values)
    )
    if not await _balanced(ctx):
        return NotifyEVChargingNeedsResponse(status=NotifyEVChargingNeedsStatusEnumType.rejected)
    if transaction_id is not None:
        # The session's limit is sent again (with the EV's cap), even if unchanged: Pending
        # with the installed limit kept, so the sum of what is installed stays known.
        await ctx.session.execute(
            update(BalancingAllocation)
            .where(BalancingAllocation.transaction_id == transaction_id)
            .values(status=RESEND)
        )
    _changed(ctx, req.evse_id, env.action)
    return NotifyEVChargingNeedsResponse(status=NotifyEVChargingNeedsStatusEnumType.accepted)


async def notify_ev_charging_schedule(
    ctx: HandlerContext, env: Envelope, req: NotifyEVChargingScheduleRequest
) -> NotifyEVChargingScheduleResponse:
    """K17: the EV's schedule, stored with its needs (Accepted; Rejected when the EVSE sent
    no needs first)."""
    n = EvChargingNeed
    done = await ctx.session.execute(
        update(n)
        .where(n.chargepoint_id == ctx.chargepoint_id, n.evse_id == req.evse_id)
        .values(ev_schedule=wire(req.charging_schedule), ev_schedule_timebase=req.time_base)
        .returning(n.evse_id)
    )
    status = (
        GenericStatusEnumType.accepted
        if done.first() is not None
        else GenericStatusEnumType.rejected
    )
    return NotifyEVChargingScheduleResponse(status=status)
