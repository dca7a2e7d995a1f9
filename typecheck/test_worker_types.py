"""Worker side: ``Worker[Deps]`` inference, task registration, ``WrappedContext``.

Fixtures mypy reads and nothing executes (see ``typecheck/__init__.py``): every line
here must type-check, and ``assert_type`` pins the exact inferred type.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from redis.asyncio import Redis
from typing_extensions import assert_type

import sdk
import sdk.worker
from sdk import Retry, Task, TaskRef, TaskResult, Worker, WrappedContext

from ._app import Deps, add, crunch, fetch, greet, lifespan, ping, plain, task_lifespan, worker


def check_worker_inference() -> None:
    # what the lifespan yields decides the Deps of the worker
    assert_type(Worker(worker_lifespan=lifespan), Worker[Deps])
    assert_type(worker, Worker[Deps])
    # without a lifespan (or with None) it is a Worker[None]
    assert_type(Worker(), Worker[None])
    assert_type(Worker(worker_lifespan=None), Worker[None])
    assert_type(plain, Worker[None])
    annotated: Worker[Deps] = Worker(worker_lifespan=lifespan)
    assert_type(annotated, Worker[Deps])


def check_lifespan_shapes() -> None:
    @asynccontextmanager
    async def untyped_worker(worker: object) -> AsyncIterator[Deps]:
        yield Deps("https://example.com", 1)

    @asynccontextmanager
    async def yields_int(worker: Worker[int]) -> AsyncIterator[int]:
        yield 42

    # a lifespan that does not care which worker it gets still fixes Deps
    assert_type(Worker(worker_lifespan=untyped_worker), Worker[Deps])
    assert_type(Worker(worker_lifespan=yields_int), Worker[int])


def check_every_constructor_option() -> None:
    w = Worker(
        "redis://localhost:6379",
        queue_name="default",
        concurrency=16,
        queue_fetch_limit=None,
        tz=timezone.utc,
        health_check_interval=timedelta(minutes=1),
        worker_lifespan=lifespan,
        task_lifespan=task_lifespan,
        serializer=json.dumps,
        deserializer=json.loads,
        lease=timedelta(seconds=30),
        grace_period=10.0,
        max_payload_bytes=1 << 20,
        worker_id="worker-1",
    )
    assert_type(w, Worker[Deps])
    assert_type(
        Worker(redis_url=None, serializer=pickle.dumps, deserializer=pickle.loads), Worker[None]
    )
    assert_type(Worker(health_check_interval=60, lease=5.0, queue_fetch_limit=64), Worker[None])


def check_task_registration() -> None:
    # async and sync tasks keep their signature minus ctx, and their return type
    # (mypy shows parameter names in a ParamSpec, so with parameters the exact
    # type is pinned through what `.enqueue(...)` returns)
    assert_type(ping, Task[[], None])
    task: Task[[int, int], int] = add
    assert_type(task.enqueue(1, 2), TaskResult[int])
    # a registered task is a TaskRef (what stubs produce) with the same signature
    ref: TaskRef[[str], int] = fetch
    assert_type(ref.enqueue("https://a"), TaskResult[int])
    assert_type(fetch.name, str)
    assert_type(worker.tasks, Mapping[str, Task[Any, Any]])

    @worker.task(name="n", max_tries=1, timeout=2.5, ttl=None, unique=True)
    async def all_options(ctx: WrappedContext[Deps]) -> bytes:
        return b""

    @worker.task(ttl=0, timeout=None)
    async def any_ctx(ctx: WrappedContext[Any], x: int) -> int:
        return x

    @worker.task()
    async def positional_only(ctx: WrappedContext[Deps], /, x: int) -> int:
        return x

    @worker.task()
    async def star_args(ctx: WrappedContext[Deps], *urls: str) -> list[str]:
        return list(urls)

    # with **kwargs, ctx must be positional-only (see test_rejections.py)
    @worker.task()
    async def star_kwargs(ctx: WrappedContext[Deps], /, *urls: str, **headers: str) -> str:
        return ""

    assert_type(all_options.enqueue(), TaskResult[bytes])
    assert_type(any_ctx.enqueue(1), TaskResult[int])
    assert_type(positional_only.enqueue(x=1), TaskResult[int])
    assert_type(star_args.enqueue("a", "b"), TaskResult[list[str]])
    assert_type(star_kwargs.enqueue("a", "b", accept="json"), TaskResult[str])


def check_sync_tasks() -> None:
    @worker.task()
    def sync_task(ctx: WrappedContext[Deps], n: int) -> str:
        return str(n)

    assert_type(sync_task.enqueue(3), TaskResult[str])
    assert_type(crunch.enqueue(3, scale=2.0), TaskResult[float])
    assert_type(crunch.enqueue(n=3), TaskResult[float])


async def check_run_locally() -> None:
    # `.run()` executes in-process (no Redis) and returns the value itself
    assert_type(await fetch.run("https://a"), int)
    assert_type(await crunch.run(2, scale=0.5), float)
    assert_type(await greet.run("ada", excited=True), str)
    assert_type(await ping.run(), None)
    assert_type(await add.run(1, 2), int)
    n: int = await fetch.run(url="https://b")
    assert_type(n, int)


async def check_context(ctx: WrappedContext[Deps]) -> None:
    assert_type(ctx.deps, Deps)
    assert_type(ctx.deps.base_url, str)
    assert_type(ctx.deps.retries, int)
    assert_type(ctx.task_id, str)
    assert_type(ctx.tries, int)
    assert_type(ctx.worker_id, str)
    assert_type(ctx.fn_name, str)
    assert_type(ctx.enqueue_time, datetime)
    assert_type(ctx.queue_name, str)
    assert_type(ctx.redis, Redis)


async def check_context_without_deps(ctx: WrappedContext[None]) -> None:
    assert_type(ctx.deps, None)


async def check_retry_in_tasks() -> None:
    @worker.task(max_tries=4)
    async def flaky(ctx: WrappedContext[Deps], url: str) -> int:
        if ctx.tries < 2:
            raise Retry()
        if ctx.tries < 3:
            raise Retry(delay=timedelta(seconds=5))
        if ctx.tries < 4:
            raise Retry(delay=1.5)
        raise Retry(2)

    assert_type(await flaky.enqueue("x").result(), int)
    assert_type(Retry(delay=timedelta(milliseconds=200)).delay, float | None)


async def check_worker_lifecycle() -> None:
    async with worker as connected:
        assert_type(connected, Worker[Deps])
        assert_type(await worker.enqueue_many([fetch.enqueue("a")]), list[TaskResult[int]])
    async with worker.running() as running:
        assert_type(running, Worker[Deps])
        assert_type(running.deps, Deps)
    async with plain.running() as running_plain:
        assert_type(running_plain, Worker[None])
        assert_type(running_plain.deps, None)
    await worker.run()
    await worker.run(burst=True, handle_signals=False)
    worker.stop()
    assert_type(worker.ready.is_set(), bool)
    assert_type(worker.redis, Redis)
    assert_type(worker.id, str)
    assert_type(worker.queue_name, str)


def check_lazy_imports() -> None:
    # `from sdk import Worker` resolves lazily at run time but is fully typed
    assert_type(sdk.Worker(), sdk.worker.Worker[None])
    assert_type(sdk.worker.Worker(worker_lifespan=lifespan), Worker[Deps])
    # the annotated assignments are the check (pyright narrows to what was assigned)
    _ctx_type: type[sdk.WrappedContext[Deps]] = sdk.worker.WrappedContext
    _task_ref: type[sdk.TaskRef[[str], int]] = sdk.Task


@asynccontextmanager
async def loose_lifespan(worker: Worker[Any]) -> AsyncIterator[Deps]:
    yield Deps("x", 1)


def check_deps_inferred_from_the_yield() -> None:
    # a lifespan that annotates its worker loosely still gives a fully typed worker
    assert_type(Worker(worker_lifespan=loose_lifespan), Worker[Deps])


def check_context_is_covariant() -> None:
    # WrappedContext is frozen and covariant: a task written for WrappedContext[object]
    # registers on any worker
    @worker.task()
    async def generic(ctx: WrappedContext[object], n: int) -> int:
        return n

    assert_type(generic.enqueue(1), TaskResult[int])
