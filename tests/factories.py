"""Plain test helpers shared across test directories: fake bus deliveries, a recording
publisher, and the types of the `sql` and `run` fixtures (tests/fixtures/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.bus.consumer import Outcome
from shared.bus.topology import upstream_key
from shared.dispatch import HandlerContext, Parsed, Router, parse_delivery
from shared.envelope import Envelope, Kind

Sql = Callable[..., Awaitable[list[dict[str, Any]]]]
"""The `sql` fixture: one statement in its own committed transaction; rows as dicts."""

Run = Callable[[Sequence[Envelope]], Awaitable[list[Outcome]]]
"""The `run` fixture: envelopes through the dispatcher as ONE batch; the outcomes (a reply,
`Rejected` for a message dead-lettered before its handler, or None)."""


@dataclass(frozen=True)
class FakeDelivery:
    """What the Dispatcher needs of a bus Delivery."""

    envelope: Envelope
    routing_key: str


def delivery(env: Envelope) -> FakeDelivery:
    """OCPP CALLs come on `<version>.<Action>` (`ocpp16` unless the envelope says otherwise);
    gateway messages on their action's name."""
    if env.kind is Kind.CALL and not env.action.startswith("gateway."):
        return FakeDelivery(env, upstream_key(env.ocpp_version or "ocpp1.6", env.action))
    return FakeDelivery(env, env.action)


async def handle(router: Router, ctx: HandlerContext, env: Envelope) -> Any:
    """Run `env` through its route's handler alone, as the dispatcher would (its payload
    parsed into the route's model first), on `ctx`; the handler's answer."""
    route = router.routes[delivery(env).routing_key]
    parsed = parse_delivery(route, delivery(env))
    assert isinstance(parsed, Parsed), parsed
    ctx.chargepoint_id = env.chargepoint_id or ""
    return await route.handler(ctx, env, parsed.request)


class RecordingPublisher:
    """Collects the domain events the dispatcher publishes after commit."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def publish_event(self, envelope: Envelope) -> None:
        self.events.append(envelope)

    def named(self, name: str) -> list[Envelope]:
        """The events of one name, in publication order."""
        return [e for e in self.events if e.action == name]

    def names(self) -> list[str]:
        """The names of all events, in publication order."""
        return [e.action for e in self.events]
