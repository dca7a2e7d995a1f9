"""``concurrency`` caps running tasks, ``queue_fetch_limit`` caps what a worker holds."""

from __future__ import annotations

import asyncio

from sdk import TaskStatus, WrappedContext
from tests.conftest import WorkerFactory
from tests.helpers import wait_until


async def test_concurrency_caps_running_tasks(make_worker: WorkerFactory) -> None:
    worker = make_worker(concurrency=3)
    running = 0
    peak = 0
    three_running = asyncio.Event()
    release = asyncio.Event()

    @worker.task()
    async def hold(ctx: WrappedContext[None], i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            three_running.set()
        await release.wait()
        running -= 1
        return i

    async with worker.running():
        handles = [await hold.enqueue(i) for i in range(8)]
        await asyncio.wait_for(three_running.wait(), timeout=5)
        assert running == 3
        release.set()
        assert [await h.result(timeout=5) for h in handles] == list(range(8))
    assert peak == 3


async def test_queue_fetch_limit_caps_prefetch(make_worker: WorkerFactory) -> None:
    worker = make_worker(concurrency=1, queue_fetch_limit=2)
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.task()
    async def hold(ctx: WrappedContext[None], i: int) -> int:
        started.set()
        await release.wait()
        return i

    async with worker:
        handles = [await hold.enqueue(i) for i in range(5)]
        async with worker.running():
            await asyncio.wait_for(started.wait(), timeout=5)

            async def statuses() -> list[TaskStatus]:
                return [await h.status() for h in handles]

            async def two_held() -> bool:
                return (await statuses()).count(TaskStatus.RUNNING) == 2

            await wait_until(two_held, what="the worker to hold two deliveries")
            # one runs, one waits in the prefetch buffer, the rest stay in the queue
            assert await statuses() == [TaskStatus.RUNNING] * 2 + [TaskStatus.QUEUED] * 3
            release.set()
            assert [await h.result(timeout=5) for h in handles] == list(range(5))
