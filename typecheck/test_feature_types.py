"""Types of the worker feature set: middleware, cron, abort, scheduling, priorities.

Fixtures mypy reads and nothing executes (see ``typecheck/__init__.py``): unmarked
lines must type-check, ``assert_type`` pins exact types, and every line ending in
``# type: ignore[<code>]`` must be rejected with exactly that code.
"""

# Rejected lines include dead assignments on purpose.
# ruff: noqa: F841

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from typing_extensions import assert_type

from sdk import Client, Task, TaskResult, Worker, WrappedContext
from sdk.worker import CallNext, CronJob, Middleware

from ._app import Deps, Other, fetch, lifespan, plain, worker

# -- middleware -------------------------------------------------------------------


async def timing(ctx: WrappedContext[Deps], call_next: CallNext) -> Any:
    assert_type(ctx.deps, Deps)
    assert_type(await call_next(), Any)
    return await call_next()


async def anywhere(ctx: WrappedContext[object], call_next: CallNext) -> Any:
    return await call_next()


async def for_other(ctx: WrappedContext[Other], call_next: CallNext) -> Any:
    return await call_next()


def sync_middleware(ctx: WrappedContext[Deps], call_next: CallNext) -> None:
    return None


def check_middleware() -> None:
    # a middleware for this worker's Deps, or for any deps, is accepted
    with_mw = Worker(worker_lifespan=lifespan, middleware=[timing, anywhere])
    assert_type(with_mw, Worker[Deps])
    registered = worker.middleware(timing)
    assert_type(registered, Middleware[Deps])
    worker.middleware(anywhere)
    _mw: Middleware[Deps] = timing


def reject_middleware() -> None:
    # a middleware written for other deps cannot wrap this worker's tasks
    worker.middleware(for_other)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # ... nor be passed to the constructor of a Worker[Deps]
    annotated: Worker[Deps] = Worker(worker_lifespan=lifespan, middleware=[for_other])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUnusedVariable]
    # a middleware must be async
    worker.middleware(sync_middleware)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # and take (ctx, call_next)
    worker.middleware(fetch)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # a Worker[None] takes middleware for WrappedContext[None] (or object)
    plain.middleware(timing)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# -- cron -------------------------------------------------------------------------


@worker.cron("*/5 * * * *", tz=ZoneInfo("Europe/Paris"), timeout=timedelta(minutes=1))
async def report(ctx: WrappedContext[Deps]) -> int:
    return ctx.tries


@worker.cron("* * * * * */10", unique=False, max_tries=2, ttl=None)
def sync_cron(ctx: WrappedContext[Deps]) -> str:
    return ctx.task_id


async def check_cron() -> None:
    # a cron job is a task without arguments; it can also be enqueued by hand
    assert_type(report, Task[[], int])
    assert_type(sync_cron, Task[[], str])
    assert_type(report.enqueue(), TaskResult[int])
    assert_type(await report.enqueue().result(), int)
    assert_type(worker.crons, Mapping[str, CronJob])
    worker.remove_cron("report")


def reject_cron() -> None:
    # cron jobs take no arguments besides ctx
    @worker.cron("* * * * *")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    async def with_arg(ctx: WrappedContext[Deps], n: int) -> None:
        return None

    # ... and the context of this worker's Deps
    @worker.cron("* * * * *")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    async def wrong_deps(ctx: WrappedContext[Other]) -> None:
        return None

    # options are typed
    worker.cron("* * * * *", tz="UTC")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    worker.cron(5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    report.enqueue(1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    worker.remove_cron(report)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# -- handles: abort, reschedule, priorities, lookup by id ---------------------------


async def check_handle_operations() -> None:
    handle = await fetch.enqueue("/a").start(delay=timedelta(seconds=5), priority="high")
    assert_type(handle, TaskResult[int])
    assert_type(await handle.abort(), bool)
    assert_type(await handle.abort(timeout=timedelta(seconds=2)), bool)
    assert_type(await handle.reschedule(delay=10), bool)
    assert_type(await handle.reschedule(schedule=datetime.now(timezone.utc)), bool)
    assert_type(await handle.unschedule(), bool)
    # a typed handle on a task sent elsewhere, by id
    again = fetch.handle(handle.id)
    assert_type(again, TaskResult[int])
    assert_type(await again.result(), int)
    # an untyped one when the task is not known statically
    client = Client(priorities=["high", "default", "low"])
    assert_type(client.handle(handle.id), TaskResult[Any])
    assert_type(client.priorities, tuple[str, ...])
    prioritized = Worker(priorities=("urgent", "normal"), default_priority="normal")
    assert_type(prioritized, Worker[None])


async def reject_handle_operations() -> None:
    handle = fetch.enqueue("/a")
    await handle.start(priority=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await handle.abort(timeout="soon")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await handle.reschedule(5)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    await handle.reschedule(schedule="tomorrow")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    fetch.handle(42)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    wrong: TaskResult[str] = fetch.handle("id")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    # (Worker(priorities="high") type-checks, a str being a Sequence[str]; it is
    # refused at run time with a ConfigurationError instead)
