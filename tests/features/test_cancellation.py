"""RPC semantics: a caller that stops waiting for a task it owns aborts it.

``result(timeout=..., abort_on_timeout=True)``, and cancelling the coroutine that
awaits ``result()`` / ``outcome()`` / ``stream()`` (``wait_for``, ``asyncio.timeout``,
``Task.cancel()``, a task group) abort a task sent under a fresh id. A task shared
through an idempotency key or ``unique=`` is left running, and so is one awaited
through ``asyncio.shield``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from sdk import ResultTimeout, TaskAborted, TaskResult, Worker, WrappedContext

#: The bound this suite holds the abort of a running task to: from the moment the
#: caller's wait is cancelled to the moment the task's body sees its cancellation.
ABORT_BOUND_S = 1.0


class LongTask:
    """A 10 s task that records when it started and when it was cancelled."""

    def __init__(self, worker: Worker[None], *, unique: bool = False) -> None:
        self.started = asyncio.Event()
        self.cancelled_at: float | None = None
        self.finished = False

        @worker.task(name="long", unique=unique)
        async def long(ctx: WrappedContext[None], label: str) -> str:
            self.started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                self.cancelled_at = time.monotonic()
                raise
            self.finished = True
            return label

        self.task = long

    async def assert_aborted_within_bound(self, handle_id: str, cancelled_at: float) -> float:
        """Wait for the aborted outcome; how long the abort took to reach the task."""
        with pytest.raises(TaskAborted):
            await self.task.handle(handle_id).result(timeout=5)
        assert self.cancelled_at is not None
        took = self.cancelled_at - cancelled_at
        assert 0 <= took < ABORT_BOUND_S, f"the abort took {took:.3f} s to reach the task"
        return took

    async def assert_still_running(self, handle: TaskResult[str]) -> None:
        await asyncio.sleep(0.3)  # time for a (wrong) abort to arrive
        assert self.cancelled_at is None
        info = await handle.info()
        assert info is not None and info.status.value == "running"


async def test_abort_on_timeout(worker: Worker[None]) -> None:
    long = LongTask(worker)
    async with worker.running():
        handle = long.task.enqueue("x")
        deadline = time.monotonic() + 0.5
        with pytest.raises(ResultTimeout):
            await handle.result(timeout=0.5, abort_on_timeout=True)
        # measured from the moment the caller's timeout ran out
        await long.assert_aborted_within_bound(handle.id, deadline)


async def test_a_plain_timeout_leaves_the_task_running(worker: Worker[None]) -> None:
    long = LongTask(worker)
    async with worker.running():
        handle = long.task.enqueue("x")
        with pytest.raises(ResultTimeout):
            await handle.result(timeout=0.3)
        await long.assert_still_running(handle)
        assert await handle.abort(timeout=5) is True


async def _cancel_by_wait_for(wait: Awaitable[Any]) -> None:
    await asyncio.wait_for(wait, 0.2)


async def _cancel_by_task_cancel(wait: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(wait)
    await asyncio.sleep(0.2)
    task.cancel()
    await task


async def _cancel_by_timeout_block(wait: Awaitable[Any]) -> None:
    async with asyncio.timeout(0.2):  # type: ignore[attr-defined,unused-ignore]
        await wait


async def _cancel_by_task_group(wait: Awaitable[Any]) -> None:
    async def fail_soon() -> None:
        await asyncio.sleep(0.2)
        raise RuntimeError("a sibling failed")

    async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined,unused-ignore]
        group.create_task(wait)  # type: ignore[arg-type,unused-ignore]
        group.create_task(fail_soon())


_WAYS: list[Any] = [
    pytest.param(_cancel_by_wait_for, id="wait_for"),
    pytest.param(_cancel_by_task_cancel, id="Task.cancel"),
]
if sys.version_info >= (3, 11):
    _WAYS += [
        pytest.param(_cancel_by_timeout_block, id="asyncio.timeout"),
        pytest.param(_cancel_by_task_group, id="TaskGroup"),
    ]


@pytest.mark.parametrize("cancel", _WAYS)
async def test_cancelling_the_caller_aborts_a_running_10s_task_within_1s(
    worker: Worker[None], cancel: Callable[[Awaitable[Any]], Awaitable[None]]
) -> None:
    long = LongTask(worker)
    async with worker.running():
        handle = long.task.enqueue("x")
        # the cancellation lands 0.2 s in: the task is running by then
        with pytest.raises((asyncio.TimeoutError, asyncio.CancelledError, Exception)):
            await cancel(handle.result())
        cancelled_at = time.monotonic()
        assert long.started.is_set()
        await long.assert_aborted_within_bound(handle.id, cancelled_at)


async def test_cancelling_outcome_aborts_too(worker: Worker[None]) -> None:
    long = LongTask(worker)
    async with worker.running():
        handle = await long.task.enqueue("x")  # sent first, awaited later: still owned
        assert handle.owned
        await asyncio.wait_for(long.started.wait(), 5)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(handle.outcome(), 0.1)
        await long.assert_aborted_within_bound(handle.id, time.monotonic())


async def test_a_keyed_task_is_not_aborted_by_one_callers_cancellation(
    worker: Worker[None],
) -> None:
    long = LongTask(worker)
    async with worker.running():
        handle = await long.task.enqueue("x").start(key="shared-report")
        assert not handle.owned
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(handle.result(), 0.3)
        await long.assert_still_running(handle)
        await handle.abort(timeout=5)


async def test_a_unique_task_is_not_aborted_by_one_callers_cancellation(
    worker: Worker[None],
) -> None:
    long = LongTask(worker, unique=True)
    async with worker.running():
        handle = long.task.enqueue("x")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(handle.result(), 0.3)
        assert not handle.owned
        await long.assert_still_running(handle)
        await handle.abort(timeout=5)


async def test_a_handle_by_id_does_not_own_the_task(worker: Worker[None]) -> None:
    long = LongTask(worker)
    async with worker.running():
        handle = await long.task.enqueue("x")
        other = long.task.handle(handle.id)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(other.result(), 0.3)
        await long.assert_still_running(handle)
        await handle.abort(timeout=5)


async def test_shield_waits_without_owning_the_task(worker: Worker[None]) -> None:
    long = LongTask(worker)
    async with worker.running():
        handle = long.task.enqueue("x")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(handle.result()), 0.3)
        await long.assert_still_running(handle)
        await handle.abort(timeout=5)


async def test_cancelling_a_stream_consumer_aborts_the_task(worker: Worker[None]) -> None:
    cancelled = asyncio.Event()

    @worker.task()
    async def ticks(ctx: WrappedContext[None]) -> AsyncIterator[int]:
        try:
            for i in range(1000):
                yield i
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with worker.running():
        handle = ticks.enqueue()
        seen: list[int] = []

        async def consume() -> None:
            async for item in handle.stream():
                seen.append(item)

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(consume(), 0.5)
        at = time.monotonic()
        await asyncio.wait_for(cancelled.wait(), ABORT_BOUND_S)
        assert time.monotonic() - at < ABORT_BOUND_S
        assert 3 <= len(seen) < 1000
        with pytest.raises(TaskAborted):
            await ticks.handle(handle.id).result(timeout=5)


async def test_a_queued_task_cancelled_before_any_worker_never_runs(
    worker: Worker[None],
) -> None:
    ran: list[str] = []

    @worker.task()
    async def job(ctx: WrappedContext[None]) -> None:
        ran.append("ran")

    async with worker:  # nobody consumes
        handle = job.enqueue()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(handle.result(), 0.2)
        with pytest.raises(TaskAborted):
            await job.handle(handle.id).result(timeout=5)
    async with worker.running():
        await asyncio.sleep(0.3)
    assert ran == []
