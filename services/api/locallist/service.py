"""The local list of a charge point built from the id tags, full or differential.

Every id tag is an entry, with the idTagInfo an Authorize would answer now (status
Accepted / Blocked / Expired, expiryDate, parentIdTag), in 1.6 form; for 2.0.1 the same
decision as an idTokenInfo (cacheExpiryDateTime, groupIdToken {idToken, type Central}),
the token's `token_type` (default ISO14443, the commonest reader).

What the station holds is `local_list_entry` (the list it accepted last, written by the
registry's command effects) and `chargepoint.local_list_version`. A Full update sends every
entry; a Differential one only the entries that changed since then (new, or another info)
and removals (tokens the station holds that are no id tag any more). The version sent is
one above the highest known (the station's, the entries'), so it always increases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.idtags.service import status_of
from shared.db.models import ChargePoint, IdTag, LocalListEntry
from shared.ocpp import OCPP201, format_datetime

FULL: Final = "Full"
DIFFERENTIAL: Final = "Differential"
DEFAULT_TOKEN_TYPE: Final = "ISO14443"
GROUP_TOKEN_TYPE: Final = "Central"


@dataclass(frozen=True, slots=True)
class Entry:
    """One local list entry: no `info` = remove the token (Differential)."""

    id_token: str
    token_type: str | None
    info: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send: the version, the entries, how many are removals."""

    version: int
    entries: list[Entry]

    @property
    def removed(self) -> int:
        return sum(1 for e in self.entries if e.info is None)


def tag_info(tag: IdTag, now: datetime) -> dict[str, Any]:
    """The 1.6 idTagInfo of a tag for the local list."""
    info: dict[str, Any] = {"status": status_of(tag, now)}
    if tag.expiry_date is not None:
        info["expiryDate"] = format_datetime(tag.expiry_date)
    if tag.parent_id_tag is not None:
        info["parentIdTag"] = tag.parent_id_tag
    return info


async def plan(
    session: AsyncSession,
    chargepoint_id: str,
    update_type: str,
    *,
    ocpp_version: str | None,
    now: datetime | None = None,
) -> Plan:
    """The entries and version of a Full / Differential update for the charge point (a
    token's type counts only for a 2.0.1 station: 1.6 entries have none)."""
    moment = now or datetime.now(UTC)
    tags = {
        t.id_token: Entry(t.id_token, t.token_type, tag_info(t, moment))
        for t in await session.scalars(select(IdTag).order_by(IdTag.id_token))
    }
    station_version = await session.scalar(
        select(ChargePoint.local_list_version).where(ChargePoint.chargepoint_id == chargepoint_id)
    )
    e = LocalListEntry
    entries_version = await session.scalar(
        select(func.max(e.list_version)).where(e.chargepoint_id == chargepoint_id)
    )
    version = max(station_version or 0, entries_version or 0) + 1
    if update_type == FULL:
        return Plan(version, list(tags.values()))
    held = {
        row.id_token: row
        for row in await session.scalars(select(e).where(e.chargepoint_id == chargepoint_id))
    }
    changed = [
        entry
        for token, entry in tags.items()
        if token not in held
        or held[token].info != entry.info
        or (
            ocpp_version == OCPP201
            and held[token].id_token_type != (entry.token_type or DEFAULT_TOKEN_TYPE)
        )
    ]
    removed = [
        Entry(token, row.id_token_type, None) for token, row in held.items() if token not in tags
    ]
    return Plan(version, changed + removed)


def split(p: Plan, update_type: str, max_items: int | None) -> list[tuple[str, Plan]]:
    """The messages of an update whose list is longer than the station takes at once
    (1.6 SendLocalListMaxLength, 2.0.1 ItemsPerMessageSendLocalList): a Full update's first
    `max_items` entries as Full, the rest as Differential updates; each message has the next
    version (the station holds the union once all are accepted)."""
    if max_items is None or len(p.entries) <= max_items:
        return [(update_type, p)]
    parts: list[tuple[str, Plan]] = []
    for i, start in enumerate(range(0, len(p.entries), max_items)):
        kind = update_type if i == 0 else DIFFERENTIAL
        parts.append((kind, Plan(p.version + i, p.entries[start : start + max_items])))
    return parts


def body_16(p: Plan, update_type: str) -> dict[str, Any]:
    """The 1.6 SendLocalList body (snake_case, the commands API's model)."""
    items: list[dict[str, Any]] = []
    for entry in p.entries:
        item: dict[str, Any] = {"id_tag": entry.id_token}
        if entry.info is not None:
            info: dict[str, Any] = {"status": entry.info["status"]}
            if "expiryDate" in entry.info:
                info["expiry_date"] = entry.info["expiryDate"]
            if "parentIdTag" in entry.info:
                info["parent_id_tag"] = entry.info["parentIdTag"]
            item["id_tag_info"] = info
        items.append(item)
    return {
        "list_version": p.version,
        "update_type": update_type,
        "local_authorization_list": items,
    }


def body_201(p: Plan, update_type: str) -> dict[str, Any]:
    """The 2.0.1 SendLocalList body (D01): idToken {idToken, type} and idTokenInfo."""
    items: list[dict[str, Any]] = []
    for entry in p.entries:
        item: dict[str, Any] = {
            "id_token": {
                "id_token": entry.id_token,
                "type": entry.token_type or DEFAULT_TOKEN_TYPE,
            }
        }
        if entry.info is not None:
            info: dict[str, Any] = {"status": entry.info["status"]}
            if "expiryDate" in entry.info:
                info["cache_expiry_date_time"] = entry.info["expiryDate"]
            if "parentIdTag" in entry.info:
                info["group_id_token"] = {
                    "id_token": entry.info["parentIdTag"],
                    "type": GROUP_TOKEN_TYPE,
                }
            item["id_token_info"] = info
        items.append(item)
    body: dict[str, Any] = {"version_number": p.version, "update_type": update_type}
    if items:
        body["local_authorization_list"] = items
    return body


def body_for(version: str, p: Plan, update_type: str) -> dict[str, Any]:
    """The SendLocalList body of the station's version."""
    return body_201(p, update_type) if version == OCPP201 else body_16(p, update_type)
