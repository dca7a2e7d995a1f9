"""Worker and task lifespans, and running a task locally with ``Task.run``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from sdk import RelayqError, TaskFailed, Worker, WrappedContext


@dataclass
class Deps:
    name: str
    events: list[str] = field(default_factory=list)


async def test_worker_lifespan_deps_and_teardown(redis_url: str, queue_name: str) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(worker: Worker[Deps]) -> AsyncIterator[Deps]:
        events.append("setup")
        try:
            yield Deps("the-deps", events)
        finally:
            events.append("teardown")

    worker = Worker(redis_url, queue_name=queue_name, worker_lifespan=lifespan)

    @worker.task()
    async def use_deps(ctx: WrappedContext[Deps], x: int) -> str:
        ctx.deps.events.append(f"task {x}")
        return f"{ctx.deps.name}:{x}"

    with pytest.raises(RelayqError):
        _ = worker.deps  # only while running
    async with worker.running():
        assert events == ["setup"]
        assert worker.deps.name == "the-deps"
        assert await use_deps.enqueue(1).result(timeout=5) == "the-deps:1"
        assert await use_deps.enqueue(2).result(timeout=5) == "the-deps:2"
        assert "teardown" not in events
    assert events == ["setup", "task 1", "task 2", "teardown"]
    with pytest.raises(RelayqError):
        _ = worker.deps


async def test_task_lifespan_wraps_each_execution(redis_url: str, queue_name: str) -> None:
    events: list[tuple[str, str]] = []

    @asynccontextmanager
    async def task_lifespan(ctx: WrappedContext[None]) -> AsyncIterator[None]:
        events.append(("enter", ctx.task_id))
        try:
            yield
        finally:
            events.append(("exit", ctx.task_id))

    worker = Worker(
        redis_url,
        queue_name=queue_name,
        concurrency=1,
        task_lifespan=task_lifespan,
        grace_period=5,
    )

    @worker.task()
    async def work(ctx: WrappedContext[None], fail: bool) -> str:
        events.append(("run", ctx.task_id))
        if fail:
            raise RuntimeError("inside the task lifespan")
        return ctx.task_id

    async with worker.running():
        ok = await work.enqueue(False)
        bad = await work.enqueue(True)
        third = await work.enqueue(False)
        assert await ok.result(timeout=5) == ok.id
        with pytest.raises(TaskFailed, match="inside the task lifespan"):
            await bad.result(timeout=5)
        assert await third.result(timeout=5) == third.id

    expected = []
    for handle in (ok, bad, third):  # concurrency 1: one execution after the other
        expected += [("enter", handle.id), ("run", handle.id), ("exit", handle.id)]
    assert events == expected


async def test_run_locally_without_redis_uses_lifespan_deps() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(worker: Worker[Deps]) -> AsyncIterator[Deps]:
        events.append("setup")
        try:
            yield Deps("local", events)
        finally:
            events.append("teardown")

    # nothing listens on port 1: running locally must not need Redis
    worker = Worker("redis://127.0.0.1:1", queue_name="local", worker_lifespan=lifespan)

    @worker.task()
    async def fetch(ctx: WrappedContext[Deps], url: str) -> int:
        assert ctx.tries == 1
        assert ctx.fn_name == "fetch"
        assert ctx.queue_name == "local"
        return len(url) + len(ctx.deps.name)

    @worker.task()
    def crunch(ctx: WrappedContext[Deps], n: int) -> str:
        return f"{ctx.deps.name}:{n * 2}"

    @worker.task()
    async def broken(ctx: WrappedContext[Deps]) -> None:
        raise LookupError("raised as is")

    assert await fetch.run("abcd") == 4 + len("local")
    assert events == ["setup", "teardown"]  # a lifespan of its own for the one call
    assert await crunch.run(21) == "local:42"
    with pytest.raises(LookupError, match="raised as is"):  # not wrapped in TaskFailed
        await broken.run()
    assert events == ["setup", "teardown"] * 3


async def test_run_locally_inside_a_running_worker_shares_its_deps(
    redis_url: str, queue_name: str
) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(worker: Worker[Deps]) -> AsyncIterator[Deps]:
        events.append("setup")
        yield Deps("shared", events)
        events.append("teardown")

    worker = Worker(redis_url, queue_name=queue_name, worker_lifespan=lifespan)

    @worker.task()
    async def name(ctx: WrappedContext[Deps]) -> str:
        return ctx.deps.name

    async with worker.running():
        assert await asyncio.wait_for(name.run(), timeout=5) == "shared"
        assert events == ["setup"]
    assert events == ["setup", "teardown"]


async def test_failing_lifespan_startup_propagates(redis_url: str, queue_name: str) -> None:
    @asynccontextmanager
    async def lifespan(worker: Worker[Deps]) -> AsyncIterator[Deps]:
        raise OSError("database is down")
        yield Deps("never")  # pragma: no cover

    worker = Worker(redis_url, queue_name=queue_name, worker_lifespan=lifespan)

    @worker.task()
    async def noop(ctx: WrappedContext[Deps]) -> None:
        return None

    with pytest.raises(OSError, match="database is down"):
        async with worker.running():
            pass  # pragma: no cover
    assert not worker.ready.is_set()
