"""Batches: ``enqueue_many`` sends thousands of tasks in one round trip."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings

import pytest
from redis.asyncio import Redis

from sdk import TaskStatus, WrappedContext
from sdk._keys import Keys
from sdk.errors import PayloadTooLarge
from tests.conftest import WorkerFactory
from tests.helpers import live_task_ids

from ._support import NOTHING_LIVE, per_task_state, queue_keys


@pytest.mark.timeout(60)
async def test_enqueue_many_10k_all_complete(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    worker = make_worker(concurrency=64)
    total = 10_000
    seen: set[int] = set()
    executions = 0
    all_done = asyncio.Event()

    @worker.task(ttl=30)
    async def count(ctx: WrappedContext[None], n: int) -> int:
        nonlocal executions
        executions += 1
        seen.add(n)
        if executions == total:
            all_done.set()
        return n

    async with worker:
        handles = await worker.enqueue_many(count.enqueue(n) for n in range(total))
        assert len(handles) == total and all(h.sent for h in handles)
        assert [h.args for h in handles[:3]] == [(0,), (1,), (2,)]  # in order
        assert len({h.id for h in handles}) == total
        assert len(await live_task_ids(redis, keys)) == total
        assert await redis.xlen(keys.stream) == total
    async with worker.running():
        await asyncio.wait_for(all_done.wait(), 40)
        for handle in handles[:: total // 10]:
            assert await handle.result(timeout=5) == handle.args[0]
        assert await handles[-1].result(timeout=5) == total - 1
    assert executions == total
    assert seen == set(range(total))
    assert await per_task_state(redis, keys) == NOTHING_LIVE
    await redis.unlink(*await queue_keys(redis, keys))


async def test_enqueue_many_mixed_tasks_and_options(make_worker: WorkerFactory) -> None:
    worker = make_worker()

    @worker.task()
    async def double(ctx: WrappedContext[None], x: int) -> int:
        return 2 * x

    @worker.task()
    async def shout(ctx: WrappedContext[None], s: str) -> str:
        return s.upper()

    async with worker.running():
        assert await worker.enqueue_many([]) == []
        d, s = await worker.client.enqueue_many([double.enqueue(4), shout.enqueue("a")])
        assert await d.result(timeout=5) == 8
        assert await s.result(timeout=5) == "A"
        # a handle already sent cannot go again
        with pytest.raises(Exception, match="already sent"):
            await worker.enqueue_many([d])


async def test_enqueue_many_sends_nothing_if_one_payload_is_bad(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    worker = make_worker(max_payload_bytes=1000)

    @worker.task()
    async def echo(ctx: WrappedContext[None], s: str) -> str:
        return s

    async with worker:
        handles = [echo.enqueue("ok"), echo.enqueue("x" * 5000), echo.enqueue("fine")]
        with pytest.raises(PayloadTooLarge):
            await worker.enqueue_many(handles)
        assert len(await live_task_ids(redis, keys)) == 0
        assert all(not h.sent for h in handles)
        # send the good ones so no handle is left unsent
        good = await worker.enqueue_many([handles[0], handles[2]])
        assert [await h.status() for h in good] == [TaskStatus.QUEUED] * 2
        assert await handles[0].abort() and await handles[2].abort()
    # the refused one raised PayloadTooLarge to its caller already: dropping it
    # does not warn a second time (the warning is for handles nobody tried to send)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        del handles, good
        gc.collect()
    assert [w for w in record if issubclass(w.category, RuntimeWarning)] == []


async def test_enqueue_many_throughput_20k(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """Measures enqueue_many for 20,000 tasks (no timing assertion; see the output)."""
    worker = make_worker()

    @worker.task()
    async def work(ctx: WrappedContext[None], n: int, url: str) -> int:
        return n

    total = 20_000
    async with worker:
        await worker.enqueue_many([work.enqueue(-1, "warm-up")])
        calls = [work.enqueue(n, f"https://example.com/{n}") for n in range(total)]
        started = time.perf_counter()
        await worker.enqueue_many(calls)
        elapsed = time.perf_counter() - started
        assert len(await live_task_ids(redis, keys)) == total + 1
    rate = total / elapsed
    print(f"\nenqueue_many: {total} tasks in {elapsed * 1000:.0f} ms = {rate:,.0f} tasks/s")
    await redis.unlink(*await queue_keys(redis, keys))
