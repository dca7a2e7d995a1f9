"""Delayed and scheduled tasks: on time, SCHEDULED until due, reschedule and unschedule."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
from redis.asyncio import Redis

from sdk import TaskAborted, TaskStatus, Worker, WrappedContext
from sdk.client import Client
from sdk.errors import ConfigurationError
from tests.conftest import WorkerFactory
from tests.helpers import client_list, wait_until

# a due task must start within this long after its due time: on an idle machine it
# is a few ms (a worker blocks on the wake stream until the due time); the bound
# leaves room for a loaded 2-core CI machine
PROMPTNESS_S = 0.5
# what a call (a send, a status read) may take on such a machine
CALL_S = 1.0


async def test_delayed_tasks_run_on_time(worker: Worker[None]) -> None:
    """Never before the due time, and within PROMPTNESS_S after it."""
    started_at: dict[int, float] = {}

    @worker.task()
    async def stamp(ctx: WrappedContext[None], n: int) -> int:
        started_at[n] = time.time()
        return n

    async with worker.running():
        delays = [0.3, 0.6, 0.4, 0.5, 0.35]
        handles = [await stamp.enqueue(n).start(delay=d) for n, d in enumerate(delays)]
        due: dict[int, float] = {}
        for n, handle in enumerate(handles):
            info = await handle.info()
            assert info is not None and info.status == TaskStatus.SCHEDULED
            assert info.scheduled_time is not None
            due[n] = info.scheduled_time.timestamp()
        assert [await h.result(timeout=5) for h in handles] == list(range(len(delays)))

    lateness = {n: started_at[n] - due[n] for n in due}
    print(f"lateness of delayed tasks (s): {lateness}")
    for n, late in lateness.items():
        assert late >= 0, f"task {n} started {-late:.3f} s before its due time"
        assert late < PROMPTNESS_S, f"task {n} started {late:.3f} s after its due time"


async def test_status_is_scheduled_until_due(worker: Worker[None]) -> None:
    @worker.task()
    async def later(ctx: WrappedContext[None]) -> str:
        return "done"

    async with worker.running():
        before = time.time()
        handle = await later.enqueue().start(delay=timedelta(milliseconds=400))
        assert await handle.status() == TaskStatus.SCHEDULED
        info = await handle.info()
        assert info is not None
        assert info.status == TaskStatus.SCHEDULED and info.tries == 0
        assert info.scheduled_time is not None and info.worker_id is None
        # due 400 ms after the send, which began at `before`
        assert 0.399 <= info.scheduled_time.timestamp() - before <= 0.4 + CALL_S
        while time.time() < info.scheduled_time.timestamp() - 0.05:
            assert await handle.status() == TaskStatus.SCHEDULED
            await asyncio.sleep(0.05)
        assert await handle.result(timeout=5) == "done"
        assert await handle.status() == TaskStatus.DONE
        assert await handle.info() is None


async def test_schedule_takes_an_aware_datetime(worker: Worker[None]) -> None:
    ran_at: list[float] = []

    @worker.task()
    async def at(ctx: WrappedContext[None]) -> None:
        ran_at.append(time.time())

    async with worker.running():
        # any zone: the instant is what counts
        plus5 = timezone(timedelta(hours=5))
        when = datetime.now(plus5) + timedelta(milliseconds=300)
        handle = await at.enqueue().start(schedule=when)
        info = await handle.info()
        assert info is not None and info.scheduled_time is not None
        assert abs(info.scheduled_time.timestamp() - when.timestamp()) < 0.002
        await handle.result(timeout=5)
    assert 0 <= ran_at[0] - when.timestamp() < PROMPTNESS_S


async def test_naive_datetime_is_rejected(worker: Worker[None]) -> None:
    @worker.task()
    async def at(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker.running():
        handle = at.enqueue()
        with pytest.raises(ConfigurationError, match="aware"):
            await handle.start(schedule=datetime.now() + timedelta(seconds=1))
        with pytest.raises(ConfigurationError, match="either delay= or schedule="):
            await handle.start(delay=1, schedule=datetime.now(timezone.utc))
        with pytest.raises(ConfigurationError):
            await handle.start(delay=-1)
        assert not handle.sent
        assert await handle.status() == TaskStatus.NOT_FOUND
        # a rejected start sent nothing; the handle can still be sent properly
        assert await handle.result(timeout=5) == 1


async def test_reschedule_and_unschedule_by_id(
    worker: Worker[None], redis_url: str, queue_name: str
) -> None:
    ran: list[str] = []

    @worker.task()
    async def job(ctx: WrappedContext[None], label: str) -> str:
        ran.append(label)
        return label

    async with worker.running():
        moved = await job.enqueue("moved").start(delay=30)
        dropped = await job.enqueue("dropped").start(delay=30)

        # reschedule from another handle object of the same task, made from the id alone
        other = job.handle(moved.id)
        assert other is not moved
        before = time.time()
        assert await other.reschedule(delay=0.2)
        info = await moved.info()
        assert info is not None and info.scheduled_time is not None
        assert 0.199 <= info.scheduled_time.timestamp() - before <= 0.2 + CALL_S
        assert await moved.result(timeout=5) == "moved"
        assert time.time() - before < 0.2 + PROMPTNESS_S + CALL_S
        assert not await other.reschedule(delay=1)  # done: not scheduled any more

        # unschedule from a separate client that knows only the id
        waiter = asyncio.ensure_future(dropped.result(timeout=5))
        async with Client(redis_url, queue_name) as client:
            remote = client.handle(dropped.id)
            assert await remote.unschedule()
            assert not await remote.unschedule()
            assert not await remote.reschedule(delay=1)
        with pytest.raises(TaskAborted):
            await waiter
        assert await dropped.status() == TaskStatus.DONE  # its aborted outcome is stored
    assert ran == ["moved"]


async def test_reschedule_needs_a_time(worker: Worker[None]) -> None:
    @worker.task()
    async def job(ctx: WrappedContext[None]) -> None:
        return None

    async with worker:
        handle = await job.enqueue().start(delay=30)
        with pytest.raises(ConfigurationError):
            await handle.reschedule()
        with pytest.raises(ConfigurationError):
            await handle.reschedule(delay=0)
        with pytest.raises(ConfigurationError):
            await handle.reschedule(schedule=datetime.now())
        # schedule= moves it too (to the past: due at once)
        assert await handle.reschedule(schedule=datetime.now(timezone.utc) - timedelta(hours=1))
        assert await handle.abort()


async def test_task_scheduled_while_worker_is_idle_blocked_runs_on_time(
    make_worker: WorkerFactory, redis: Redis
) -> None:
    """An idle worker blocks in ``XREAD`` (for up to seconds); scheduling a task pokes
    the wake stream so the worker learns the new due time at once."""
    worker = make_worker(lease=30.0)
    ran_at: list[float] = []

    @worker.task()
    async def wake(ctx: WrappedContext[None]) -> None:
        ran_at.append(time.time())

    async def blocked() -> bool:
        return any(c.get("cmd") == "xread" for c in await client_list(redis))

    async with worker.running():
        await wait_until(blocked, what="the worker to block in XREAD")
        due = time.time() + 0.3
        handle = await wake.enqueue().start(schedule=datetime.fromtimestamp(due, timezone.utc))
        later = await wake.enqueue().start(delay=30)  # a later one must not delay the first
        await handle.result(timeout=5)
        assert await later.status() == TaskStatus.SCHEDULED
    assert len(ran_at) == 1
    assert 0 <= ran_at[0] - due < PROMPTNESS_S
