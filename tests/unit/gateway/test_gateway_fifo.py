"""The connection's bounded FIFO: order, bound, and no memory held while empty."""

import asyncio

import pytest

from services.gateway.connection import Fifo


def test_fifo_keeps_order_and_frees_its_storage_when_drained() -> None:
    fifo: Fifo[int] = Fifo(3)
    assert fifo._items is None
    for i in range(3):
        fifo.put_nowait(i)
    assert len(fifo) == 3
    assert [fifo.get_nowait() for _ in range(3)] == [0, 1, 2]
    with pytest.raises(asyncio.QueueEmpty):
        fifo.get_nowait()
    assert fifo._items is None and len(fifo) == 0


def test_fifo_refuses_past_its_bound() -> None:
    fifo: Fifo[str] = Fifo(2)
    fifo.put_nowait("a")
    fifo.put_nowait("b")
    with pytest.raises(asyncio.QueueFull):
        fifo.put_nowait("c")
    assert fifo.get_nowait() == "a"
    fifo.put_nowait("c")
    assert [fifo.get_nowait(), fifo.get_nowait()] == ["b", "c"]
