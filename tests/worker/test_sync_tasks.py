"""Plain ``def`` tasks run in threads and never block the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

from sdk import TaskStatus, WrappedContext
from tests.conftest import WorkerFactory


async def test_sync_task_does_not_block_other_tasks(make_worker: WorkerFactory) -> None:
    worker = make_worker(concurrency=4)
    sleeping = threading.Event()
    loop_threads: set[int] = set()
    task_threads: set[int] = set()

    @worker.task()
    def slow_sync(ctx: WrappedContext[None], seconds: float) -> str:
        task_threads.add(threading.get_ident())
        sleeping.set()
        time.sleep(seconds)  # blocking on purpose
        return "slept"

    @worker.task()
    async def quick(ctx: WrappedContext[None], x: int) -> int:
        loop_threads.add(threading.get_ident())
        return x + 1

    async with worker.running():
        slow = await slow_sync.enqueue(2.0)
        assert await asyncio.to_thread(sleeping.wait, 5)
        t0 = time.monotonic()
        results = await asyncio.gather(*(quick.enqueue(i).result(timeout=5) for i in range(10)))
        elapsed = time.monotonic() - t0
        assert results == list(range(1, 11))
        # the async tasks finished while the sync one was still sleeping (a blocked
        # loop would have waited out its 2 s)
        assert await slow.status() == TaskStatus.RUNNING
        assert elapsed < 1.5
        assert await slow.result(timeout=5) == "slept"

    assert loop_threads == {threading.get_ident()}
    assert task_threads and threading.get_ident() not in task_threads


async def test_sync_tasks_run_concurrently(make_worker: WorkerFactory) -> None:
    worker = make_worker(concurrency=3)
    barrier = threading.Barrier(3, timeout=5)

    @worker.task()
    def meet(ctx: WrappedContext[None], i: int) -> int:
        barrier.wait()  # only passes when three run at the same time
        return i

    async with worker.running():
        handles = [meet.enqueue(i) for i in range(3)]
        assert await asyncio.gather(*(h.result(timeout=10) for h in handles)) == [0, 1, 2]
