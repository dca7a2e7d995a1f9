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
    @worker.task()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    async def other_async(ctx: Ctx[Other], url: str) -> int:
        return 0

    @worker.task()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    def other_sync(ctx: Ctx[Other], url: str) -> int:
        return 0

    # ...nor one expecting Deps on a worker without a lifespan (ctx.deps is None there)
    @plain.task()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    async def needs_deps(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    async def expects_none(ctx: Ctx[None]) -> None:
        return None


def reject_missing_context() -> None:
    # every task takes its WrappedContext first
    @worker.task()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    async def no_ctx(url: str) -> int:
        return 0

    @worker.task()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    async def no_params() -> int:
        return 0

    @worker.task()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUntypedFunctionDecorator]
    def deps_not_ctx(deps: Deps, url: str) -> int:
        return 0

    # with **kwargs the ctx must be positional-only (`ctx, /`): otherwise a keyword
    # argument named "ctx" could collide with it. mypy only: pyright does not check a
    # keyword parameter of Concatenate's prefix against the ParamSpec's **kwargs
    @worker.task()  # type: ignore[arg-type]
    async def named_ctx_with_kwargs(ctx: Ctx[Deps], url: str, **headers: str) -> int:
        return 0


def reject_task_options() -> None:
    @worker.task  # type: ignore[call-arg, arg-type]  # pyright: ignore[reportCallIssue, reportUntypedFunctionDecorator]
    async def no_parentheses(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task(timeout="30s")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    async def timeout_str(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task(max_tries=None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    async def tries_none(ctx: Ctx[Deps]) -> None:
        return None

    @worker.task(retries=3)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue, reportUntypedFunctionDecorator]
    async def unknown_option(ctx: Ctx[Deps]) -> None:
        return None


# -- the context and its deps ---------------------------------------------------------


async def reject_context_misuse(ctx: Ctx[Deps], bare: Ctx[None]) -> None:
    ctx.deps.http  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    ctx.deps.base_url + 1  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue, reportUnusedExpression]
    ctx.tries = 2  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    ctx.deps = Deps("x", 1)  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    bare.deps.base_url  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    other: Ctx[Other] = ctx  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]


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
    wrong: Worker[Deps] = Worker(worker_lifespan=other_lifespan)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    # a Worker[Deps] needs a lifespan that yields Deps
    no_lifespan: Worker[Deps] = Worker()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    none_deps: Worker[None] = Worker(worker_lifespan=lifespan)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    # the lifespan is called with the worker, and must be an async context manager
    Worker(worker_lifespan=no_worker_param)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
    Worker(worker_lifespan=not_a_context_manager)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue]
    # (a lifespan whose parameter says Worker[Other] but yields Deps is accepted:
    # Deps is inferred from the yield alone, see test_worker_types)
    # task_lifespan must take the context of this worker's Deps
    Worker(task_lifespan=other_task_lifespan)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    tl: Worker[Deps] = Worker(worker_lifespan=lifespan, task_lifespan=other_task_lifespan)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUnusedVariable]
    Worker(worker_lifespan=lifespan, task_lifespan=other_task_lifespan)  # type: ignore[misc]  # pyright: ignore[reportArgumentType, reportCallIssue]
    # options are typed and keyword-only (the constructor is overloaded on the lifespan)
    Worker(concurrency="16")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    Worker(queue="default")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    Worker("redis://localhost:6379", "default")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]


# -- calling tasks ----------------------------------------------------------------------


async def reject_enqueue_arguments() -> None:
    fetch.enqueue(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    fetch.enqueue()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    fetch.enqueue("a", "b")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    fetch.enqueue(urll="a")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    crunch.enqueue(1, 2.0)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    crunch.enqueue(1, scale="big")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch.run(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch.run()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


async def reject_result_types() -> None:
    s: str = await fetch.enqueue("a").result()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    h: TaskResult[str] = fetch.enqueue("a")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    forgot_await: int = fetch.enqueue("a").result()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    local: str = await fetch.run("a")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    ref: TaskRef[[int], int] = fetch  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    outcome = await fetch.enqueue("a").outcome()
    outcome.value + 1  # type: ignore[operator]  # pyright: ignore[reportOptionalOperand, reportUnusedExpression]
    info = await fetch.enqueue("a").info()
    info.status  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]
    outcome.tries = 3  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    fetch.enqueue("a").start()  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]


async def reject_start_options() -> None:
    await fetch.enqueue("a").start(delay="soon")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch.enqueue("a").start(schedule=5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch.enqueue("a").start(schedule=timedelta(seconds=5))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch.enqueue("a").start(key=42)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch.enqueue("a").start(at=datetime.now())  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    await fetch.enqueue("a").result(timeout="5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await fetch.enqueue("a").outcome(timeout="5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def reject_stub_calls() -> None:
    remote_fetch.enqueue(1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    remote_fetch.enqueue("a", 2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    remote_greet.enqueue("ada", excited="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    n: str = await remote_fetch.enqueue("a").result()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    client.enqueue_unsafe(fetch)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await client.enqueue_many([1, 2])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    many: list[TaskResult[str]] = await client.enqueue_many([fetch.enqueue("a")])  # type: ignore[list-item]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    Client(queue_name=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Client(max_payload_bytes="1MB")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# -- errors -----------------------------------------------------------------------------


def reject_error_misuse() -> None:
    # Retry is a control-flow signal, deliberately not a RelayqError
    err: RelayqError = Retry()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    Retry(delay="5s")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # a task's own timeout is a TaskFailed, not the caller's TimeoutError
    timeout: TimeoutError = TaskTimedOut("id", "t", "m")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    TaskFailed("id")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
