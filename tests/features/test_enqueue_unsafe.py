"""Enqueue by name (``client.enqueue_unsafe``) for dynamic callers."""

from __future__ import annotations

import pytest

from sdk import TaskFailed, Worker, WrappedContext
from sdk.client import Client


async def test_enqueue_unsafe_by_name(worker: Worker[None], client: Client) -> None:
    @worker.task()
    async def add(ctx: WrappedContext[None], a: int, b: int = 0) -> int:
        return a + b

    @worker.task(name="sync-mul")
    def mul(ctx: WrappedContext[None], a: int, b: int) -> int:
        return a * b

    async with worker.running(), client:
        assert await client.enqueue_unsafe("add", 1, 2).result(timeout=5) == 3
        assert await client.enqueue_unsafe("add", 1, b=5).result(timeout=5) == 6
        assert await client.enqueue_unsafe("sync-mul", 3, 4).result(timeout=5) == 12
        handle = await client.enqueue_unsafe("add", 2).start(delay=0.05)
        outcome = await handle.outcome(timeout=5)
        assert outcome.value == 2 and outcome.fn_name == "add"
        # the worker's own client works the same
        assert await worker.client.enqueue_unsafe("add", 10).result(timeout=5) == 10


async def test_enqueue_unsafe_failures(worker: Worker[None], client: Client) -> None:
    @worker.task()
    async def add(ctx: WrappedContext[None], a: int, b: int = 0) -> int:
        return a + b

    async with worker.running(), client:
        with pytest.raises(TaskFailed) as unknown:
            await client.enqueue_unsafe("no_such_task", 1).result(timeout=5)
        assert unknown.value.exc_type == "UnknownTask"
        assert "no_such_task" in unknown.value.message
        assert "add" in unknown.value.message  # lists what is known

        with pytest.raises(TaskFailed) as bad:
            await client.enqueue_unsafe("add", 1, 2, 3).result(timeout=5)
        assert bad.value.exc_type == "InvalidArguments"

        with pytest.raises(TaskFailed) as raised:
            await client.enqueue_unsafe("add", "a", 1).result(timeout=5)
        assert raised.value.exc_type == "TypeError"  # the task itself raised

        # the worker keeps running after bad calls
        assert await client.enqueue_unsafe("add", 1, 1).result(timeout=5) == 2
