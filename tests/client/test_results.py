"""Waiting for outcomes: values, failures, timeouts, and outcomes that came first."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from sdk import (
    RelayqError,
    ResultTimeout,
    TaskFailed,
    TaskStatus,
    TaskTimedOut,
    Worker,
    WrappedContext,
)
from tests.helpers import wait_for_status


async def test_result_timeout_without_a_worker(worker: Worker[None]) -> None:
    @worker.task()
    async def never_runs(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker:
        handle = never_runs.enqueue()
        t0 = time.monotonic()
        with pytest.raises(ResultTimeout) as excinfo:
            await handle.result(timeout=0.2)
        assert 0.15 <= time.monotonic() - t0 < 2.0
        assert isinstance(excinfo.value, TimeoutError)
        assert isinstance(excinfo.value, RelayqError)
        assert not isinstance(excinfo.value, TaskFailed)
        # the task was sent and is still there: the caller's wait ran out, not the task
        assert handle.sent
        assert await handle.status() == TaskStatus.QUEUED
        with pytest.raises(ResultTimeout):
            await handle.outcome(timeout=0.05)

        # and it can still be waited for once a worker comes
        async with worker.running():
            assert await handle.result(timeout=5) == 1


def raise_value_error_deep(n: int) -> None:
    if n == 42:
        raise ValueError(f"boom {n}")


async def test_failing_task_raises_task_failed(worker: Worker[None]) -> None:
    @worker.task()
    async def failing_task_fn(ctx: WrappedContext[None], n: int) -> int:
        raise_value_error_deep(n)
        return n

    async with worker.running():
        handle = failing_task_fn.enqueue(42)
        with pytest.raises(TaskFailed) as excinfo:
            await handle.result(timeout=5)
        error = excinfo.value
        assert type(error) is TaskFailed
        assert not isinstance(error, TaskTimedOut)
        assert isinstance(error, RelayqError)
        assert error.task_id == handle.id
        assert error.exc_type == "ValueError"
        assert error.message == "boom 42"
        assert "failing_task_fn" in error.traceback
        assert "raise_value_error_deep" in error.traceback
        assert "ValueError: boom 42" in error.traceback
        assert "ValueError" in str(error) and "boom 42" in str(error)

        outcome = await handle.outcome(timeout=1)  # the stored failure reads back the same
        assert not outcome.success
        assert outcome.value is None
        assert outcome.error is not None
        assert outcome.error.exc_type == "ValueError"
        assert outcome.tries == 1  # a plain exception is not retried
        with pytest.raises(TaskFailed):
            outcome.unwrap()


async def test_custom_exception_type_name_is_qualified(worker: Worker[None]) -> None:
    class Outer:
        class DomainError(Exception):
            pass

    @worker.task()
    async def domain(ctx: WrappedContext[None]) -> None:
        raise Outer.DomainError("nope")

    async with worker.running():
        with pytest.raises(TaskFailed) as excinfo:
            await domain.enqueue().result(timeout=5)
    assert excinfo.value.exc_type.endswith("Outer.DomainError")
    assert excinfo.value.message == "nope"


async def test_outcome_stored_before_the_caller_waits_is_found(worker: Worker[None]) -> None:
    @worker.task()
    async def square(ctx: WrappedContext[None], x: int) -> int:
        return x * x

    async with worker:
        handle = await square.enqueue(9)
        async with worker.running():
            await wait_for_status(handle, TaskStatus.DONE)
        # the outcome was published while nobody listened; it is read from storage
        assert await handle.result(timeout=1) == 81
        again = square.handle(handle.id)
        assert await again.result(timeout=1) == 81


async def test_ttl_zero_delivers_to_waiters_without_storing(
    worker: Worker[None], redis: Redis
) -> None:
    @worker.task(ttl=0)
    async def ephemeral(ctx: WrappedContext[None], x: int) -> int:
        return x + 1

    async with worker.running():
        handle = ephemeral.enqueue(1)
        assert await handle.result(timeout=5) == 2
        assert await redis.exists(worker.client.keys.result(handle.id)) == 0
        assert await handle.status() == TaskStatus.NOT_FOUND


async def test_many_waiters_on_one_handle(worker: Worker[None]) -> None:
    gate = asyncio.Event()

    @worker.task()
    async def gated(ctx: WrappedContext[None]) -> str:
        await gate.wait()
        return "open"

    async with worker.running():
        handle = await gated.enqueue()
        waiters = [asyncio.ensure_future(handle.result(timeout=5)) for _ in range(10)]
        gate.set()  # whether a waiter subscribes before or after the outcome: no miss
        assert await asyncio.gather(*waiters) == ["open"] * 10
