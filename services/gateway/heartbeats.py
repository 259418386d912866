"""Heartbeats answered by the gateway, last-seen flushed to the registry in batches (issue 15).

A Heartbeat's answer is the current time and nothing the charge point relies on being
stored, so the gateway answers it at once, without the broker, and remembers the newest
heartbeat per charge point. Every `CSMS_GATEWAY_HEARTBEAT_BATCH_SECONDS` one confirmed
`gateway.heartbeats` message carries what came since the last one (newest per charge point)
to the registry, which writes every charge point's `last_heartbeat` with one upsert and one
`heartbeat` row per charge point and flush (services/registry/heartbeats.py). A charge point
heartbeating every few minutes still gets a row per heartbeat; one sending them back to back
gets one per interval. Heartbeats are not in the message log (no `ocpp_message` row).

What this gives up: a gateway killed with -9 loses the last interval's last-seen times (at
most `interval` seconds; the next heartbeat repairs them). A flush the broker refuses is
kept and merged into the next one (newest wins), so a broker outage delays last-seen, never
moves it back. Before the flush, the registry's value is at most one interval old.

`interval` 0 turns this off: every Heartbeat is published and answered after the broker's
confirm, like any other fixed-answer CALL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.bus.errors import BusError
from shared.bus.topology import GATEWAY_HEARTBEATS, UPSTREAM
from shared.envelope import Envelope, Kind

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What the batcher needs of `shared.bus.Bus` (tests hand in fakes)."""

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = ...
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Beat:
    """The newest heartbeat of one charge point since the last flush."""

    at: datetime
    ocpp_version: str
    unique_id: str
    message_id: str


class HeartbeatBatcher:
    """Collects the newest heartbeat per charge point; publishes them every `interval` s."""

    def __init__(self, bus: Publisher, *, node_id: str, interval: float) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._bus = bus
        self.node_id = node_id
        self.interval = interval
        self._pending: dict[str, Beat] = {}
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self.flushes = 0
        """Messages published (for tests and /metrics-style inspection)."""

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        chargepoint_id: str,
        at: datetime,
        *,
        ocpp_version: str,
        unique_id: str,
        message_id: str,
    ) -> None:
        """Record a heartbeat (the newest per charge point is kept)."""
        known = self._pending.get(chargepoint_id)
        if known is None or known.at <= at:
            self._pending[chargepoint_id] = Beat(at, ocpp_version, unique_id, message_id)

    def start(self) -> None:
        """Start flushing every `interval` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gateway-heartbeats")

    async def stop(self) -> None:
        """Stop the timer and flush what is left (the gateway is shutting down)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:  # a timer that dies flushes nothing again: log, keep going
                log.exception("flushing heartbeats failed")

    async def flush(self) -> int:
        """Publish what was collected as one confirmed message; return how many charge points.

        On a broker error the heartbeats are merged back (newest wins) for the next flush.
        """
        async with self._flushing:
            pending, self._pending = self._pending, {}
            if not pending:
                return 0
            envelope = Envelope(
                kind=Kind.EVENT,
                action=GATEWAY_HEARTBEATS,
                node_id=self.node_id,
                payload={
                    "heartbeats": [
                        {
                            "chargepoint_id": cp_id,
                            "at": beat.at.isoformat(),
                            "ocpp_version": beat.ocpp_version,
                            "unique_id": beat.unique_id,
                            "message_id": beat.message_id,
                        }
                        for cp_id, beat in pending.items()
                    ]
                },
            )
            try:
                await self._bus.publish(UPSTREAM, GATEWAY_HEARTBEATS, envelope, mandatory=True)
            except BusError as exc:
                log.warning(
                    "heartbeats of %d charge points not published (%r); kept for the next flush",
                    len(pending),
                    exc,
                )
                for cp_id, beat in pending.items():
                    self.add(
                        cp_id,
                        beat.at,
                        ocpp_version=beat.ocpp_version,
                        unique_id=beat.unique_id,
                        message_id=beat.message_id,
                    )
                return 0
            self.flushes += 1
            return len(pending)
