"""Plain test helpers shared across test directories: fake bus deliveries, a recording
publisher, and the types of the `sql` and `run` fixtures (tests/fixtures/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.bus.topology import upstream_key
from shared.envelope import Envelope, Kind

Sql = Callable[..., Awaitable[list[dict[str, Any]]]]
"""The `sql` fixture: one statement in its own committed transaction; rows as dicts."""

Run = Callable[[Sequence[Envelope]], Awaitable[list[Envelope | None]]]
"""The `run` fixture: envelopes through the dispatcher as ONE batch; the replies."""


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
