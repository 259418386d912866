"""`csms proxy`: connections spread over the replicas, refused and unready ones skipped.

Real sockets on 127.0.0.1: small servers that answer who they are, a resolver standing in for
Docker's DNS (which answers every replica of `gateway`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from services.proxy.main import Address, Backends, TcpProxy, _address, http_ready


async def named_server(name: bytes, ready: bool = True) -> asyncio.Server:
    """Echoes `name:` + what it reads; answers /readyz 200 or 503 like a gateway."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(1024)
        if data.startswith(b"GET /readyz"):
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n" if ready else b"HTTP/1.1 503 NO\r\n\r\n")
        else:
            writer.write(name + b":" + data)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def ask(port: int, text: bytes = b"hello") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(text)
    await writer.drain()
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    return answer


@pytest.fixture
async def proxy_factory() -> AsyncIterator[Callable[[list[Address]], Awaitable[TcpProxy]]]:
    proxies: list[TcpProxy] = []

    async def make(addresses: list[Address]) -> TcpProxy:
        async def resolve() -> list[Address]:
            return list(addresses)

        proxy = TcpProxy(Backends(resolve, ready_ttl=0.0), connect_timeout=2.0)
        await proxy.start("127.0.0.1", 0)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.close()


async def test_connections_alternate_over_the_replicas(
    proxy_factory: Callable[[list[Address]], Awaitable[TcpProxy]],
) -> None:
    a, b = await named_server(b"A"), await named_server(b"B")
    proxy = await proxy_factory([("127.0.0.1", port_of(a)), ("127.0.0.1", port_of(b))])
    answers = [await ask(proxy.port) for _ in range(4)]
    assert sorted(answers) == [b"A:hello", b"A:hello", b"B:hello", b"B:hello"]
    assert answers[0] != answers[1]
    for s in (a, b):
        s.close()


async def test_a_replica_that_refuses_is_skipped(
    proxy_factory: Callable[[list[Address]], Awaitable[TcpProxy]],
) -> None:
    a = await named_server(b"A")
    gone = await named_server(b"X")
    gone_port = port_of(gone)
    gone.close()
    await gone.wait_closed()
    proxy = await proxy_factory([("127.0.0.1", gone_port), ("127.0.0.1", port_of(a))])
    assert [await ask(proxy.port) for _ in range(3)] == [b"A:hello"] * 3
    a.close()


async def test_ready_replicas_are_preferred_and_unready_ones_are_the_last_resort(
    proxy_factory: Callable[[list[Address]], Awaitable[TcpProxy]],
) -> None:
    unready = await named_server(b"U", ready=False)
    ready = await named_server(b"R")
    proxy = await proxy_factory([("127.0.0.1", port_of(unready)), ("127.0.0.1", port_of(ready))])
    assert [await ask(proxy.port) for _ in range(3)] == [b"R:hello"] * 3
    assert await http_ready(("127.0.0.1", port_of(unready))) is False
    only_unready = await proxy_factory([("127.0.0.1", port_of(unready))])
    assert await ask(only_unready.port) == b"U:hello"  # the gateway's own 503 reaches the client
    for s in (unready, ready):
        s.close()


def test_address_arguments() -> None:
    assert _address("gateway:9000") == ("gateway", 9000)
    with pytest.raises(Exception, match="HOST:PORT"):
        _address("gateway")
