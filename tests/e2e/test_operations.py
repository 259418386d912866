"""Operations end to end: every service answers /healthz, /readyz and /metrics with real data."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.stack import Stack
from tests.e2e.ocpp16_client import connected
from tests.patience import PATIENCE

pytestmark = [pytest.mark.e2e]


async def _wait_for_status(url: str, status: int, timeout: float = PATIENCE) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = None
    async with httpx.AsyncClient(timeout=5) as http:
        while loop.time() < deadline:
            seen = (await http.get(url)).status_code
            if seen == status:
                return
            await asyncio.sleep(0.2)
    pytest.fail(f"{url} answered {seen}, not {status}, for {timeout}s")


async def test_health_readiness_and_metrics_of_every_service(stack: Stack) -> None:
    async with connected(stack.ws_url, "CP-OPS-1") as cp:
        await cp.boot()
        await cp.status(1)
        async with httpx.AsyncClient(timeout=PATIENCE) as http:
            for name in ("registry", "transactions", "gateway", "api"):
                ready = stack.ready_url(name)
                # The stack is shared: a test before this one may have restarted a service, and
                # readiness follows the consumers the gateway last saw. Ready again, eventually.
                await _wait_for_status(ready, 200)
                assert (await http.get(ready.replace("/readyz", "/healthz"))).status_code == 200
            gateway = (await http.get(stack.ready_url("gateway").replace("readyz", "metrics"))).text
            assert "connected_chargepoints 1.0" in gateway
            assert 'ocpp_messages_total{action="BootNotification"' in gateway
            registry = (
                await http.get(stack.ready_url("registry").replace("readyz", "metrics"))
            ).text
            assert 'handler_seconds_count{action="BootNotification",service="registry"}' in registry
            assert "bus_consumed_total" in registry
            # Each consumer service watches its own queues and the dead letters.
            assert 'bus_queue_consumers{queue="csms.registry.rpc"}' in registry
            assert 'bus_queue_messages{queue="csms.dead-letter"}' in registry
            assert "process_ready 1.0" in gateway
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


async def test_gateway_is_not_ready_while_the_registry_is_stopped(stack: Stack) -> None:
    """No consumer on the registry's RPC queue: the gateway's /readyz says 503 (a load balancer
    sends charge points elsewhere), and 200 again once the registry is back."""
    gateway = stack.ready_url("gateway")
    await _wait_for_status(gateway, 200)
    await stack.stop("registry")
    try:
        await _wait_for_status(gateway, 503)
        async with httpx.AsyncClient(timeout=5) as http:
            metrics = (await http.get(gateway.replace("readyz", "metrics"))).text
        assert 'bus_queue_consumers{queue="csms.registry.rpc"} 0.0' in metrics
        assert "process_ready 0.0" in metrics
    finally:
        await stack.start("registry")
    await _wait_for_status(gateway, 200)
