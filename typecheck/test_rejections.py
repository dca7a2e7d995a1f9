"""Code relayq's types must reject, each line with the error code mypy must report.

Fixtures mypy reads and nothing executes (see ``typecheck/__init__.py``). Every
line ending in ``# type: ignore[<code>]`` must fail with exactly that code: under
the project's strict config an ignore that suppresses nothing is itself an error
(``unused-ignore``), and a wrong code leaves the real error visible.
"""

# Rejected lines are bare expressions and dead assignments on purpose.
# ruff: noqa: B018, F841

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sdk import RelayqError, Retry, TaskFailed, TaskRef, TaskResult, TaskTimedOut, Worker
from sdk import WrappedContext as Ctx
from sdk.client import Client

from ._app import (
    Deps,
    Other,
    client,
    crunch,
    fetch,
    lifespan,
    other_lifespan,
    plain,
    remote_fetch,
    remote_greet,
    worker,
)

# -- registering tasks ----------------------------------------------------------------


def reject_wrong_deps() -> None:
    # a task written for another worker's Deps cannot be registered on Worker[Deps]
    @worker.task()  # type: ignore[arg-type]
    async def other_async(ctx: Ctx[Other], url: str) -> int:
        return 0

    @worker.task()  # type: ignore[arg-type]
    def other_sync(ctx: Ctx[Other], url: str) -> int:
        return 0

    # ...nor one expecting Deps on a worker without a lifespan (ctx.deps is None there)
    @plain.task()  # type: ignore[arg-type]
    async def needs_deps(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task()  # type: ignore[arg-type]
    async def expects_none(ctx: Ctx[None]) -> None:
        return None


def reject_missing_context() -> None:
    # every task takes its WrappedContext first
    @worker.task()  # type: ignore[arg-type]
    async def no_ctx(url: str) -> int:
        return 0

    @worker.task()  # type: ignore[arg-type]
    async def no_params() -> int:
        return 0

    @worker.task()  # type: ignore[arg-type]
    def deps_not_ctx(deps: Deps, url: str) -> int:
        return 0

    # with **kwargs the ctx must be positional-only (`ctx, /`): otherwise a keyword
    # argument named "ctx" could collide with it, and mypy says so
    @worker.task()  # type: ignore[arg-type]
    async def named_ctx_with_kwargs(ctx: Ctx[Deps], url: str, **headers: str) -> int:
        return 0


def reject_task_options() -> None:
    @worker.task  # type: ignore[call-arg, arg-type]
    async def no_parentheses(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task(timeout="30s")  # type: ignore[arg-type]
    async def timeout_str(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task(max_tries=None)  # type: ignore[arg-type]
    async def tries_none(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task(retries=3)  # type: ignore[call-arg]
    async def unknown_option(ctx: Ctx[Deps]) -> None:
        return None


# -- the context and its deps ---------------------------------------------------------


async def reject_context_misuse(ctx: Ctx[Deps], bare: Ctx[None]) -> None:
    ctx.deps.http  # type: ignore[attr-defined]
    ctx.deps.base_url + 1  # type: ignore[operator]
    ctx.tries = 2  # type: ignore[misc]
    ctx.deps = Deps("x", 1)  # type: ignore[misc]
    bare.deps.base_url  # type: ignore[attr-defined]
    other: Ctx[Other] = ctx  # type: ignore[assignment]


# -- constructing workers -------------------------------------------------------------


@asynccontextmanager
async def no_worker_param() -> AsyncIterator[Deps]:
    yield Deps("x", 1)


async def not_a_context_manager(worker: Worker[Deps]) -> Deps:
    return Deps("x", 1)


@asynccontextmanager
async def other_task_lifespan(ctx: Ctx[Other]) -> AsyncIterator[None]:
    yield


def reject_worker_construction() -> None:
    # a lifespan yielding the wrong type for an annotated Worker[Deps]
    wrong: Worker[Deps] = Worker(worker_lifespan=other_lifespan)  # type: ignore[arg-type]
    # a Worker[Deps] needs a lifespan that yields Deps
    no_lifespan: Worker[Deps] = Worker()  # type: ignore[assignment]
    none_deps: Worker[None] = Worker(worker_lifespan=lifespan)  # type: ignore[arg-type]
    # the lifespan is called with the worker, and must be an async context manager
    Worker(worker_lifespan=no_worker_param)  # type: ignore[arg-type]
    Worker(worker_lifespan=not_a_context_manager)  # type: ignore[arg-type]
    # (a lifespan whose parameter says Worker[Other] but yields Deps is accepted:
    # Deps is inferred from the yield alone, see test_worker_types)
    # task_lifespan must take the context of this worker's Deps
    Worker(task_lifespan=other_task_lifespan)  # type: ignore[arg-type]
    tl: Worker[Deps] = Worker(worker_lifespan=lifespan, task_lifespan=other_task_lifespan)  # type: ignore[arg-type]
    Worker(worker_lifespan=lifespan, task_lifespan=other_task_lifespan)  # type: ignore[misc]
    # options are typed and keyword-only (the constructor is overloaded on the lifespan)
    Worker(concurrency="16")  # type: ignore[call-overload]
    Worker(queue="default")  # type: ignore[call-overload]
    Worker("redis://localhost:6379", "default")  # type: ignore[call-overload]


# -- calling tasks ----------------------------------------------------------------------


async def reject_enqueue_arguments() -> None:
    fetch.enqueue(1)  # type: ignore[arg-type]
    fetch.enqueue()  # type: ignore[call-arg]
    fetch.enqueue("a", "b")  # type: ignore[call-arg]
    fetch.enqueue(urll="a")  # type: ignore[call-arg]
    crunch.enqueue(1, 2.0)  # type: ignore[call-arg]
    crunch.enqueue(1, scale="big")  # type: ignore[arg-type]
    await fetch.run(1)  # type: ignore[arg-type]
    await fetch.run()  # type: ignore[call-arg]


async def reject_result_types() -> None:
    s: str = await fetch.enqueue("a").result()  # type: ignore[assignment]
    h: TaskResult[str] = fetch.enqueue("a")  # type: ignore[assignment]
    forgot_await: int = fetch.enqueue("a").result()  # type: ignore[assignment]
    local: str = await fetch.run("a")  # type: ignore[assignment]
    ref: TaskRef[[int], int] = fetch  # type: ignore[assignment]
    outcome = await fetch.enqueue("a").outcome()
    outcome.value + 1  # type: ignore[operator]
    info = await fetch.enqueue("a").info()
    info.status  # type: ignore[union-attr]
    outcome.tries = 3  # type: ignore[misc]
    fetch.enqueue("a").start()  # type: ignore[unused-coroutine]


async def reject_start_options() -> None:
    await fetch.enqueue("a").start(delay="soon")  # type: ignore[arg-type]
    await fetch.enqueue("a").start(schedule=5)  # type: ignore[arg-type]
    await fetch.enqueue("a").start(schedule=timedelta(seconds=5))  # type: ignore[arg-type]
    await fetch.enqueue("a").start(key=42)  # type: ignore[arg-type]
    await fetch.enqueue("a").start(at=datetime.now())  # type: ignore[call-arg]
    await fetch.enqueue("a").result(timeout="5")  # type: ignore[arg-type]
    await fetch.enqueue("a").outcome(timeout="5")  # type: ignore[arg-type]


async def reject_stub_calls() -> None:
    remote_fetch.enqueue(1)  # type: ignore[arg-type]
    remote_fetch.enqueue("a", 2)  # type: ignore[call-arg]
    remote_greet.enqueue("ada", excited="yes")  # type: ignore[arg-type]
    n: str = await remote_fetch.enqueue("a").result()  # type: ignore[assignment]
    client.enqueue_unsafe(fetch)  # type: ignore[arg-type]
    await client.enqueue_many([1, 2])  # type: ignore[arg-type]
    many: list[TaskResult[str]] = await client.enqueue_many([fetch.enqueue("a")])  # type: ignore[list-item]
    Client(queue_name=1)  # type: ignore[arg-type]
    Client(max_payload_bytes="1MB")  # type: ignore[arg-type]


# -- errors -----------------------------------------------------------------------------


def reject_error_misuse() -> None:
    # Retry is a control-flow signal, deliberately not a RelayqError
    err: RelayqError = Retry()  # type: ignore[assignment]
    Retry(delay="5s")  # type: ignore[arg-type]
    # a task's own timeout is a TaskFailed, not the caller's TimeoutError
    timeout: TimeoutError = TaskTimedOut("id", "t", "m")  # type: ignore[assignment]
    TaskFailed("id")  # type: ignore[call-arg]
