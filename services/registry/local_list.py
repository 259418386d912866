"""The local authorization list a charge point holds (`local_list_entry`), from the
SendLocalList it accepted (both versions; the effects in command_effects*.py call it).

An entry is stored with its idTagInfo in the 1.6 form (`status`, `expiryDate`,
`parentIdTag`; a 2.0.1 idTokenInfo's cacheExpiryDateTime and groupIdToken map onto them),
so the API compares the id tags with what the station holds the same way for both
versions (services/api/locallist). Full: the station's entries are replaced; Differential:
an entry with info is upserted, one without is removed (1.6 §5.15, 2.0.1 D01).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db.models import LocalListEntry
from shared.dispatch import HandlerContext
from shared.ocpp import format_datetime

FULL = "Full"


@dataclass(frozen=True, slots=True)
class SentEntry:
    """One entry of a SendLocalList: no `info` = remove the token (Differential)."""

    id_token: str
    token_type: str | None
    info: dict[str, Any] | None


async def apply_local_list(
    ctx: HandlerContext,
    chargepoint_id: str,
    *,
    update_type: str,
    version: int,
    entries: Sequence[SentEntry],
) -> None:
    """Record the list the charge point accepted."""
    e = LocalListEntry
    if update_type == FULL:
        await ctx.session.execute(delete(e).where(e.chargepoint_id == chargepoint_id))
    removed = [x.id_token for x in entries if x.info is None]
    if removed:
        await ctx.session.execute(
            delete(e).where(e.chargepoint_id == chargepoint_id, e.id_token.in_(removed))
        )
    for x in entries:
        if x.info is None:
            continue
        stmt = pg_insert(e).values(
            chargepoint_id=chargepoint_id,
            id_token=x.id_token,
            id_token_type=x.token_type,
            info=x.info,
            list_version=version,
            updated_at=ctx.now,
        )
        await ctx.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["chargepoint_id", "id_token"],
                set_={
                    "id_token_type": stmt.excluded.id_token_type,
                    "info": stmt.excluded.info,
                    "list_version": stmt.excluded.list_version,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        )


def entries_16(request: dict[str, Any]) -> list[SentEntry]:
    """The entries of a 1.6 SendLocalList.req (camelCase)."""
    out: list[SentEntry] = []
    for item in request.get("localAuthorizationList") or []:
        if not isinstance(item, dict) or not isinstance(item.get("idTag"), str):
            continue
        info = item.get("idTagInfo")
        out.append(SentEntry(item["idTag"], None, info if isinstance(info, dict) else None))
    return out


def info_201(info: Any) -> dict[str, Any]:
    """A 2.0.1 IdTokenInfoType in the stored 1.6 idTagInfo form."""
    out: dict[str, Any] = {"status": info.status.value}
    if info.cache_expiry_date_time is not None:
        out["expiryDate"] = format_datetime(info.cache_expiry_date_time)
    if info.group_id_token is not None:
        out["parentIdTag"] = info.group_id_token.id_token
    return out
