"""A worker's dependencies, and running a task in-process with them: ``await fetch.run(...)``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from .._envelope import new_task_id
from .._redis import connect
from .._time import from_ms, now_ms
from ..client import Client
from ..errors import RelayqError
from ._context import WrappedContext
from ._task import Task

__all__ = ["Dependencies", "call_locally"]


async def call_locally(
    client: Client,
    worker_id: str,
    task: Task[Any, Any],
    deps: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Call ``task``'s function here with a fresh context (try 1) and ``deps``.

    ``ctx.redis`` is the worker's client when it is connected; otherwise a client
    of its own, closed afterwards (it only connects if the task uses it). A sync
    task runs in the loop's default thread pool. Exceptions propagate unchanged.
    """
    own_redis = None if client.connected else connect(client.redis_url)
    ctx: WrappedContext[Any] = WrappedContext(
        deps,
        new_task_id(),
        1,
        worker_id,
        task.name,
        from_ms(now_ms()),
        client.queue_name,
        own_redis or client.redis,
    )
    try:
        if task.is_stream:  # the list of its items, as a caller's result() gets it
            return [item async for item in task.fn(ctx, *args, **kwargs)]
        if task.is_async:
            return await task.fn(ctx, *args, **kwargs)
        call = functools.partial(contextvars.copy_context().run, task.fn, ctx, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)
    finally:
        if own_redis is not None:
            await own_redis.aclose()


class Dependencies:
    """What a worker's ``worker_lifespan`` yields: entered once while the worker
    runs, and lent to ``task.run()`` calls (which enter it themselves otherwise).

    :param worker: the worker, passed to the lifespan.
    :param lifespan: the worker's ``worker_lifespan`` (``None``: no dependencies).
    """

    __slots__ = ("_deps", "_entered", "_lifespan", "_worker")

    def __init__(
        self,
        worker: Any,
        lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None,
    ) -> None:
        self._worker = worker
        self._lifespan = lifespan
        self._deps: Any = None
        self._entered = False

    def current(self) -> Any:
        """The dependencies, while the lifespan is entered.

        :raises RelayqError: it is not.
        """
        if not self._entered:
            raise RelayqError("worker dependencies exist only while the worker runs")
        return self._deps

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[Any]:
        """Enter the worker's lifespan; yields the dependencies."""
        if self._lifespan is None:
            self._deps, self._entered = None, True
            try:
                yield None
            finally:
                self._entered = False
            return
        async with self._lifespan(self._worker) as deps:
            self._deps, self._entered = deps, True
            try:
                yield deps
            finally:
                self._deps, self._entered = None, False

    async def run_locally(
        self, task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``task.run()``: call the task here with the dependencies (entered for this
        call alone when the worker is not running)."""
        worker = self._worker
        if self._entered:
            return await call_locally(worker.client, worker.id, task, self._deps, args, kwargs)
        async with self.lifespan() as deps:
            return await call_locally(worker.client, worker.id, task, deps, args, kwargs)
