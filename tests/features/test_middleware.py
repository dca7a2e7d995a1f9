"""Middleware: wraps every execution (first outermost), sees the typed context, can
short-circuit or transform the result; ``task_lifespan`` runs inside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from sdk import TaskFailed, Worker, WrappedContext
from sdk.worker import CallNext, Middleware
from tests.conftest import WorkerFactory


def _recorder(log: list[str], name: str) -> Middleware[None]:
    async def mw(ctx: WrappedContext[None], call_next: CallNext) -> Any:
        log.append(f"{name}>")
        try:
            return await call_next()
        finally:
            log.append(f"<{name}")

    return mw


async def test_stacking_order_first_is_outermost(make_worker: WorkerFactory) -> None:
    log: list[str] = []
    worker = make_worker(middleware=[_recorder(log, "a"), _recorder(log, "b")])

    @worker.middleware
    async def c(ctx: WrappedContext[None], call_next: CallNext) -> Any:
        log.append("c>")
        value = await call_next()
        log.append("<c")
        return value

    @worker.task()
    async def job(ctx: WrappedContext[None]) -> str:
        log.append("task")
        return "ok"

    async with worker.running():
        assert await job.enqueue().result(timeout=5) == "ok"
    assert log == ["a>", "b>", "c>", "task", "<c", "<b", "<a"]


async def test_short_circuit_and_transform(make_worker: WorkerFactory) -> None:
    ran: list[str] = []

    async def cache(ctx: WrappedContext[None], call_next: CallNext) -> Any:
        if ctx.fn_name == "lookup":
            return "from cache"  # short-circuit: the task does not run
        return await call_next()

    async def times_ten(ctx: WrappedContext[None], call_next: CallNext) -> Any:
        value = await call_next()
        return value * 10 if isinstance(value, int) else value

    worker = make_worker(middleware=[cache, times_ten])

    @worker.task()
    async def lookup(ctx: WrappedContext[None]) -> str:
        ran.append("lookup")
        return "from task"

    @worker.task()
    async def number(ctx: WrappedContext[None], x: int) -> int:
        ran.append("number")
        return x

    @worker.task()
    def sync_number(ctx: WrappedContext[None], x: int) -> int:
        return x + 1

    async with worker.running():
        assert await lookup.enqueue().result(timeout=5) == "from cache"
        assert await number.enqueue(4).result(timeout=5) == 40
        assert await sync_number.enqueue(4).result(timeout=5) == 50
    assert ran == ["number"]


async def test_middleware_errors_fail_the_task(make_worker: WorkerFactory) -> None:
    async def guard(ctx: WrappedContext[None], call_next: CallNext) -> Any:
        raise PermissionError(f"{ctx.fn_name} is not allowed")

    worker = make_worker(middleware=[guard])

    @worker.task()
    async def job(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker.running():
        with pytest.raises(TaskFailed) as info:
            await job.enqueue().result(timeout=5)
    assert info.value.exc_type == "PermissionError"
    assert "job is not allowed" in info.value.message


@dataclass
class Deps:
    name: str
    seen: list[str] = field(default_factory=list)


@asynccontextmanager
async def lifespan(worker: Worker[Any]) -> AsyncIterator[Deps]:
    yield Deps("the-deps")


async def test_middleware_sees_deps_and_task_lifespan_runs_inside(
    redis_url: str, queue_name: str
) -> None:
    log: list[str] = []

    async def with_deps(ctx: WrappedContext[Deps], call_next: CallNext) -> Any:
        log.append(f"mw> deps={ctx.deps.name} task={ctx.fn_name} try={ctx.tries}")
        value = await call_next()
        log.append("<mw")
        return value

    @asynccontextmanager
    async def task_lifespan(ctx: WrappedContext[Deps]) -> AsyncIterator[None]:
        log.append(f"lifespan> {ctx.task_id == ctx.task_id}")
        yield
        log.append("<lifespan")

    worker = Worker(
        redis_url,
        queue_name=queue_name,
        worker_lifespan=lifespan,
        task_lifespan=task_lifespan,
        middleware=[with_deps],
        grace_period=5.0,
    )

    @worker.task()
    async def job(ctx: WrappedContext[Deps]) -> str:
        log.append("task")
        return ctx.deps.name

    async with worker.running():
        assert await job.enqueue().result(timeout=5) == "the-deps"
    assert log == [
        "mw> deps=the-deps task=job try=1",
        "lifespan> True",
        "task",
        "<lifespan",
        "<mw",
    ]


async def test_middleware_added_while_running_applies(make_worker: WorkerFactory) -> None:
    worker = make_worker()

    @worker.task()
    async def job(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker.running():
        assert await job.enqueue().result(timeout=5) == 1

        @worker.middleware
        async def plus_one(ctx: WrappedContext[None], call_next: CallNext) -> Any:
            return await call_next() + 1

        assert await job.enqueue().result(timeout=5) == 2
