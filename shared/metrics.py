"""Prometheus metrics shared by every service; each process exposes its own `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol

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


def count_ocpp_message(version: str, action: str, direction: str, outcome: str) -> None:
    """Count one OCPP message (direction `in` or `out`)."""
    OCPP_MESSAGES.labels(version=version, action=action, direction=direction, outcome=outcome).inc()


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
