"""Running a task in-process, without Redis: ``await fetch.run(...)``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import Any

from .._envelope import new_task_id
from .._redis import connect
from .._time import from_ms, now_ms
from ..client import Client
from ._context import WrappedContext
from ._task import Task

__all__ = ["call_locally"]


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
        if task.is_async:
            return await task.fn(ctx, *args, **kwargs)
        call = functools.partial(contextvars.copy_context().run, task.fn, ctx, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)
    finally:
        if own_redis is not None:
            await own_redis.aclose()
