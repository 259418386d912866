"""Certificate refusals of the gateway, published for the registry to store as security events.

The gateway refuses a client certificate before the registry is asked (services/gateway/
certs.py: wrong CN or O, a CA certificate, a forwarded one that does not chain): it logs and
counts the refusal, and hands it to `SecurityEventReporter`, which publishes
`gateway.security_event` on `ocpp.upstream` in the background: the refusal's answer (403) and
every other upgrade never wait for the broker. The registry stores it in `security_event`
(source `csms`, type `InvalidChargingStationCertificate`, the reason as tech_info, the remote
address).

Bounded so a flood of bad certificates costs little: one event per (charge point id, address,
reason) per `REPEAT_SECONDS` (a table of at most `MAX_REMEMBERED` keys, the oldest dropped),
and at most `MAX_IN_FLIGHT` publishes under way (beyond that a refusal is only logged and
counted, `security_events_dropped_total`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Final

from services.gateway.connection import BusPort
from shared import metrics
from shared.bus.errors import BusError
from shared.bus.topology import GATEWAY_SECURITY_EVENT, UPSTREAM
from shared.envelope import Envelope, Kind, utcnow

log = logging.getLogger(__name__)

INVALID_CERTIFICATE: Final = "InvalidChargingStationCertificate"
"""2.0.1 Appendix security event type of a refused charge point certificate."""
REPEAT_SECONDS: Final = 60.0
MAX_REMEMBERED: Final = 10_000
MAX_IN_FLIGHT: Final = 100


class SecurityEventReporter:
    """Publishes refusals in the background, bounded (see the module docstring)."""

    def __init__(self, bus: BusPort, node_id: str) -> None:
        self.bus = bus
        self.node_id = node_id
        self._recent: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, chargepoint_id: str, remote_ip: str, reason: str) -> bool:
        """Queue the event of one refusal; False if it was left out (repeat, too many)."""
        key = (chargepoint_id, remote_ip, reason)
        now = time.monotonic()
        last = self._recent.get(key)
        if last is not None and now - last < REPEAT_SECONDS:
            return False
        if len(self._tasks) >= MAX_IN_FLIGHT:
            metrics.count_security_event_dropped()
            return False
        self._recent[key] = now
        self._recent.move_to_end(key)
        while len(self._recent) > MAX_REMEMBERED:
            self._recent.popitem(last=False)
        envelope = Envelope(
            kind=Kind.EVENT,
            action=GATEWAY_SECURITY_EVENT,
            chargepoint_id=chargepoint_id,
            node_id=self.node_id,
            payload={
                "type": INVALID_CERTIFICATE,
                "tech_info": f"client certificate refused: {reason}"[:1000],
                "remote_ip": remote_ip,
                "occurred_at": utcnow().isoformat(),
            },
        )
        task = asyncio.get_running_loop().create_task(self._publish(envelope))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _publish(self, envelope: Envelope) -> None:
        try:
            await self.bus.publish(UPSTREAM, GATEWAY_SECURITY_EVENT, envelope)
        except BusError as exc:
            log.warning("security event of %s not published: %r", envelope.chargepoint_id, exc)

    async def drain(self) -> None:
        """Wait for the publishes under way (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
