"""Where a task is: ``status()`` and ``info()`` through its whole life."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from sdk import TaskInfo, TaskStatus, Worker, WrappedContext
from sdk.errors import NotConnected


async def test_status_transitions_and_info(worker: Worker[None]) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.task()
    async def blocker(ctx: WrappedContext[None], x: int) -> int:
        started.set()
        await release.wait()
        return x

    async with worker:
        handle = blocker.enqueue(7)
        assert await handle.status() == TaskStatus.NOT_FOUND
        assert await handle.info() is None

        before = datetime.now(timezone.utc)
        await handle
        assert await handle.status() == TaskStatus.QUEUED  # no worker is running
        info = await handle.info()
        assert isinstance(info, TaskInfo)
        assert info.task_id == handle.id
        assert info.fn_name == "blocker"
        assert info.status == TaskStatus.QUEUED
        assert info.tries == 0
        assert info.scheduled_time is None
        assert info.worker_id is None
        assert before - timedelta(seconds=1) <= info.enqueue_time <= datetime.now(timezone.utc)

        async with worker.running():
            await asyncio.wait_for(started.wait(), timeout=5)
            assert await handle.status() == TaskStatus.RUNNING
            info = await handle.info()
            assert info is not None
            assert info.status == TaskStatus.RUNNING
            assert info.tries == 1
            assert info.worker_id == worker.id
            assert info.scheduled_time is None

            release.set()
            assert await handle.result(timeout=5) == 7
            assert await handle.status() == TaskStatus.DONE
            assert await handle.info() is None  # info describes live tasks only


async def test_scheduled_with_delay_and_schedule(worker: Worker[None]) -> None:
    @worker.task()
    async def later(ctx: WrappedContext[None], x: int) -> int:
        return x

    async with worker:
        before = datetime.now(timezone.utc)
        delayed = await later.enqueue(1).start(delay=timedelta(minutes=10))
        assert await delayed.status() == TaskStatus.SCHEDULED
        info = await delayed.info()
        assert info is not None
        assert info.status == TaskStatus.SCHEDULED
        assert info.scheduled_time is not None
        due = before + timedelta(minutes=10)
        assert due - timedelta(seconds=1) <= info.scheduled_time <= due + timedelta(seconds=5)

        at = datetime.now(timezone.utc) + timedelta(hours=1)
        scheduled = await later.enqueue(2).start(schedule=at)
        info = await scheduled.info()
        assert info is not None
        assert info.status == TaskStatus.SCHEDULED
        assert info.scheduled_time is not None
        assert abs(info.scheduled_time - at) < timedelta(milliseconds=2)

        # a short delay runs once it is due, on a worker that is already idle
        soon = await later.enqueue(3).start(delay=0.3)
        assert await soon.status() == TaskStatus.SCHEDULED
        async with worker.running():
            assert await soon.result(timeout=5) == 3
            assert await soon.status() == TaskStatus.DONE
            # the far-future ones are still waiting
            assert await delayed.status() == TaskStatus.SCHEDULED
            assert await scheduled.status() == TaskStatus.SCHEDULED
        outcome = await soon.outcome(timeout=1)
        assert outcome.start_time - outcome.enqueue_time >= timedelta(milliseconds=290)


async def test_status_needs_a_connection(worker: Worker[None]) -> None:
    @worker.task()
    async def noop(ctx: WrappedContext[None]) -> None:
        return None

    handle = noop.handle("some-task-id")
    with pytest.raises(NotConnected):
        await handle.status()
