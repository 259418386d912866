"""Broker queues as a process sees them: depth and consumers, for /metrics and /readyz.

Every few seconds a `QueueWatch` passive-declares its queues on its own (non-robust) channel:
`queue.declare(passive)` answers the ready-message count and the consumer count, costs the
broker next to nothing and needs no management plugin. A queue that does not exist answers
404 (it closes that channel; the next queue gets a new one) and counts as 0 consumers.

The gateway is ready only while every queue whose consumers answer its RPCs has at least one
consumer (`GATEWAY_RPC_QUEUES`): with the registry down, a load balancer sends charge points
elsewhere instead of making each wait `CSMS_UPSTREAM_CALL_TIMEOUT` for a 503. The consumer
services watch their own queues; every process watches `csms.dead-letter`. Several processes
report the same queue: aggregate with `max by (queue)` (docs/deploy.md, deploy/monitoring).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from aiormq.exceptions import AMQPError, ChannelInvalidStateError, ChannelNotFoundEntity

from shared import metrics
from shared.bus.topology import (
    CHARGING_QUEUE,
    DEAD_LETTER,
    REGISTRY_QUEUE,
    TRANSACTIONS_QUEUE,
    WEBHOOKS_QUEUE,
)

if TYPE_CHECKING:
    from aio_pika.abc import AbstractConnection

log = logging.getLogger(__name__)

WATCH_INTERVAL: Final = 5.0
"""Seconds between two looks at the queues."""
STALE_AFTER: Final = 3
"""Looks that may fail in a row before what was seen last is no longer trusted (not ready)."""


def rpc_queue(queue: str) -> str:
    """The RPC queue beside a service queue (`shared.service.rpc_queue_name`)."""
    return f"{queue}.rpc"


SERVICE_QUEUES: Final[dict[str, tuple[str, ...]]] = {
    "registry": (rpc_queue(REGISTRY_QUEUE), REGISTRY_QUEUE),
    "transactions": (rpc_queue(TRANSACTIONS_QUEUE), TRANSACTIONS_QUEUE),
    "charging": (rpc_queue(CHARGING_QUEUE), CHARGING_QUEUE),
    "webhooks": (WEBHOOKS_QUEUE,),
}
"""The queues each consumer service declares and consumes."""
GATEWAY_RPC_QUEUES: Final = (rpc_queue(REGISTRY_QUEUE), rpc_queue(TRANSACTIONS_QUEUE))
"""Queues whose consumers answer the gateway's RPCs (authentication, BootNotification,
Authorize, Start/StopTransaction, ...): without a consumer there, no charge point is served."""
ALL_QUEUES: Final = (*(q for qs in SERVICE_QUEUES.values() for q in qs), DEAD_LETTER)


class _HasConnection(Protocol):
    @property
    def connection(self) -> AbstractConnection: ...


@dataclass(frozen=True, slots=True)
class QueueState:
    """What the broker said of one queue."""

    messages: int
    consumers: int
    exists: bool = True


class QueueWatch:
    """Looks at a set of queues every `interval` seconds; `ready()` for /readyz."""

    def __init__(
        self,
        bus: _HasConnection,
        queues: Sequence[str],
        *,
        required: Sequence[str] = (),
        interval: float = WATCH_INTERVAL,
    ) -> None:
        self._bus = bus
        self.queues = tuple(dict.fromkeys((*required, *queues)))
        self.required = tuple(required)
        self.interval = interval
        self.states: dict[str, QueueState] = {}
        self._failures = STALE_AFTER  # nothing seen yet: not ready
        self._task: asyncio.Task[None] | None = None

    def ready(self) -> bool:
        """True when the last look succeeded (recently) and every required queue has a consumer."""
        if self._failures >= STALE_AFTER:
            return False
        return all(
            (state := self.states.get(q)) is not None and state.consumers > 0 for q in self.required
        )

    def missing_consumers(self) -> list[str]:
        """The required queues without a consumer (as last seen)."""
        return [q for q in self.required if (s := self.states.get(q)) is None or s.consumers == 0]

    async def refresh(self) -> None:
        """Look at every queue once; on failure keep the old states and count the failure."""
        try:
            self.states = await self._look()
        except (AMQPError, ChannelInvalidStateError, ConnectionError, RuntimeError) as exc:
            self._failures += 1
            metrics.QUEUE_WATCH_FAILURES.inc()
            log.debug("queue watch failed: %r", exc)
            return
        self._failures = 0
        for queue, state in self.states.items():
            metrics.set_queue_state(queue, state.messages, state.consumers)
        missing = self.missing_consumers()
        if missing:
            log.warning("no consumer on %s", ", ".join(missing), extra={"queues": missing})

    async def _look(self) -> dict[str, QueueState]:
        transport = self._bus.connection.transport
        if transport is None:  # reconnecting
            raise ConnectionError("the broker connection is down")
        connection = transport.connection
        channel = None
        states: dict[str, QueueState] = {}
        try:
            for queue in self.queues:
                if channel is None or channel.is_closed:
                    channel = await connection.channel()
                try:
                    ok = await channel.queue_declare(queue, passive=True)
                except ChannelNotFoundEntity:
                    states[queue] = QueueState(0, 0, exists=False)
                    continue
                states[queue] = QueueState(int(ok.message_count or 0), int(ok.consumer_count or 0))
        finally:
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(Exception):
                    await channel.close()
        return states

    def start(self) -> None:
        """Look now and then every `interval` seconds, in a background task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="queue-watch")

    async def stop(self) -> None:
        """Stop looking."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)
