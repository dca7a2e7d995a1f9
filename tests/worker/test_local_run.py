"""``task.run()``: a task called in-process as a worker would call it: the codec's
round trip of arguments, value and items, the middleware, the task lifespan and
the timeout; the task's own exceptions unchanged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest

from sdk import TaskTimedOut, Worker, WrappedContext
from sdk.errors import SerializationError
from sdk.worker import CallNext
from tests.conftest import WorkerFactory


async def test_arguments_and_value_make_the_codec_round_trip(worker: Worker[None]) -> None:
    seen: list[Any] = []

    @worker.task()
    async def stamp(
        ctx: WrappedContext[None], when: datetime, tags: tuple[str, ...]
    ) -> dict[str, Any]:
        seen.append((when, tags))
        return {"when": when, "tags": tags}

    when = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert await stamp.run(when, ("a", "b")) == {"when": when, "tags": ("a", "b")}
    assert seen == [(when, ("a", "b"))]


async def test_what_cannot_be_serialized_fails_in_the_test(make_worker: WorkerFactory) -> None:
    worker = make_worker(serializer=json.dumps, deserializer=json.loads)

    @worker.task()
    async def echo(ctx: WrappedContext[None], value: Any) -> Any:
        return value

    @worker.task()
    async def clock(ctx: WrappedContext[None]) -> datetime:
        return datetime.now(timezone.utc)

    @worker.task()
    async def sets(ctx: WrappedContext[None]) -> AsyncIterator[Any]:
        yield 1
        yield {1, 2}

    with pytest.raises(SerializationError, match="arguments of task 'echo'"):
        await echo.run({1, 2})
    with pytest.raises(SerializationError, match="the return value of task 'clock'"):
        await clock.run()
    with pytest.raises(SerializationError, match="item 2 of task 'sets'"):
        await sets.run()
    # json turns a tuple into a list: the test sees what the worker would
    assert await echo.run((1, 2)) == [1, 2]


async def test_middleware_and_task_lifespan_run_around_it(make_worker: WorkerFactory) -> None:
    calls: list[str] = []
    worker = make_worker()

    @worker.middleware
    async def doubling(ctx: WrappedContext[None], call_next: CallNext) -> Any:
        calls.append(f"mw {ctx.fn_name} try {ctx.tries}")
        return 2 * await call_next()

    @worker.task()
    async def three(ctx: WrappedContext[None]) -> int:
        calls.append("body")
        return 3

    @worker.task()
    def four(ctx: WrappedContext[None]) -> int:  # a sync task runs in a thread
        return 4

    assert await three.run() == 6
    assert await four.run() == 8
    assert calls == ["mw three try 1", "body", "mw four try 1"]


async def test_timeout_bad_arguments_and_the_tasks_own_errors(worker: Worker[None]) -> None:
    @worker.task(timeout=0.05)
    async def slow(ctx: WrappedContext[None]) -> None:
        await asyncio.sleep(5)

    @worker.task()
    async def picky(ctx: WrappedContext[None], n: int) -> int:
        if n < 0:
            raise ValueError("negative")
        return n

    with pytest.raises(TaskTimedOut):
        await slow.run()
    with pytest.raises(TypeError, match="arguments do not fit picky"):
        await picky.run(1, 2)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="negative"):
        await picky.run(-1)


async def test_a_streaming_task_runs_to_the_list_of_its_items(worker: Worker[None]) -> None:
    @worker.task()
    async def count(ctx: WrappedContext[None], n: int) -> AsyncIterator[int]:
        for i in range(n):
            await ctx.progress((i + 1) / n)
            yield i

    assert await count.run(3) == [0, 1, 2]
