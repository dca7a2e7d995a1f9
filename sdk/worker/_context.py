"""``WrappedContext[Deps]``: what a running task knows about itself and its worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeAlias, TypeVar

from redis.asyncio import Redis

__all__ = ["CallNext", "Middleware", "WrappedContext"]

# covariant: the context is frozen and only hands deps out, so a task written for
# WrappedContext[Base] runs on a worker whose deps are a subclass of Base
Deps = TypeVar("Deps", covariant=True)
D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class WrappedContext(Generic[Deps]):
    """The first argument of every task.

    :ivar deps: what the worker's ``worker_lifespan`` yielded (``None`` without one).
    :ivar task_id: this task's id.
    :ivar tries: 1 on the first attempt, 2 on the first retry, ...
    :ivar worker_id: the worker running it.
    :ivar fn_name: the task's registered name.
    :ivar enqueue_time: when the task was enqueued (UTC).
    :ivar queue_name: the queue it came from.
    :ivar redis: the worker's redis-py client, for tasks that need Redis themselves.
    """

    deps: Deps
    task_id: str
    tries: int
    worker_id: str
    fn_name: str
    enqueue_time: datetime
    queue_name: str
    redis: Redis


#: What a middleware calls to run the rest of the chain (and finally the task);
#: it returns the task's value.
CallNext: TypeAlias = Callable[[], Awaitable[Any]]

#: A middleware: ``async def mw(ctx: WrappedContext[Deps], call_next: CallNext) -> Any``.
#: It wraps every execution: it may act before and after ``await call_next()``,
#: transform the value it returns, or return without calling it (short-circuit).
#: Middlewares given to a worker run in order, the first one outermost.
Middleware: TypeAlias = Callable[[WrappedContext[D], CallNext], Awaitable[Any]]
