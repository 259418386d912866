"""Fire-and-forget CALLs of all the gateway's sockets published together (issue 15).

A fixed-answer CALL (MeterValues, StatusNotification, ...) is answered once the broker
confirmed it. One publish and one confirm per CALL made the broker and aio-pika the largest
cost of a MeterValues; here the CALLs that come while a publish is in flight wait for the
next one, and each publish carries everything waiting, one message per routing key
(shared/bus/batch.py): at a few calls per second every CALL goes alone, at thousands a
publish carries dozens. Every caller is answered only after the confirm of the message that
carries its envelope, so the durability contract holds.

No timer: a publish starts at once when fewer than `max_in_flight` are in flight, so a lone
CALL waits for nothing but its own confirm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from shared.bus.errors import BusError
from shared.envelope import Envelope

log = logging.getLogger(__name__)


@runtime_checkable
class BatchPublisher(Protocol):
    """What the batcher needs of `shared.bus.Bus`."""

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = ...
    ) -> None: ...

    async def publish_batch(
        self,
        exchange: str,
        routing_key: str,
        envelopes: Sequence[Envelope],
        *,
        mandatory: bool = ...,
    ) -> None: ...


Waiting = tuple[tuple[str, bool], Envelope, "asyncio.Future[None]"]
"""((routing key, mandatory), envelope, the caller's future)."""


class UpstreamBatcher:
    """Publishes waiting envelopes together, at most `max_in_flight` messages at a time."""

    def __init__(
        self, bus: BatchPublisher, exchange: str, *, max_in_flight: int = 2, max_batch: int = 200
    ) -> None:
        if max_in_flight < 1 or max_batch < 1:
            raise ValueError("max_in_flight and max_batch must be at least 1")
        self._bus = bus
        self.exchange = exchange
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._waiting: list[Waiting] = []
        self._in_flight = 0
        self.published = 0
        """Broker messages published (for tests and figures)."""

    async def publish(
        self, routing_key: str, envelope: Envelope, *, mandatory: bool = True
    ) -> None:
        """Return once the broker confirmed a message carrying `envelope`; raise Unroutable
        (mandatory) / PublishFailed as `Bus.publish` does."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(((routing_key, mandatory), envelope, future))
        if self._in_flight < self.max_in_flight:
            self._start()
        await future

    def _start(self) -> None:
        self._in_flight += 1
        asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._waiting:
                taken, self._waiting = (
                    self._waiting[: self.max_batch],
                    self._waiting[self.max_batch :],
                )
                groups: dict[tuple[str, bool], list[Waiting]] = {}
                for item in taken:
                    groups.setdefault(item[0], []).append(item)
                await asyncio.gather(*(self._send(key, items) for key, items in groups.items()))
        finally:
            self._in_flight -= 1

    async def _send(self, key: tuple[str, bool], items: list[Waiting]) -> None:
        routing_key, mandatory = key
        try:
            if len(items) == 1:
                await self._bus.publish(
                    self.exchange, routing_key, items[0][1], mandatory=mandatory
                )
            else:
                await self._bus.publish_batch(
                    self.exchange, routing_key, [e for _, e, _ in items], mandatory=mandatory
                )
        except BusError as exc:
            for _, _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        except Exception as exc:
            log.exception("publishing %d envelopes failed", len(items))
            for _, _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        self.published += 1
        for _, _, future in items:
            if not future.done():
                future.set_result(None)
