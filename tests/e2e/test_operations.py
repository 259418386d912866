"""Operations end to end: every service answers /healthz, /readyz and /metrics with real data."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.stack import Stack
from tests.e2e.ocpp16_client import connected
from tests.patience import PATIENCE

pytestmark = [pytest.mark.e2e]


async def test_health_readiness_and_metrics_of_every_service(stack: Stack) -> None:
    async with connected(stack.ws_url, "CP-OPS-1") as cp:
        await cp.boot()
        await cp.status(1)
        async with httpx.AsyncClient(timeout=PATIENCE) as http:
            for name in ("registry", "transactions", "gateway", "api"):
                ready = stack.ready_url(name)
                assert (await http.get(ready)).status_code == 200, name
                assert (await http.get(ready.replace("/readyz", "/healthz"))).status_code == 200
            gateway = (await http.get(stack.ready_url("gateway").replace("readyz", "metrics"))).text
            assert "connected_chargepoints 1.0" in gateway
            assert 'ocpp_messages_total{action="BootNotification"' in gateway
            registry = (
                await http.get(stack.ready_url("registry").replace("readyz", "metrics"))
            ).text
            assert 'handler_seconds_count{action="BootNotification",service="registry"}' in registry
            assert "bus_consumed_total" in registry
            api = (await http.get(f"{stack.api_url}/metrics")).text
            assert "http_requests_total" in api


async def test_sigterm_closes_sockets_with_going_away(stack: Stack) -> None:
    """Graceful shutdown: the gateway closes every socket with 1001 so charge points reconnect
    to another replica, and exits 0."""
    port = await stack.start_gateway("gateway-drain")
    url = f"ws://127.0.0.1:{port}/ocpp"
    async with connected(url, "CP-OPS-DRAIN") as cp:
        await cp.boot()
        code = await stack.stop("gateway-drain")
        await asyncio.wait_for(cp._connection.wait_closed(), PATIENCE)
        assert cp._connection.close_code == 1001
    assert code == 0
