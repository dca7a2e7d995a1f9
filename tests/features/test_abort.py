"""Abort: queued, scheduled and running tasks; waiters get ``TaskAborted``; nothing leaks."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from sdk import Retry, TaskAborted, TaskFailed, TaskStatus, TaskTimedOut, Worker, WrappedContext
from sdk._keys import Keys
from tests.conftest import WorkerFactory
from tests.helpers import wait_until

from ._support import NOTHING_LIVE, per_task_state, queue_keys

# the client stores the outcome of a task aborted before it ran for this long
_ABORTED_TTL_MS = 5 * 60 * 1000


async def _assert_only_aborted_outcome_left(redis: Redis, keys: Keys, task_id: str) -> None:
    """After an abort: no per-task hash field or delayed entry; the only per-task key
    is the aborted outcome, and it expires."""
    assert await per_task_state(redis, keys) == NOTHING_LIVE
    per_task = {k for k in await queue_keys(redis, keys) if task_id in k}
    assert per_task == {keys.result(task_id)}
    assert 0 < await redis.pttl(keys.result(task_id)) <= _ABORTED_TTL_MS


async def test_abort_queued_task(worker: Worker[None], redis: Redis, keys: Keys) -> None:
    ran: list[str] = []

    @worker.task()
    async def job(ctx: WrappedContext[None], label: str) -> str:
        ran.append(label)
        return label

    async with worker:  # no worker consuming: the task stays queued
        handle = await job.enqueue("aborted")
        assert await handle.status() == TaskStatus.QUEUED
        waiter = asyncio.ensure_future(handle.result(timeout=5))
        assert await handle.abort(timeout=1) is True
        with pytest.raises(TaskAborted) as info:
            await waiter
        assert info.value.task_id == handle.id
        assert await handle.status() == TaskStatus.DONE
        await _assert_only_aborted_outcome_left(redis, keys, handle.id)
        assert await handle.abort() is False  # not live any more: nothing to do
        # a waiter that comes later reads the stored aborted outcome
        with pytest.raises(TaskAborted):
            await job.handle(handle.id).result(timeout=1)

    # the stream entry left behind is dropped by the first fetch that meets it
    async with worker.running():
        assert await job.enqueue("after").result(timeout=5) == "after"
    assert ran == ["after"]
    assert await redis.xlen(keys.stream) == 0


async def test_abort_scheduled_task(worker: Worker[None], redis: Redis, keys: Keys) -> None:
    ran: list[str] = []

    @worker.task()
    async def job(ctx: WrappedContext[None]) -> None:
        ran.append(ctx.task_id)

    async with worker.running():
        handle = await job.enqueue().start(delay=timedelta(seconds=30))
        assert await handle.status() == TaskStatus.SCHEDULED
        waiter = asyncio.ensure_future(handle.outcome(timeout=5))
        assert await job.handle(handle.id).abort(timeout=1) is True
        outcome = await waiter
        assert isinstance(outcome.error, TaskAborted)
        assert not outcome.success and outcome.tries == 0
        await _assert_only_aborted_outcome_left(redis, keys, handle.id)
        assert await handle.abort() is False
    assert ran == []


async def test_abort_running_task(worker: Worker[None], redis: Redis, keys: Keys) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @worker.task(ttl=timedelta(seconds=60))
    async def long(ctx: WrappedContext[None]) -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "finished"

    @worker.task()
    async def other(ctx: WrappedContext[None]) -> str:
        return "still working"

    async with worker.running():
        handle = await long.enqueue()
        waiter = asyncio.ensure_future(handle.result(timeout=5))
        await asyncio.wait_for(started.wait(), 5)
        assert await handle.status() == TaskStatus.RUNNING
        assert await handle.abort(timeout=5) is True
        assert cancelled.is_set()
        with pytest.raises(TaskAborted):
            await waiter
        outcome = await handle.outcome(timeout=1)
        assert isinstance(outcome.error, TaskAborted) and outcome.tries == 1
        assert outcome.worker_id == worker.id
        # the worker's own settlement uses the task's ttl
        assert 59_000 <= await redis.pttl(keys.result(handle.id)) <= 60_000
        assert await per_task_state(redis, keys) == NOTHING_LIVE
        assert {k for k in await queue_keys(redis, keys) if handle.id in k} == {
            keys.result(handle.id)
        }
        assert await handle.abort() is False
        assert await other.enqueue().result(timeout=5) == "still working"


async def test_abort_prefetched_task(make_worker: WorkerFactory, redis: Redis, keys: Keys) -> None:
    """A task a worker took but has not started (its prefetch buffer) counts as
    running: the worker settles it as aborted without running it."""
    worker = make_worker(concurrency=1, queue_fetch_limit=2)
    started = asyncio.Event()
    release = asyncio.Event()
    ran: list[str] = []

    @worker.task()
    async def job(ctx: WrappedContext[None], label: str) -> str:
        ran.append(label)
        if label == "first":
            started.set()
            await release.wait()
        return label

    async with worker:
        first = await job.enqueue("first")
        second = await job.enqueue("second")
    async with worker.running():
        await asyncio.wait_for(started.wait(), 5)
        assert await second.status() == TaskStatus.RUNNING  # taken, waiting for a slot
        assert await second.abort(timeout=5) is True
        release.set()
        assert await first.result(timeout=5) == "first"
        with pytest.raises(TaskAborted):
            await second.result(timeout=1)
    assert ran == ["first"]
    assert await per_task_state(redis, keys) == NOTHING_LIVE


async def test_abort_running_sync_task_discards_its_result(
    worker: Worker[None], redis: Redis, keys: Keys
) -> None:
    started = threading.Event()
    release = threading.Event()
    returned = threading.Event()

    @worker.task()
    def blocking(ctx: WrappedContext[None]) -> str:
        started.set()
        release.wait(10)
        returned.set()
        return "too late"

    async with worker.running():
        handle = await blocking.enqueue()
        assert await asyncio.to_thread(started.wait, 5)
        assert await handle.abort(timeout=5) is True
        release.set()
        assert await asyncio.to_thread(returned.wait, 5)
        with pytest.raises(TaskAborted):
            await handle.result(timeout=1)
        assert await per_task_state(redis, keys) == NOTHING_LIVE


async def test_abort_of_finished_or_unknown_task_writes_nothing(
    worker: Worker[None], redis: Redis, keys: Keys
) -> None:
    @worker.task()
    async def job(ctx: WrappedContext[None]) -> int:
        return 5

    async with worker.running():
        done = await job.enqueue()
        assert await done.result(timeout=5) == 5
        before = await queue_keys(redis, keys)
        assert await done.abort(timeout=1) is False
        assert await worker.client.handle("no-such-task").abort(timeout=1) is False
        assert await job.handle("also-unknown").abort(timeout=1) is False
        assert await queue_keys(redis, keys) == before
        assert await per_task_state(redis, keys) == NOTHING_LIVE
        assert await redis.exists(keys.result("no-such-task")) == 0
        assert await done.result(timeout=1) == 5  # the outcome is untouched


async def test_nothing_left_after_results_expire(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """Run every kind of ending with a 0.3 s result TTL; once the outcomes expire,
    only the queue's structural keys remain and no per-task hash field or entry."""
    worker = make_worker(priorities=["high", "default"])
    ttl = timedelta(milliseconds=300)
    started = asyncio.Event()

    @worker.task(ttl=ttl)
    async def ok(ctx: WrappedContext[None], x: int) -> int:
        return x

    @worker.task(ttl=ttl)
    async def failing(ctx: WrappedContext[None]) -> None:
        raise ValueError("boom")

    @worker.task(ttl=ttl, max_tries=2)
    async def retried(ctx: WrappedContext[None]) -> int:
        if ctx.tries == 1:
            raise Retry(delay=0.01)
        return ctx.tries

    @worker.task(ttl=ttl, timeout=0.05)
    async def timed_out(ctx: WrappedContext[None]) -> None:
        await asyncio.sleep(10)

    @worker.task(ttl=ttl)
    async def aborted(ctx: WrappedContext[None]) -> None:
        started.set()
        await asyncio.sleep(30)

    @worker.task(ttl=ttl, unique=True)
    async def unique(ctx: WrappedContext[None], x: int) -> int:
        return x

    async with worker.running():
        ids: list[str] = []
        for handle in (
            await ok.enqueue(1),
            await ok.enqueue(2).start(priority="high"),
            await ok.enqueue(3).start(delay=0.05, priority="high"),
            await ok.enqueue(4).start(key="idem"),
            await unique.enqueue(5),
        ):
            await handle.result(timeout=5)
            ids.append(handle.id)
        with pytest.raises(TaskFailed):
            await (failing_handle := failing.enqueue()).result(timeout=5)
        with pytest.raises(TaskTimedOut):
            await (timed_out_handle := timed_out.enqueue()).result(timeout=5)
        assert await (retried_handle := retried.enqueue()).result(timeout=5) == 2
        running = await aborted.enqueue()
        await asyncio.wait_for(started.wait(), 5)
        assert await running.abort(timeout=5)
        ids += [failing_handle.id, timed_out_handle.id, retried_handle.id, running.id]

        async def expired() -> bool:
            return await redis.exists(*(keys.result(i) for i in ids)) == 0

        await wait_until(expired, timeout=3, what="the outcomes to expire")
        remaining = await queue_keys(redis, keys)
        print("keys left after expiry:", sorted(remaining))
        assert remaining == {
            keys.stream,  # the ready streams (empty; they carry the consumer group)
            keys.stream_for("high"),
            keys.wake,  # short capped stream that wakes idle workers
            keys.worker(worker.id),  # this worker's health record (expires)
        }
        for stream in (keys.stream, keys.stream_for("high")):
            assert await redis.xlen(stream) == 0
        assert await redis.xlen(keys.wake) <= 32  # capped with MAXLEN ~ 16
        assert await per_task_state(redis, keys) == NOTHING_LIVE
        assert not any(i in key for key in remaining for i in ids)
