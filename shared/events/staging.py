"""The one call a writer of domain events makes before its commit (shared/dispatch.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.events.outbox import stage
from shared.events.projection import split

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shared.envelope import Envelope
    from shared.settings import Settings


async def stage_public_events(
    session: AsyncSession, events: Sequence[Envelope], settings: Settings | None
) -> list[Envelope]:
    """Write the public events of a transaction's domain events to the event outbox (in that
    transaction); the internal events left to publish after the commit."""
    internal, public = split(events)
    await stage(session, public, settings)
    return internal
