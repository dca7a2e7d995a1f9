"""Priorities: named priorities, highest fetched first, kept through scheduling."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from redis.asyncio import Redis

from sdk import Retry, WrappedContext
from sdk._keys import GROUP, Keys
from sdk.client import Client
from sdk.errors import ConfigurationError
from tests.conftest import WorkerFactory

from ._support import NOTHING_LIVE, per_task_state

LEVELS = ["high", "default", "low"]


async def test_priority_order_holds_under_a_backlog(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    priorities = list(LEVELS)
    worker = make_worker(concurrency=1, priorities=priorities)
    order: list[tuple[str, int]] = []

    @worker.task()
    async def job(ctx: WrappedContext[None], level: str, n: int) -> None:
        order.append((level, n))

    rng = random.Random(7)
    levels = [LEVELS[i % 3] for i in range(30)]
    rng.shuffle(levels)
    async with worker:  # enqueue the whole backlog before anything consumes it
        handles = [
            await job.enqueue(level, n).start(priority=None if level == "default" else level)
            for n, level in enumerate(levels)
        ]
    async with worker.running():
        for handle in handles:
            await handle.result(timeout=10)
    ran_levels = [level for level, _ in order]
    assert ran_levels == sorted(ran_levels, key=LEVELS.index), ran_levels
    for level in LEVELS:  # first come, first served within a priority
        ns = [n for lv, n in order if lv == level]
        assert ns == sorted(ns) and len(ns) == 10
    assert priorities == LEVELS  # the caller's list is neither reversed nor mutated
    assert worker.client.priorities == ("high", "default", "low")
    assert await per_task_state(redis, keys) == NOTHING_LIVE


async def test_high_priority_overtakes_a_running_backlog(make_worker: WorkerFactory) -> None:
    """Tasks of a higher priority enqueued while a low backlog is being worked off are
    taken next (no prefetch beyond the running task: queue_fetch_limit=1)."""
    worker = make_worker(concurrency=1, queue_fetch_limit=1, priorities=LEVELS)
    order: list[str] = []
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.task()
    async def job(ctx: WrappedContext[None], label: str) -> None:
        order.append(label)
        if label == "low-0":
            started.set()
            await release.wait()

    async with worker.running():
        backlog = [await job.enqueue(f"low-{i}").start(priority="low") for i in range(10)]
        await asyncio.wait_for(started.wait(), 5)
        urgent = [await job.enqueue(f"high-{i}").start(priority="high") for i in range(3)]
        release.set()
        for handle in (*backlog, *urgent):
            await handle.result(timeout=5)
    assert order[:4] == ["low-0", "high-0", "high-1", "high-2"]
    assert order[4:] == [f"low-{i}" for i in range(1, 10)]


async def test_client_priorities_match_the_workers(
    make_worker: WorkerFactory, redis_url: str, queue_name: str
) -> None:
    worker = make_worker(concurrency=1, priorities=LEVELS)
    order: list[str] = []

    @worker.task()
    async def job(ctx: WrappedContext[None], label: str) -> None:
        order.append(label)

    client = Client(redis_url, queue_name, priorities=LEVELS)

    @client.stub(name="job")
    async def job_stub(label: str) -> None:
        raise NotImplementedError

    async with client:
        handles = [
            await job_stub.enqueue("low").start(priority="low"),
            await job_stub.enqueue("default").start(),
            await job_stub.enqueue("high").start(priority="high"),
        ]
        async with worker.running():
            for handle in handles:
                await handle.result(timeout=5)
    assert order == ["high", "default", "low"]


async def test_unknown_priority_is_rejected(make_worker: WorkerFactory) -> None:
    worker = make_worker(priorities=LEVELS)

    @worker.task()
    async def job(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker.running():
        handle = job.enqueue()
        with pytest.raises(ConfigurationError, match="unknown priority 'urgent'"):
            await handle.start(priority="urgent")
        assert not handle.sent
        assert await handle.start(priority="low") is handle
        assert await handle.result(timeout=5) == 1


@pytest.mark.parametrize(
    ("priorities", "default"),
    [([], None), (["a", "a"], None), (["a", "b"], "c"), ("high", None), (["x{y}"], None)],
)
def test_invalid_priority_configuration(
    redis_url: str, queue_name: str, priorities: list[str], default: str | None
) -> None:
    with pytest.raises(ConfigurationError):
        Client(redis_url, queue_name, priorities=priorities, default_priority=default)


def test_default_priority_is_default_or_the_lowest(redis_url: str, queue_name: str) -> None:
    assert Client(redis_url, queue_name, priorities=LEVELS).default_priority == "default"
    assert Client(redis_url, queue_name, priorities=["fast", "slow"]).default_priority == "slow"
    chosen = Client(redis_url, queue_name, priorities=["fast", "slow"], default_priority="fast")
    assert chosen.default_priority == "fast"


async def test_delayed_task_keeps_its_priority(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """A scheduled high-priority task, once due, is taken before a backlog of
    default ones that were queued long before it."""
    worker = make_worker(concurrency=1, priorities=LEVELS)
    order: list[str] = []

    @worker.task()
    async def job(ctx: WrappedContext[None], label: str) -> None:
        order.append(label)

    async with worker:
        backlog = [await job.enqueue(f"default-{i}") for i in range(5)]
        urgent = await job.enqueue("high").start(delay=0.1, priority="high")
        assert await redis.hget(keys.task(urgent.id), "q") == b"high"
        info = await urgent.info()
        assert info is not None and info.scheduled_time is not None
        due = info.scheduled_time.timestamp()
        # let it come due while no worker runs (waiting for a time, not an event)
        await asyncio.sleep(max(0.0, due - time.time()) + 0.01)
    async with worker.running():
        for handle in (*backlog, urgent):
            await handle.result(timeout=5)
    assert order[0] == "high"
    assert order[1:] == [f"default-{i}" for i in range(5)]
    assert await per_task_state(redis, keys) == NOTHING_LIVE


async def test_retried_task_keeps_its_priority(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """A retry goes back through the delayed set and returns to its own stream."""
    worker = make_worker(concurrency=1, priorities=LEVELS)
    pending: list[dict[str, int]] = []

    @worker.task(max_tries=2)
    async def job(ctx: WrappedContext[None]) -> int:
        if ctx.tries == 1:
            raise Retry(delay=0.05)
        # which stream's consumer group holds this delivery
        pending.append(
            {
                level: int((await ctx.redis.xpending(keys.stream_for(level), GROUP))["pending"])
                for level in LEVELS
            }
        )
        return ctx.tries

    async with worker.running():
        handle = await job.enqueue().start(priority="low")
        assert await handle.result(timeout=5) == 2
    assert pending == [{"high": 0, "default": 0, "low": 1}]
    assert await per_task_state(redis, keys) == NOTHING_LIVE
