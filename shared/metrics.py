"""Prometheus metrics shared by every service; each process exposes its own `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# Handlers run one database transaction per batch: most take milliseconds, a slow one seconds.
_HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A CALL is answered in milliseconds when all is well; the upstream timeout is 10 s and a command
# to a charge point waits up to 30 s: the top buckets show stalls.
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

UNKNOWN: Final = "unknown"
"""The label of an action (or close code) outside the known set: label sets stay bounded
whatever a charge point sends."""
CLOSE_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 4000}
)
"""Websocket close codes counted by their number (RFC 6455 §7.4.1, and 4000: replaced by a
newer connection, services/gateway/downstream.py); any other is `other`."""

OCPP_MESSAGES = Counter(
    "ocpp_messages_total",
    "OCPP messages seen, by version (ocpp1.6, ocpp2.0.1), action, direction (in = from the "
    "charge point, out = to it) and outcome (accepted, rejected, error, timeout, ...).",
    ["version", "action", "direction", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "handler_seconds",
    "Time a service spends handling one message, by service and action.",
    ["service", "action"],
    buckets=_HANDLER_BUCKETS,
)
CONNECTED_CHARGEPOINTS = Gauge(
    "connected_chargepoints",
    "Charge points with an open websocket on this gateway node.",
)
RPC_TIMEOUTS = Counter(
    "rpc_timeouts_total",
    "RPCs over the bus that got no reply in time, by target (queue or charge point routing).",
    ["target"],
)
CONNECTIONS_OPENED = Counter(
    "gateway_connections_opened_total",
    "Charge point websockets opened on this gateway node (handshake done), by OCPP version.",
    ["version"],
)
CONNECTIONS_CLOSED = Counter(
    "gateway_connections_closed_total",
    "Charge point websockets closed on this gateway node, by close code (1000 normal, 1001 "
    "going away, 1006 dropped without a close frame, 1011 server error, 4000 replaced by a "
    "newer connection, other).",
    ["code"],
)
OCPP_CALL_SECONDS = Histogram(
    "ocpp_call_seconds",
    "Time from a CALL to its answer at the gateway, by version, action and direction (in: a "
    "charge point's CALL until the gateway sends the answer; out: a command's CALL until the "
    "charge point answers or the deadline passes).",
    ["version", "action", "direction"],
    buckets=_CALL_BUCKETS,
)
EVENTS_RELAYED = Counter(
    "events_relayed_total",
    "Public events published from the event outbox to csms.events, by type.",
    ["type"],
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered, failed, dead, refused).",
    ["outcome"],
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "webhook_delivery_seconds",
    "Time from sending a webhook delivery to its answer (or failure).",
    buckets=_CALL_BUCKETS,
)
QUEUE_MESSAGES = Gauge(
    "bus_queue_messages",
    "Messages ready in a broker queue (passive declare by this process, every few seconds).",
    ["queue"],
)
QUEUE_CONSUMERS = Gauge(
    "bus_queue_consumers",
    "Consumers attached to a broker queue (passive declare; 0 also when the queue is missing).",
    ["queue"],
)
QUEUE_WATCH_FAILURES = Counter(
    "bus_queue_watch_failures_total",
    "Rounds of queue watching that failed (broker unreachable): the queue gauges are stale.",
)
READY = Gauge(
    "process_ready",
    "1 while this process's /readyz answers 200 (as of its last check), else 0.",
)
AUTH_REFUSALS = Counter(
    "auth_refusals_total",
    "Authentication attempts refused, by where (gateway: charge point websockets, api: "
    "/auth/token) and reason (password, backoff, certificate, profile, forged_header, ...).",
    ["where", "reason"],
)
SECURITY_EVENTS_DROPPED = Counter(
    "security_events_dropped_total",
    "Gateway certificate refusals not published as security events (too many under way).",
)
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "REST API requests, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_seconds",
    "REST API request latency, by method and route template.",
    ["method", "route"],
    buckets=_HANDLER_BUCKETS,
)


_KNOWN_ACTIONS: dict[str, frozenset[str]] = {}


def register_actions(version: str, actions: frozenset[str]) -> None:
    """The actions of an OCPP version that count under their own name (others: `unknown`)."""
    _KNOWN_ACTIONS[version] = actions


def action_label(version: str, action: str) -> str:
    """`action` if it is an action of `version` (or `-`: no action), else `unknown`."""
    known = _KNOWN_ACTIONS.get(version)
    if action == "-" or (known is not None and action in known):
        return action
    return UNKNOWN


def count_ocpp_message(version: str, action: str, direction: str, outcome: str) -> None:
    """Count one OCPP message (direction `in` or `out`)."""
    OCPP_MESSAGES.labels(
        version=version, action=action_label(version, action), direction=direction, outcome=outcome
    ).inc()


@contextmanager
def time_call(version: str, action: str, direction: str) -> Iterator[None]:
    """Observe the enclosed CALL -> answer in `ocpp_call_seconds` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        OCPP_CALL_SECONDS.labels(
            version=version, action=action_label(version, action), direction=direction
        ).observe(time.perf_counter() - start)


def count_rpc_timeout(target: str) -> None:
    """An RPC over the bus got no reply in time (`target`: routing key or purpose)."""
    RPC_TIMEOUTS.labels(target=target).inc()


def connection_opened(version: str) -> None:
    """A charge point's websocket is open (its handshake is done)."""
    CONNECTIONS_OPENED.labels(version=version).inc()
    CONNECTED_CHARGEPOINTS.inc()


def connection_closed(code: int | None) -> None:
    """A websocket opened with `connection_opened` closed with `code` (None: no close frame)."""
    label = "1006" if code is None else str(code) if code in CLOSE_CODES else "other"
    CONNECTIONS_CLOSED.labels(code=label).inc()
    CONNECTED_CHARGEPOINTS.dec()


def count_auth_refusal(where: str, reason: str) -> None:
    """One refused authentication attempt (`reason` from a fixed set of the caller's)."""
    AUTH_REFUSALS.labels(where, reason).inc()


def count_security_event_dropped() -> None:
    """A certificate refusal the gateway only logged (its publishes were saturated)."""
    SECURITY_EVENTS_DROPPED.inc()


def set_queue_state(queue: str, messages: int, consumers: int) -> None:
    """What a passive declare of `queue` said."""
    QUEUE_MESSAGES.labels(queue=queue).set(messages)
    QUEUE_CONSUMERS.labels(queue=queue).set(consumers)


@contextmanager
def time_handler(service: str, action: str) -> Iterator[None]:
    """Observe the duration of the enclosed block in `handler_seconds`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        HANDLER_SECONDS.labels(service=service, action=action).observe(time.perf_counter() - start)


def observe_http_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one REST API request; `route` is the template (`/chargepoints/{id}`), not the path."""
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_REQUEST_SECONDS.labels(method=method, route=route).observe(seconds)


class _Counters(Protocol):
    def as_dict(self) -> Mapping[str, int]: ...


class _HasBusMetrics(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def metrics(self) -> _Counters: ...


class BusCollector(Collector):
    """Exports the plain counters each Bus keeps (`Bus.metrics`) as `bus_<counter>_total{bus}`."""

    def __init__(self) -> None:
        self._buses: dict[str, _HasBusMetrics] = {}

    def add(self, bus: _HasBusMetrics) -> None:
        """Export `bus`'s counters (a bus registered again under the same name replaces it)."""
        self._buses[bus.name] = bus

    def describe(self) -> list[CounterMetricFamily]:
        """Nothing up front: the counter names come from the buses at scrape time."""
        return []

    def collect(self) -> Iterator[CounterMetricFamily]:
        """One counter family per Bus counter, one sample per bus."""
        families: dict[str, CounterMetricFamily] = {}
        for bus_name, bus in sorted(self._buses.items()):
            for counter, value in bus.metrics.as_dict().items():
                family = families.get(counter)
                if family is None:
                    family = families[counter] = CounterMetricFamily(
                        f"bus_{counter}",
                        f"Bus counter {counter!r}, by bus (the process's connection name).",
                        labels=["bus"],
                    )
                family.add_metric([bus_name], value)
        yield from families.values()


BUS_COLLECTOR = BusCollector()
REGISTRY.register(BUS_COLLECTOR)


def register_bus(bus: _HasBusMetrics) -> None:
    """Export a Bus's own counters (published, acked, redelivered, ...) on `/metrics`."""
    BUS_COLLECTOR.add(bus)


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The text exposition of every metric of this process, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
