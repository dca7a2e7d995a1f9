"""Retries: ``raise Retry(delay=...)``, the default ``tries**2`` backoff, retry on timeout."""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import (
    RelayqError,
    Retry,
    TaskFailed,
    TaskResult,
    TaskStatus,
    TaskTimedOut,
    Worker,
    WrappedContext,
)
from sdk._keys import Keys
from sdk.errors import ConfigurationError
from tests.conftest import WorkerFactory
from tests.helpers import wait_for_status, wait_until

from ._support import NOTHING_LIVE, health_record, per_task_state


async def test_retried_task_sees_tries_1_2_3(
    worker: Worker[None], redis: Redis, keys: Keys
) -> None:
    seen: list[int] = []

    @worker.task(max_tries=3)
    async def flaky(ctx: WrappedContext[None], x: int) -> int:
        seen.append(ctx.tries)
        if ctx.tries < 3:
            raise Retry(delay=0.05)
        return x * ctx.tries

    async with worker.running():
        outcome = await flaky.enqueue(7).outcome(timeout=5)
    assert seen == [1, 2, 3]
    assert outcome.success and outcome.value == 21
    assert outcome.tries == 3
    assert await per_task_state(redis, keys) == NOTHING_LIVE


async def test_retry_on_the_last_try_fails_the_task(worker: Worker[None]) -> None:
    seen: list[int] = []

    @worker.task(max_tries=2)
    async def always(ctx: WrappedContext[None]) -> None:
        seen.append(ctx.tries)
        raise Retry(delay=0.01)

    async with worker.running():
        with pytest.raises(TaskFailed) as info:
            await always.enqueue().result(timeout=5)
    assert seen == [1, 2]
    assert info.value.exc_type == "Retry"
    assert "max_tries=2" in info.value.message


async def test_default_backoff_is_tries_squared(worker: Worker[None]) -> None:
    """The retry's due time is read from Redis (``info().scheduled_time``), not waited for;
    the second retry is brought forward with ``reschedule`` to see its backoff too."""
    raised_at: list[float] = []

    @worker.task(max_tries=3)
    async def backoff(ctx: WrappedContext[None]) -> int:
        if ctx.tries < 3:
            raised_at.append(time.time())
            raise Retry()
        return ctx.tries

    async with worker.running():
        handle = await backoff.enqueue()
        for tries in (1, 2):
            await wait_until(
                functools.partial(_scheduled_after, handle, tries), what=f"retry after try {tries}"
            )
            info = await handle.info()
            assert info is not None and info.scheduled_time is not None
            delay = info.scheduled_time.timestamp() - raised_at[-1]
            assert tries**2 - 0.05 <= delay <= tries**2 + 0.25, (tries, delay)
            assert await handle.reschedule(delay=0.01)
        assert await handle.result(timeout=5) == 3


async def _scheduled_after(handle: TaskResult[Any], tries: int) -> bool:
    info = await handle.info()
    return info is not None and info.status == TaskStatus.SCHEDULED and info.tries == tries


async def test_retry_delay_accepts_timedelta(worker: Worker[None]) -> None:
    seen: list[int] = []
    raised_at: list[float] = []

    @worker.task(max_tries=3)
    async def td(ctx: WrappedContext[None], delay_ms: int) -> int:
        seen.append(ctx.tries)
        if ctx.tries == 1:
            raised_at.append(time.time())
            raise Retry(delay=timedelta(milliseconds=delay_ms))
        return ctx.tries

    async with worker.running():
        assert await td.enqueue(50).result(timeout=5) == 2
        assert seen == [1, 2]
        slow = await td.enqueue(3000)
        await wait_for_status(slow, TaskStatus.SCHEDULED)
        info = await slow.info()
        assert info is not None and info.scheduled_time is not None
        assert 2.9 <= info.scheduled_time.timestamp() - raised_at[-1] <= 3.25
        assert await slow.unschedule()

    assert Retry(timedelta(seconds=1.5)).delay == 1.5
    with pytest.raises(ConfigurationError):
        Retry(delay=-1)
    with pytest.raises(ConfigurationError):
        Retry(delay=timedelta(seconds=-1))


async def test_retry_is_not_a_failure_until_the_last_try(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """While tries remain a retry stores and publishes nothing (no outcome, no failure
    counted); the worker's health record counts it as retried."""
    worker = make_worker(health_check_interval=0.1)
    gate = asyncio.Event()
    retried = asyncio.Event()

    @worker.task(max_tries=3)
    async def twice(ctx: WrappedContext[None]) -> int:
        if ctx.tries == 1:
            retried.set()
            raise Retry(delay=0.05)
        if ctx.tries == 2:
            await gate.wait()
            raise Retry(delay=0.05)
        return ctx.tries

    async with worker.running():
        handle = await twice.enqueue()
        await asyncio.wait_for(retried.wait(), 5)
        await wait_until(lambda: _running(handle.id, redis, keys), what="try 2 running")
        # between tries: no stored outcome, not DONE
        assert await redis.exists(keys.result(handle.id)) == 0
        assert await handle.status() == TaskStatus.RUNNING
        gate.set()
        outcome = await handle.outcome(timeout=5)
        assert outcome.success and outcome.tries == 3

        async def counted() -> bool:
            record = await health_record(redis, keys, worker.id)
            return record is not None and record["done"] == 1

        await wait_until(counted, what="health record counting the run")
        record = await health_record(redis, keys, worker.id)
        assert record is not None
        assert (record["done"], record["failed"], record["retried"]) == (1, 0, 2)


async def _running(task_id: str, redis: Redis, keys: Keys) -> bool:
    return bool(await redis.hget(keys.task(task_id), "w"))  # a worker holds it


async def test_retry_on_timeout_retries_a_timed_out_task(worker: Worker[None]) -> None:
    seen: list[int] = []

    @worker.task(max_tries=2, timeout=0.1, retry_on_timeout=True)
    async def slow_first(ctx: WrappedContext[None]) -> int:
        seen.append(ctx.tries)
        if ctx.tries == 1:
            await asyncio.sleep(10)
        return ctx.tries

    @worker.task(max_tries=2, timeout=0.1, retry_on_timeout=True)
    async def always_slow(ctx: WrappedContext[None]) -> None:
        await asyncio.sleep(10)

    async with worker.running():
        handle = await slow_first.enqueue()
        # the retry after a timeout uses the default backoff (1 s after try 1)
        await wait_for_status(handle, TaskStatus.SCHEDULED)
        assert await handle.reschedule(delay=0.01)
        outcome = await handle.outcome(timeout=5)
        assert outcome.value == 2 and outcome.tries == 2
        assert seen == [1, 2]

        # on the last try a timeout is final
        last = await always_slow.enqueue()
        await wait_for_status(last, TaskStatus.SCHEDULED)
        assert await last.reschedule(delay=0.01)
        with pytest.raises(TaskTimedOut) as info:
            await last.result(timeout=5)
        assert (await last.outcome(timeout=1)).tries == 2
        assert info.value.exc_type == "TaskTimedOut"


async def test_timeout_without_retry_on_timeout_is_final(worker: Worker[None]) -> None:
    seen: list[int] = []

    @worker.task(max_tries=3, timeout=0.1)
    async def slow(ctx: WrappedContext[None]) -> None:
        seen.append(ctx.tries)
        await asyncio.sleep(10)

    async with worker.running():
        with pytest.raises(TaskTimedOut):
            await slow.enqueue().result(timeout=5)
    assert seen == [1]
    with pytest.raises(ConfigurationError, match="needs a timeout"):
        worker.task(retry_on_timeout=True)


async def test_retry_is_not_a_relayq_error(worker: Worker[None]) -> None:
    """``except RelayqError`` in task code must not swallow a ``Retry``."""
    assert not issubclass(Retry, RelayqError)
    assert issubclass(Retry, Exception)
    seen: list[int] = []

    @worker.task(max_tries=2)
    async def guarded(ctx: WrappedContext[None]) -> str:
        seen.append(ctx.tries)
        try:
            if ctx.tries == 1:
                raise Retry(delay=0.01)
        except RelayqError:
            return "swallowed"
        return "retried"

    async with worker.running():
        assert await guarded.enqueue().result(timeout=5) == "retried"
    assert seen == [1, 2]
