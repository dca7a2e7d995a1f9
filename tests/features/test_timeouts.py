"""Timeouts: a task over its ``timeout`` is cancelled and its outcome is ``TaskTimedOut``."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest

from sdk import TaskFailed, TaskTimedOut, Worker, WrappedContext
from sdk.errors import ConfigurationError


async def test_timeout_yields_task_timed_out(worker: Worker[None]) -> None:
    cancelled = asyncio.Event()

    @worker.task(timeout=timedelta(milliseconds=100))
    async def sleepy(ctx: WrappedContext[None]) -> int:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1

    async with worker.running():
        started = time.monotonic()
        with pytest.raises(TaskTimedOut) as info:
            await sleepy.enqueue().result(timeout=5)
        elapsed = time.monotonic() - started
        outcome = await sleepy.handle(info.value.task_id).outcome(timeout=1)
    assert isinstance(info.value, TaskFailed)
    assert info.value.exc_type == "TaskTimedOut"
    assert "0.1 s" in info.value.message
    assert cancelled.is_set(), "the task body was not cancelled"
    assert elapsed < 1.0
    assert not outcome.success and isinstance(outcome.error, TaskTimedOut)
    assert outcome.tries == 1


async def test_a_task_within_its_timeout_succeeds(worker: Worker[None]) -> None:
    @worker.task(timeout=2.0)
    async def quick(ctx: WrappedContext[None], x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    async with worker.running():
        assert await quick.enqueue(1).result(timeout=5) == 2


async def test_sync_task_that_times_out_is_reported_timed_out(worker: Worker[None]) -> None:
    """A thread cannot be killed: the caller gets ``TaskTimedOut`` at the timeout while
    the thread runs on (here until the test releases it); the worker stays usable."""
    release = threading.Event()
    finished = threading.Event()

    @worker.task(timeout=0.1)
    def blocking(ctx: WrappedContext[None]) -> str:
        release.wait(10)
        finished.set()
        return "late"

    @worker.task()
    def ok(ctx: WrappedContext[None], x: int) -> int:
        return x * 2

    async with worker.running():
        started = time.monotonic()
        with pytest.raises(TaskTimedOut):
            await blocking.enqueue().result(timeout=5)
        assert time.monotonic() - started < 1.0
        assert not finished.is_set()  # reported while the thread is still going
        assert await ok.enqueue(4).result(timeout=5) == 8
        release.set()
        assert await asyncio.to_thread(finished.wait, 5)


def test_timeout_must_be_positive(worker: Worker[None]) -> None:
    with pytest.raises(ConfigurationError):
        worker.task(timeout=0)
    with pytest.raises(ConfigurationError):
        worker.task(timeout=-1)
    with pytest.raises(ConfigurationError):
        worker.task(timeout=timedelta(seconds=-1))
