"""``Retry``, ``max_tries`` and task timeouts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sdk import (
    RelayqError,
    Retry,
    TaskFailed,
    TaskStatus,
    TaskTimedOut,
    Worker,
    WrappedContext,
)
from sdk.errors import ConfigurationError
from tests.helpers import wait_for_status


async def test_retry_then_success(worker: Worker[None]) -> None:
    tries: list[int] = []

    @worker.task(max_tries=3)
    async def flaky(ctx: WrappedContext[None], x: int) -> int:
        tries.append(ctx.tries)
        if ctx.tries < 3:
            raise Retry(delay=0)
        return x * 10

    async with worker.running():
        handle = flaky.enqueue(4)
        assert await handle.result(timeout=5) == 40
        outcome = await handle.outcome(timeout=1)
    assert tries == [1, 2, 3]
    assert outcome.tries == 3
    assert outcome.success


async def test_retry_on_the_last_try_fails(worker: Worker[None]) -> None:
    tries: list[int] = []

    @worker.task(max_tries=2)
    async def always_retry(ctx: WrappedContext[None]) -> None:
        tries.append(ctx.tries)
        raise Retry(delay=0)

    async with worker.running():
        handle = always_retry.enqueue()
        with pytest.raises(TaskFailed) as excinfo:
            await handle.result(timeout=5)
        assert excinfo.value.exc_type == "Retry"
        assert (await handle.outcome(timeout=1)).tries == 2
    assert tries == [1, 2]


async def test_retry_with_delay_reschedules(worker: Worker[None]) -> None:
    @worker.task()
    async def later(ctx: WrappedContext[None]) -> None:
        raise Retry(delay=600)

    async with worker.running():
        handle = await later.enqueue()
        await wait_for_status(handle, TaskStatus.SCHEDULED)
        info = await handle.info()
        assert info is not None
        assert info.tries == 1
        assert info.scheduled_time is not None
        assert info.scheduled_time > info.enqueue_time


def test_retry_is_a_signal_not_an_error() -> None:
    assert not issubclass(Retry, RelayqError)
    assert Retry(delay=1.5).delay == 1.5
    assert Retry().delay is None
    with pytest.raises(ConfigurationError):
        Retry(delay=-1)


async def test_timeout_of_an_async_task(worker: Worker[None]) -> None:
    cancelled = asyncio.Event()

    @worker.task(timeout=0.2)
    async def sleepy(ctx: WrappedContext[None]) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with worker.running():
        t0 = time.monotonic()
        with pytest.raises(TaskTimedOut) as excinfo:
            await sleepy.enqueue().result(timeout=5)
        assert time.monotonic() - t0 < 2.0
    assert isinstance(excinfo.value, TaskFailed)
    assert excinfo.value.exc_type == "TaskTimedOut"
    assert "0.2" in excinfo.value.message
    assert cancelled.is_set()


async def test_timeout_of_a_sync_task(worker: Worker[None]) -> None:
    release = threading.Event()

    @worker.task(timeout=0.2)
    def blocking(ctx: WrappedContext[None]) -> None:
        release.wait(5)

    try:
        async with worker.running():
            with pytest.raises(TaskTimedOut):
                await blocking.enqueue().result(timeout=5)
    finally:
        release.set()  # let the abandoned thread end


async def test_timeout_error_raised_by_task_code_is_an_ordinary_failure(
    worker: Worker[None],
) -> None:
    """Only the task's own ``timeout=`` makes a ``TaskTimedOut``; a ``TimeoutError``
    that the task body raises (an upstream call timing out) is a plain failure."""

    @worker.task()
    async def upstream(ctx: WrappedContext[None]) -> None:
        raise TimeoutError("upstream did not answer")

    async with worker.running():
        with pytest.raises(TaskFailed) as excinfo:
            await upstream.enqueue().result(timeout=5)
    assert type(excinfo.value) is TaskFailed
    assert excinfo.value.exc_type == "TimeoutError"
    assert excinfo.value.message == "upstream did not answer"
