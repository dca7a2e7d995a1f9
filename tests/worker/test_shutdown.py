"""Running and stopping a worker: readiness, prompt stop, grace period, hand-back, burst."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from sdk import RelayqError, TaskStatus, Worker, WrappedContext
from tests.conftest import WorkerFactory
from tests.helpers import wait_for_status


async def test_running_block_consumes_and_stops_promptly(worker: Worker[None]) -> None:
    """Leaving ``worker.running()`` right after a result must not wait for an idle
    blocking read to time out (repeated: the race is between fetch and stop)."""

    @worker.task()
    async def double(ctx: WrappedContext[None], x: int) -> int:
        return x * 2

    for i in range(5):
        async with worker.running():
            assert worker.ready.is_set()
            assert await double.enqueue(i).result(timeout=5) == i * 2
            started = time.monotonic()
        assert time.monotonic() - started < 1.0, f"stop took too long on round {i}"
        assert not worker.ready.is_set()


async def test_run_twice_at_once_is_refused(worker: Worker[None]) -> None:
    @worker.task()
    async def noop(ctx: WrappedContext[None]) -> None:
        return None

    async with worker.running():
        with pytest.raises(RelayqError, match="already running"):
            await worker.run(handle_signals=False)


async def test_burst_returns_once_drained(worker: Worker[None]) -> None:
    seen: list[int] = []

    @worker.task()
    async def record(ctx: WrappedContext[None], x: int) -> int:
        seen.append(x)
        return x

    async with worker:
        handles = [await record.enqueue(i) for i in range(20)]
        await asyncio.wait_for(worker.run(burst=True, handle_signals=False), timeout=10)
        assert sorted(seen) == list(range(20))
        for h in handles:
            assert await h.status() == TaskStatus.DONE
            assert await h.result(timeout=1) == int(h.args[0])


async def test_stop_lets_running_finish_and_hands_back_prefetched(
    make_worker: WorkerFactory,
) -> None:
    worker = make_worker(concurrency=1, queue_fetch_limit=3, grace_period=5.0)
    started = asyncio.Event()
    release = asyncio.Event()
    ran: list[str] = []

    @worker.task(name="job")
    async def job(ctx: WrappedContext[None], label: str) -> str:
        ran.append(label)
        if label == "a":
            started.set()
            await release.wait()
        return label.upper()

    async with worker:
        # all three are queued before the worker starts, so one fetch takes them:
        # "a" runs (concurrency 1), "b" and "c" wait in the prefetch buffer
        ha, hb, hc = [await job.enqueue(label) for label in "abc"]
        async with worker.running():
            await asyncio.wait_for(started.wait(), timeout=5)
            for h in (ha, hb, hc):
                assert await h.status() == TaskStatus.RUNNING
            worker.stop()
            # the prefetched ones go back to the queue at once, the running one keeps going
            await wait_for_status(hb, TaskStatus.QUEUED)
            await wait_for_status(hc, TaskStatus.QUEUED)
            assert await ha.status() == TaskStatus.RUNNING
            release.set()
        assert await ha.result(timeout=1) == "A"
        assert ran == ["a"]
        for h in (hb, hc):
            info = await h.info()
            assert info is not None
            assert info.status == TaskStatus.QUEUED
            assert info.tries == 0  # the unused delivery was given back
            assert info.worker_id is None

        second = make_worker()

        @second.task(name="job")
        async def job2(ctx: WrappedContext[None], label: str) -> str:
            ran.append(label)
            return label.upper() + str(ctx.tries)

        async with second.running():
            assert await hb.result(timeout=5) == "B1"
            assert await hc.result(timeout=5) == "C1"
        assert sorted(ran) == ["a", "b", "c"]


async def test_grace_period_over_cancels_and_hands_back(make_worker: WorkerFactory) -> None:
    worker = make_worker(grace_period=0.2)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @worker.task()
    async def forever(ctx: WrappedContext[None]) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with worker:
        handle = await forever.enqueue()
        async with worker.running():
            await asyncio.wait_for(started.wait(), timeout=5)
            t0 = time.monotonic()
        assert time.monotonic() - t0 < 2.0
        assert cancelled.is_set()
        info = await handle.info()
        assert info is not None
        assert info.status == TaskStatus.QUEUED
        # it ran (and was cancelled): the try stays counted, so a task that always
        # outlasts the grace period still reaches max_tries
        assert info.tries == 1


async def test_stop_during_startup_returns(redis_url: str, queue_name: str) -> None:
    """A stop requested while the lifespan is still starting (a signal at boot) is kept."""

    @asynccontextmanager
    async def lifespan(w: Worker[int]) -> AsyncIterator[int]:
        w.stop()
        yield 1

    worker = Worker(redis_url, queue_name=queue_name, worker_lifespan=lifespan)

    @worker.task()
    async def noop(ctx: WrappedContext[int]) -> None:
        return None

    await asyncio.wait_for(worker.run(handle_signals=False), timeout=5)
    assert not worker.ready.is_set()
