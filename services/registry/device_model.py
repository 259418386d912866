"""The OCPP 2.0.1 device model of a station: writes shared by the report handlers and the
command effects (docs/data-model.md "Device model").

Components, variables, attributes and monitors are upserted by what identifies them in the
protocol (component name, instance, EVSE, connector; variable name, instance; attribute
type; monitor id), so a report received twice, or a GetVariables after a NotifyReport,
writes the same rows. Names are case-insensitive (2.0.1 Part 2 §2.1: "all names of
components and variables are case-insensitive"): a name that differs from a stored one
only in case is the stored one.

Every write runs under the registry's batch locks (the charge point's advisory lock,
locking.py), so two batches never upsert one station's rows at the same time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Table, and_, bindparam, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.models import (
    ChargePoint,
    ChargePointConfiguration,
    DeviceComponent,
    DeviceMonitor,
    DeviceReport,
    DeviceReportPart,
    DeviceVariable,
    DeviceVariableAttribute,
    DisplayMessage,
)
from shared.ocpp.v201.common import (
    ComponentType,
    MessageInfoType,
    VariableCharacteristicsType,
    VariableType,
)

log = logging.getLogger(__name__)

COMPONENT: Table = DeviceComponent.__table__  # type: ignore[assignment]
VARIABLE: Table = DeviceVariable.__table__  # type: ignore[assignment]
ATTRIBUTE: Table = DeviceVariableAttribute.__table__  # type: ignore[assignment]
MONITOR: Table = DeviceMonitor.__table__  # type: ignore[assignment]
REPORT: Table = DeviceReport.__table__  # type: ignore[assignment]
PART: Table = DeviceReportPart.__table__  # type: ignore[assignment]
DISPLAY_MESSAGE: Table = DisplayMessage.__table__  # type: ignore[assignment]
CHARGEPOINT: Table = ChargePoint.__table__  # type: ignore[assignment]
CONFIGURATION: Table = ChargePointConfiguration.__table__  # type: ignore[assignment]
WRITABLE: Final = ("ReadWrite", "WriteOnly")

ComponentKey = tuple[str, str | None, int | None, int | None]
"""(name, instance, evse id, connector id) of a component."""
VariableKey = tuple[ComponentKey, str, str | None]
"""(component, variable name, variable instance)."""

CHARACTERISTICS: Final = (
    "unit",
    "data_type",
    "min_limit",
    "max_limit",
    "values_list",
    "supports_monitoring",
)


def _component_upsert() -> Any:
    stmt = pg_insert(COMPONENT)
    # DO UPDATE (a no-op on the name) so RETURNING yields the existing rows too.
    return stmt.on_conflict_do_update(
        constraint="uq_device_component_identity", set_={"name": stmt.excluded.name}
    ).returning(
        COMPONENT.c.id,
        COMPONENT.c.name,
        COMPONENT.c.instance,
        COMPONENT.c.evse_id,
        COMPONENT.c.connector_id,
    )


def _variable_upsert(*, characteristics: bool) -> Any:
    stmt = pg_insert(VARIABLE)
    set_: dict[str, Any] = {"updated_at": stmt.excluded.updated_at}
    if characteristics:
        set_.update({name: stmt.excluded[name] for name in CHARACTERISTICS})
    return stmt.on_conflict_do_update(
        constraint="uq_device_variable_identity", set_=set_
    ).returning(VARIABLE.c.id, VARIABLE.c.component_id, VARIABLE.c.name, VARIABLE.c.instance)


def _attribute_upsert() -> Any:
    stmt = pg_insert(ATTRIBUTE)
    keep = {
        name: func.coalesce(stmt.excluded[name], ATTRIBUTE.c[name])
        for name in ("mutability", "persistent", "constant")
    }
    return stmt.on_conflict_do_update(
        index_elements=["variable_id", "type"],
        set_={
            "value": stmt.excluded.value,
            "reboot_required": stmt.excluded.reboot_required,
            "updated_at": stmt.excluded.updated_at,
            **keep,
        },
    )


def _monitor_upsert() -> Any:
    stmt = pg_insert(MONITOR)
    return stmt.on_conflict_do_update(
        index_elements=["chargepoint_id", "monitor_id"],
        set_={
            **{
                name: stmt.excluded[name]
                for name in (
                    "variable_id",
                    "transaction",
                    "value",
                    "type",
                    "severity",
                    "updated_at",
                )
            },
            # A report does not say where a monitor comes from: what is known is kept.
            "origin": func.coalesce(stmt.excluded.origin, MONITOR.c.origin),
        },
    )


DISPLAY_COLUMNS: Final = (
    "priority",
    "state",
    "start_date_time",
    "end_date_time",
    "transaction_id",
    "content",
    "format",
    "language",
    "display_name",
    "display_evse_id",
    "updated_at",
)


def _display_upsert() -> Any:
    stmt = pg_insert(DISPLAY_MESSAGE)
    return stmt.on_conflict_do_update(
        index_elements=["chargepoint_id", "message_id"],
        set_={name: stmt.excluded[name] for name in DISPLAY_COLUMNS},
    )


# Built once: executed with parameter lists (executemany / insertmanyvalues), so a report
# part of hundreds of variables costs no statement compilation (docs/performance.md).
COMPONENT_UPSERT: Final = _component_upsert()
VARIABLE_UPSERT: Final = _variable_upsert(characteristics=False)
VARIABLE_UPSERT_CHARACTERISTICS: Final = _variable_upsert(characteristics=True)
ATTRIBUTE_UPSERT: Final = _attribute_upsert()
MONITOR_UPSERT: Final = _monitor_upsert()
DISPLAY_UPSERT: Final = _display_upsert()
MONITOR_ORIGIN_UPDATE: Final = (
    update(MONITOR)
    .where(
        MONITOR.c.chargepoint_id == bindparam("cp"),
        MONITOR.c.monitor_id == bindparam("monitor"),
        MONITOR.c.origin.is_distinct_from(bindparam("new_origin")),
    )
    .values(origin=bindparam("new_origin"))
)


def component_key(component: ComponentType) -> ComponentKey:
    """The identity of a reported component."""
    evse = component.evse
    return (
        component.name,
        component.instance,
        evse.id if evse is not None else None,
        evse.connector_id if evse is not None else None,
    )


def variable_key(component: ComponentType, variable: VariableType) -> VariableKey:
    """The identity of a reported variable of a component."""
    return (component_key(component), variable.name, variable.instance)


def flat_key(key: VariableKey) -> str:
    """`Component[:instance][@evse[/connector]].Variable[:instance]`: the variable's key in
    the flat `chargepoint_configuration` view."""
    (name, instance, evse, connector), var_name, var_instance = key
    text = name
    if instance:
        text += f":{instance}"
    if evse is not None:
        text += f"@{evse}"
        if connector is not None:
            text += f"/{connector}"
    text += f".{var_name}"
    if var_instance:
        text += f":{var_instance}"
    return text


def folded(key: VariableKey) -> tuple[Any, ...]:
    """`key` with its names lower-cased: how two spellings of one variable compare."""
    (name, instance, evse, connector), var_name, var_instance = key
    return (
        name.lower(),
        (instance or "").lower(),
        evse,
        connector,
        var_name.lower(),
        (var_instance or "").lower(),
    )


def characteristics_row(
    characteristics: VariableCharacteristicsType | None,
) -> dict[str, Any] | None:
    """The device_variable columns of reported characteristics (None: not reported)."""
    if characteristics is None:
        return None
    return {
        "unit": characteristics.unit,
        "data_type": characteristics.data_type.value,
        "min_limit": characteristics.min_limit,
        "max_limit": characteristics.max_limit,
        "values_list": characteristics.values_list,
        "supports_monitoring": characteristics.supports_monitoring,
    }


async def _stored_spellings(
    session: AsyncSession, chargepoint_id: str, keys: Iterable[VariableKey]
) -> dict[tuple[Any, ...], VariableKey]:
    """folded key -> the key as stored, for the given keys a station already has."""
    names = {key[0][0].lower() for key in keys}
    if not names:
        return {}
    rows = await session.execute(
        select(
            COMPONENT.c.name,
            COMPONENT.c.instance,
            COMPONENT.c.evse_id,
            COMPONENT.c.connector_id,
            VARIABLE.c.name.label("variable_name"),
            VARIABLE.c.instance.label("variable_instance"),
        )
        .join(VARIABLE, VARIABLE.c.component_id == COMPONENT.c.id)
        .where(
            COMPONENT.c.chargepoint_id == chargepoint_id,
            func.lower(COMPONENT.c.name).in_(sorted(names)),
        )
    )
    stored: dict[tuple[Any, ...], VariableKey] = {}
    for r in rows:
        key: VariableKey = (
            (r.name, r.instance, r.evse_id, r.connector_id),
            r.variable_name,
            r.variable_instance,
        )
        stored[folded(key)] = key
    return stored


async def upsert_variables(
    session: AsyncSession,
    chargepoint_id: str,
    variables: Mapping[VariableKey, dict[str, Any] | None],
    now: datetime,
) -> dict[tuple[Any, ...], int]:
    """Upsert components and variables (with their characteristics when given, else kept);
    folded key -> variable id for every key given."""
    if not variables:
        return {}
    stored = await _stored_spellings(session, chargepoint_id, variables)
    wanted: dict[tuple[Any, ...], tuple[VariableKey, dict[str, Any] | None]] = {}
    for key, characteristics in variables.items():
        fold = folded(key)
        canonical = stored.get(fold, key)
        previous = wanted.get(fold)
        if previous is not None and characteristics is None:
            characteristics = previous[1]
        wanted[fold] = (canonical, characteristics)
    components = sorted(
        {key[0] for key, _ in wanted.values()},
        key=lambda c: (c[0], c[1] or "", c[2] or 0, c[3] or 0),
    )
    returned = await session.execute(
        COMPONENT_UPSERT,
        [
            {
                "chargepoint_id": chargepoint_id,
                "name": name,
                "instance": instance,
                "evse_id": evse,
                "connector_id": connector,
            }
            for name, instance, evse, connector in components
        ],
    )
    component_ids = {(r.name, r.instance, r.evse_id, r.connector_id): r.id for r in returned}
    rows = []
    for (component, name, instance), characteristics in sorted(
        wanted.values(), key=lambda item: folded(item[0])
    ):
        row: dict[str, Any] = {
            "chargepoint_id": chargepoint_id,
            "component_id": component_ids[component],
            "name": name,
            "instance": instance,
            "updated_at": now,
            "reported": characteristics is not None,
        }
        row.update(characteristics or dict.fromkeys(CHARACTERISTICS))
        rows.append(row)
    by_component = {v: k for k, v in component_ids.items()}
    ids: dict[tuple[Any, ...], int] = {}
    for reported in (True, False):
        batch = [r for r in rows if r["reported"] is reported]
        if not batch:
            continue
        returned = await session.execute(
            VARIABLE_UPSERT_CHARACTERISTICS if reported else VARIABLE_UPSERT,
            [{k: v for k, v in r.items() if k != "reported"} for r in batch],
        )
        # Mapped back by what the rows say (RETURNING of an upsert is in no promised order).
        for r in returned:
            ids[folded((by_component[r.component_id], r.name, r.instance))] = r.id
    return ids


@dataclass(frozen=True, slots=True)
class AttributeWrite:
    """One attribute value to store. Flags left None keep what is stored."""

    variable: VariableKey
    type: str
    value: str | None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None
    reboot_required: bool = False


async def write_attributes(
    session: AsyncSession,
    chargepoint_id: str,
    attributes: Sequence[AttributeWrite],
    now: datetime,
    *,
    characteristics: Mapping[VariableKey, dict[str, Any] | None] | None = None,
) -> int:
    """Upsert the variables of `attributes` (and `characteristics`) and the attributes; the
    number of attribute rows written."""
    variables: dict[VariableKey, dict[str, Any] | None] = dict(characteristics or {})
    for attribute in attributes:
        variables.setdefault(attribute.variable, None)
    ids = await upsert_variables(session, chargepoint_id, variables, now)
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for a in attributes:
        variable_id = ids[folded(a.variable)]
        rows[(variable_id, a.type)] = {
            "variable_id": variable_id,
            "type": a.type,
            "value": a.value,
            "mutability": a.mutability,
            "persistent": a.persistent,
            "constant": a.constant,
            "reboot_required": a.reboot_required,
            "updated_at": now,
        }
    if not rows:
        return 0
    await session.execute(ATTRIBUTE_UPSERT, [rows[k] for k in sorted(rows)])
    return len(rows)


async def forget_variables(
    session: AsyncSession, chargepoint_id: str, keys: Iterable[VariableKey]
) -> None:
    """Delete the variables (with their attributes and monitors) a station says it does not
    have (GetVariables UnknownComponent / UnknownVariable)."""
    keys = list(keys)
    if not keys:
        return
    stored = await _stored_spellings(session, chargepoint_id, keys)
    for key in keys:
        canonical = stored.get(folded(key))
        if canonical is None:
            continue
        (name, instance, evse, connector), var_name, var_instance = canonical
        component_ids = select(COMPONENT.c.id).where(
            COMPONENT.c.chargepoint_id == chargepoint_id,
            COMPONENT.c.name == name,
            COMPONENT.c.instance.is_not_distinct_from(instance),
            COMPONENT.c.evse_id.is_not_distinct_from(evse),
            COMPONENT.c.connector_id.is_not_distinct_from(connector),
        )
        await session.execute(
            delete(VARIABLE).where(
                VARIABLE.c.component_id.in_(component_ids),
                VARIABLE.c.name == var_name,
                VARIABLE.c.instance.is_not_distinct_from(var_instance),
            )
        )


@dataclass(frozen=True, slots=True)
class MonitorWrite:
    """One monitor as a station reported or accepted it."""

    variable: VariableKey
    monitor_id: int
    transaction: bool
    value: Any
    type: str
    severity: int
    origin: str | None = None


async def write_monitors(
    session: AsyncSession, chargepoint_id: str, monitors: Sequence[MonitorWrite], now: datetime
) -> int:
    """Upsert monitors (and their variables) by monitor id; the number written."""
    if not monitors:
        return 0
    ids = await upsert_variables(
        session, chargepoint_id, dict.fromkeys((m.variable for m in monitors), None), now
    )
    rows = {
        m.monitor_id: {
            "chargepoint_id": chargepoint_id,
            "monitor_id": m.monitor_id,
            "variable_id": ids[folded(m.variable)],
            "transaction": m.transaction,
            "value": m.value,
            "type": m.type,
            "severity": m.severity,
            "origin": m.origin,
            "updated_at": now,
        }
        for m in monitors
    }
    await session.execute(MONITOR_UPSERT, [rows[k] for k in sorted(rows)])
    return len(rows)


async def delete_monitors(session: AsyncSession, chargepoint_id: str, ids: Iterable[int]) -> None:
    """Forget the monitors with these ids."""
    ids = sorted(set(ids))
    if ids:
        await session.execute(
            delete(MONITOR).where(
                MONITOR.c.chargepoint_id == chargepoint_id, MONITOR.c.monitor_id.in_(ids)
            )
        )


async def set_monitor_origins(
    session: AsyncSession, chargepoint_id: str, origins: Mapping[int, str]
) -> None:
    """Monitor id -> where it comes from (NotifyEvent's eventNotificationType), for the
    monitors stored; an id not stored yet is not remembered."""
    if not origins:
        return
    # One statement for the message (executemany); a known origin is not written again.
    await session.execute(
        MONITOR_ORIGIN_UPDATE,
        [
            {"cp": chargepoint_id, "monitor": monitor_id, "new_origin": origin}
            for monitor_id, origin in sorted(origins.items())
        ],
    )


async def apply_monitoring_base(
    session: AsyncSession, chargepoint_id: str, base: str, now: datetime
) -> None:
    """The station accepted SetMonitoringBase `base` (2.0.1 N03): forget the monitors it
    dropped, as far as their origin is known, and mark the stored list stale
    (`monitors_stale_since`) where the station changed what the CSMS cannot know.

    - All: every monitor stays; pre-configured monitors disabled before come back, so the
      list is stale unless the base already was All.
    - FactoryDefault: custom monitors are removed; the manufacturer's pre-configured set is
      restored (values, which ones are active): stale.
    - HardWiredOnly: every custom and pre-configured monitor is removed; stale only while a
      monitor of unknown origin remains (it may be either).
    """
    previous = await session.scalar(
        select(CHARGEPOINT.c.monitoring_base).where(CHARGEPOINT.c.chargepoint_id == chargepoint_id)
    )
    removed: tuple[str, ...] = ()
    if base == "FactoryDefault":
        removed = ("CustomMonitor",)
    elif base == "HardWiredOnly":
        removed = ("CustomMonitor", "PreconfiguredMonitor")
    if removed:
        await session.execute(
            delete(MONITOR).where(
                MONITOR.c.chargepoint_id == chargepoint_id, MONITOR.c.origin.in_(removed)
            )
        )
    if base == "All":
        stale = previous != "All"
    elif base == "FactoryDefault":
        stale = True
    else:
        stale = bool(
            await session.scalar(
                select(func.count()).where(
                    MONITOR.c.chargepoint_id == chargepoint_id, MONITOR.c.origin.is_(None)
                )
            )
        )
    values: dict[str, Any] = {"monitoring_base": base}
    if stale:
        # The latest change: only a report asked after it lists what the station has now.
        values["monitors_stale_since"] = now
    await session.execute(
        update(CHARGEPOINT).where(CHARGEPOINT.c.chargepoint_id == chargepoint_id).values(values)
    )


async def set_monitoring_level(session: AsyncSession, chargepoint_id: str, severity: int) -> None:
    """The station accepted SetMonitoringLevel (N04): it reports events of `severity` or
    more urgent (lower) only."""
    await session.execute(
        update(CHARGEPOINT)
        .where(CHARGEPOINT.c.chargepoint_id == chargepoint_id)
        .values(monitoring_level=severity)
    )


# -- reports ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartStored:
    """What storing a report part did: `new` (false: a resend, nothing to write) and
    `completed` (this part made the report Complete). Truthy when new."""

    new: bool
    completed: bool = False

    def __bool__(self) -> bool:
        return self.new


async def request_report(
    session: AsyncSession,
    chargepoint_id: str,
    *,
    kind: str,
    request_id: int,
    command: str,
    command_status: str,
    now: datetime,
    replaces: str | None = None,
) -> None:
    """The command asking for report `request_id` was answered `command_status`: the
    report's row (made now, or by parts that came first) says so. `replaces`: what the
    report replaces once Complete (`sweep_report`); when every part came first, now."""
    accepted = command_status == "Accepted"
    before = (
        await session.execute(
            select(REPORT.c.status, REPORT.c.command).where(
                REPORT.c.chargepoint_id == chargepoint_id,
                REPORT.c.kind == kind,
                REPORT.c.request_id == request_id,
            )
        )
    ).first()
    stmt = pg_insert(REPORT).values(
        chargepoint_id=chargepoint_id,
        kind=kind,
        request_id=request_id,
        command=command,
        command_status=command_status,
        status="Requested" if accepted else "Refused",
        parts=0,
        replaces=replaces if accepted else None,
        requested_at=now,
        updated_at=now,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["chargepoint_id", "kind", "request_id"],
            set_={
                "command": stmt.excluded.command,
                "replaces": stmt.excluded.replaces,
                "command_status": stmt.excluded.command_status,
                "requested_at": stmt.excluded.requested_at,
                "updated_at": stmt.excluded.updated_at,
                # Parts that arrived first decide the status; a refusal has none.
                "status": case((REPORT.c.parts == 0, stmt.excluded.status), else_=REPORT.c.status),
            },
        )
    )
    # Every part came before the answer (and this is the first time the answer is applied):
    # the report is complete only now that we know what it replaces.
    if (
        accepted
        and replaces is not None
        and before is not None
        and before.status == "Complete"
        and before.command is None
    ):
        await sweep_report(session, chargepoint_id, kind=kind, request_id=request_id, now=now)


async def record_part(
    session: AsyncSession,
    chargepoint_id: str,
    *,
    kind: str,
    request_id: int,
    seq_no: int | None,
    tbc: bool,
    generated_at: datetime | None,
    items: int,
    message_key: str | None,
    now: datetime,
    data: str | None = None,
) -> PartStored:
    """Store one part of a report; falsy when it was stored already (a resend: the caller
    writes nothing more). `completed`: this part completed the report; the caller, once it
    wrote the part's data, calls `sweep_report`.

    The part is keyed (station, kind, requestId, seqNo); `message_key` is what the part says
    (handlers/v201/reports.content_key). The same seqNo under another key is a new report
    reusing the requestId: seqNo 0 starts it afresh (the old
    parts are dropped), a later one replaces the stored part. `seq_no` None (a message
    without one): the next number.
    """
    key = (chargepoint_id, kind, request_id)
    restarted = False
    where = and_(
        PART.c.chargepoint_id == chargepoint_id,
        PART.c.kind == kind,
        PART.c.request_id == request_id,
    )
    if seq_no is None:
        # NotifyDisplayMessages has no seqNo: parts are numbered as they come, a resend is
        # known by its content key.
        if message_key is not None:
            seen = await session.scalar(
                select(PART.c.seq_no).where(where, PART.c.message_key == message_key)
            )
            if seen is not None:
                return PartStored(new=False)
        seq_no = int(await session.scalar(select(func.count()).where(where)) or 0)
    else:
        stored = (
            await session.execute(select(PART.c.message_key).where(where, PART.c.seq_no == seq_no))
        ).first()
        if stored is not None:
            if message_key is None or stored.message_key == message_key:
                return PartStored(new=False)
            if seq_no == 0:
                log.info("report %s/%s/%d starts again: earlier parts dropped", *key)
                await session.execute(delete(PART).where(where))
                restarted = True
            else:
                await session.execute(delete(PART).where(where, PART.c.seq_no == seq_no))
    await session.execute(
        pg_insert(PART).values(
            chargepoint_id=chargepoint_id,
            kind=kind,
            request_id=request_id,
            seq_no=seq_no,
            tbc=tbc,
            generated_at=generated_at,
            items=items,
            data=data,
            message_key=message_key,
            received_at=now,
        )
    )
    counts = (
        select(
            func.count().label("parts"),
            func.max(case((PART.c.tbc.is_(False), PART.c.seq_no))).label("last_seq_no"),
        )
        .where(where)
        .subquery()
    )
    parts = select(counts.c.parts).scalar_subquery()
    last = select(counts.c.last_seq_no).scalar_subquery()
    stmt = pg_insert(REPORT).values(
        chargepoint_id=chargepoint_id,
        kind=kind,
        request_id=request_id,
        status="Receiving",
        parts=0,
        updated_at=now,
    )
    await session.execute(
        stmt.on_conflict_do_nothing(index_elements=["chargepoint_id", "kind", "request_id"])
    )
    complete = and_(last.is_not(None), parts >= last + 1)
    # A restarted report completes anew (and sweeps again).
    was_complete = not restarted and await session.scalar(
        select(REPORT.c.status == "Complete").where(
            REPORT.c.chargepoint_id == chargepoint_id,
            REPORT.c.kind == kind,
            REPORT.c.request_id == request_id,
        )
    )
    status = await session.scalar(
        update(REPORT)
        .where(
            REPORT.c.chargepoint_id == chargepoint_id,
            REPORT.c.kind == kind,
            REPORT.c.request_id == request_id,
        )
        .values(
            parts=parts,
            last_seq_no=last,
            status=case((complete, "Complete"), else_="Receiving"),
            completed_at=case((complete, func.coalesce(REPORT.c.completed_at, now)), else_=None),
            updated_at=now,
        )
        .returning(REPORT.c.status)
    )
    return PartStored(new=True, completed=status == "Complete" and not was_complete)


async def sweep_report(
    session: AsyncSession, chargepoint_id: str, *, kind: str, request_id: int, now: datetime
) -> None:
    """Report `request_id` became Complete: if it is a whole inventory (`replaces`), what
    the station has is what it listed, so what it did not list is forgotten.

    What the report listed was written (or touched) by its parts, each at the time it was
    handled; so everything of the station written before the report started (the earlier
    of its request and its first part) and not touched since was not listed. Anything
    written after the report started is kept, listed or not: a SetVariables or
    SetVariableMonitoring answered while the station was sending the report is not in it,
    yet true. The sweep runs once, on the part (or the answer) that completes the report;
    resends write nothing, and a report restarted under its requestId sweeps again.

    - Variables (GetBaseReport FullInventory): every variable (with its attributes and
      monitors), its flat `chargepoint_configuration` key, and components left empty.
    - ConfigurableVariables (ConfigurationInventory): only variables with an attribute
      known to be ReadWrite or WriteOnly (the ones the report would have listed).
    - Monitors (GetMonitoringReport without criteria or component variables): every
      monitor; the station's `monitors_stale_since` is cleared when the report started
      after it.
    """
    report = (
        await session.execute(
            select(REPORT.c.replaces, REPORT.c.requested_at).where(
                REPORT.c.chargepoint_id == chargepoint_id,
                REPORT.c.kind == kind,
                REPORT.c.request_id == request_id,
            )
        )
    ).first()
    if report is None or report.replaces is None:
        return
    first_part = await session.scalar(
        select(func.min(PART.c.received_at)).where(
            PART.c.chargepoint_id == chargepoint_id,
            PART.c.kind == kind,
            PART.c.request_id == request_id,
        )
    )
    started = min(t for t in (report.requested_at, first_part, now) if t is not None)
    if report.replaces == "Monitors":
        await forget_monitors_before(session, chargepoint_id, started)
        return
    await forget_variables_before(
        session,
        chargepoint_id,
        started,
        configurable_only=report.replaces == "ConfigurableVariables",
    )


async def forget_monitors_before(
    session: AsyncSession, chargepoint_id: str, started: datetime
) -> None:
    """A complete list of the station's monitors began at `started`: monitors not written
    since are gone; the stored list is the station's again if it was stale before."""
    result = await session.execute(
        delete(MONITOR).where(
            MONITOR.c.chargepoint_id == chargepoint_id, MONITOR.c.updated_at < started
        )
    )
    await session.execute(
        update(CHARGEPOINT)
        .where(
            CHARGEPOINT.c.chargepoint_id == chargepoint_id,
            CHARGEPOINT.c.monitors_stale_since <= started,
        )
        .values(monitors_stale_since=None)
    )
    log.info(
        "%s: complete monitoring report, %d monitors not listed forgotten",
        chargepoint_id,
        result.rowcount,  # type: ignore[attr-defined]
    )


async def forget_variables_before(
    session: AsyncSession, chargepoint_id: str, started: datetime, *, configurable_only: bool
) -> None:
    """A complete inventory began at `started`: variables not written since are gone."""
    query = (
        select(
            VARIABLE.c.id,
            COMPONENT.c.name,
            COMPONENT.c.instance,
            COMPONENT.c.evse_id,
            COMPONENT.c.connector_id,
            VARIABLE.c.name.label("variable_name"),
            VARIABLE.c.instance.label("variable_instance"),
        )
        .join(COMPONENT, COMPONENT.c.id == VARIABLE.c.component_id)
        .where(VARIABLE.c.chargepoint_id == chargepoint_id, VARIABLE.c.updated_at < started)
    )
    if configurable_only:
        query = query.where(
            select(ATTRIBUTE.c.variable_id)
            .where(ATTRIBUTE.c.variable_id == VARIABLE.c.id, ATTRIBUTE.c.mutability.in_(WRITABLE))
            .exists()
        )
    gone = (await session.execute(query)).all()
    if not gone:
        return
    await session.execute(delete(VARIABLE).where(VARIABLE.c.id.in_(sorted(r.id for r in gone))))
    keys = sorted(
        {
            flat_key(
                (
                    (r.name, r.instance, r.evse_id, r.connector_id),
                    r.variable_name,
                    r.variable_instance,
                )
            ).lower()
            for r in gone
        }
    )
    await session.execute(
        delete(CONFIGURATION).where(
            CONFIGURATION.c.chargepoint_id == chargepoint_id,
            func.lower(CONFIGURATION.c.key).in_(keys),
        )
    )
    await session.execute(
        delete(COMPONENT).where(
            COMPONENT.c.chargepoint_id == chargepoint_id,
            ~select(VARIABLE.c.id).where(VARIABLE.c.component_id == COMPONENT.c.id).exists(),
        )
    )
    log.info("%s: complete inventory, %d variables not listed forgotten", chargepoint_id, len(gone))


# -- display messages -------------------------------------------------------------------------


def display_message_row(
    chargepoint_id: str, info: MessageInfoType, now: datetime
) -> dict[str, Any]:
    """The display_message row of a MessageInfoType."""
    display = info.display
    return {
        "chargepoint_id": chargepoint_id,
        "message_id": info.id,
        "priority": info.priority.value,
        "state": info.state.value if info.state is not None else None,
        "start_date_time": info.start_date_time,
        "end_date_time": info.end_date_time,
        "transaction_id": info.transaction_id,
        "content": info.message.content,
        "format": info.message.format.value,
        "language": info.message.language,
        "display_name": display.name if display is not None else None,
        "display_evse_id": display.evse.id if display is not None and display.evse else None,
        "updated_at": now,
    }


async def write_display_messages(
    session: AsyncSession, chargepoint_id: str, infos: Sequence[MessageInfoType], now: datetime
) -> int:
    """Upsert display messages by id; the number written."""
    rows = {info.id: display_message_row(chargepoint_id, info, now) for info in infos}
    if not rows:
        return 0
    await session.execute(DISPLAY_UPSERT, [rows[k] for k in sorted(rows)])
    return len(rows)


async def delete_display_messages(
    session: AsyncSession, chargepoint_id: str, ids: Iterable[int] | None
) -> None:
    """Forget display messages (None: every message of the station)."""
    stmt = delete(DISPLAY_MESSAGE).where(DISPLAY_MESSAGE.c.chargepoint_id == chargepoint_id)
    if ids is not None:
        stmt = stmt.where(DISPLAY_MESSAGE.c.message_id.in_(sorted(set(ids))))
    await session.execute(stmt)


__all__ = [
    "AttributeWrite",
    "MonitorWrite",
    "PartStored",
    "apply_monitoring_base",
    "component_key",
    "delete_display_messages",
    "delete_monitors",
    "flat_key",
    "forget_monitors_before",
    "forget_variables",
    "forget_variables_before",
    "record_part",
    "request_report",
    "set_monitor_origins",
    "set_monitoring_level",
    "sweep_report",
    "variable_key",
    "write_attributes",
    "write_display_messages",
    "write_monitors",
]
