"""Result TTL: ``ttl=None`` keeps the outcome, a timedelta expires it, ``0`` stores nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from sdk import Client, TaskFailed, TaskNotFound, TaskStatus, Worker, WrappedContext
from sdk._keys import Keys
from sdk.errors import ConfigurationError
from tests.helpers import wait_until


async def test_ttl_none_keeps_the_outcome(worker: Worker[None], redis: Redis, keys: Keys) -> None:
    @worker.task(ttl=None)
    async def keep(ctx: WrappedContext[None]) -> str:
        return "kept"

    async with worker.running():
        handle = await keep.enqueue()
        assert await handle.result(timeout=5) == "kept"
        assert await redis.pttl(keys.result(handle.id)) == -1
        await redis.delete(keys.result(handle.id))


async def test_ttl_timedelta_sets_the_expiry(
    worker: Worker[None], redis: Redis, keys: Keys
) -> None:
    @worker.task(ttl=timedelta(seconds=1))
    async def short(ctx: WrappedContext[None]) -> str:
        return "short"

    @worker.task(ttl=timedelta(seconds=1))
    async def short_failing(ctx: WrappedContext[None]) -> str:
        raise ValueError("boom")

    async with worker.running():
        ok = await short.enqueue()
        assert await ok.result(timeout=5) == "short"
        assert 900 <= await redis.pttl(keys.result(ok.id)) <= 1000
        failed = await short_failing.enqueue()
        with pytest.raises(TaskFailed):
            await failed.result(timeout=5)
        assert 900 <= await redis.pttl(keys.result(failed.id)) <= 1000  # failures too


async def test_default_ttl_is_five_minutes(worker: Worker[None], redis: Redis, keys: Keys) -> None:
    @worker.task()
    async def default(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker.running():
        handle = await default.enqueue()
        await handle.result(timeout=5)
        assert 299_000 <= await redis.pttl(keys.result(handle.id)) <= 300_000


async def _routes(redis: Redis, keys: Keys, task_id: str, n: int) -> bool:
    """Whether ``n`` clients wait for the live task (its routes)."""
    routes = await redis.hget(keys.task(task_id), "r")
    return routes is not None and len(routes.split()) == n


async def test_ttl_zero_stores_nothing_but_waiters_get_the_outcome(
    worker: Worker[None], redis: Redis, keys: Keys, client: Client
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.task(ttl=0)
    async def fleeting(ctx: WrappedContext[None], x: int) -> int:
        started.set()
        await release.wait()
        return x + 1

    async with worker.running():
        handle = fleeting.enqueue(41)
        # .result() sends it with its route; the task can only finish once released
        waiter = asyncio.ensure_future(handle.result(timeout=5))
        await asyncio.wait_for(started.wait(), 5)
        # a caller of another client attaches to the live task by id
        async with client:
            second = asyncio.ensure_future(client.handle(handle.id).outcome(timeout=5))
            await wait_until(
                lambda: _routes(redis, keys, handle.id, 2), what="the second caller's route"
            )
            release.set()
            assert await waiter == 42
            assert (await second).value == 42
        assert await redis.exists(keys.result(handle.id)) == 0
        assert await handle.status() == TaskStatus.NOT_FOUND
        # a caller that comes after the fact finds nothing (that is what ttl=0 means),
        # and is told so at once, even without a timeout
        with pytest.raises(TaskNotFound):
            await handle.result()


def test_negative_ttl_is_rejected(worker: Worker[None]) -> None:
    with pytest.raises(ConfigurationError):
        worker.task(ttl=-1)
