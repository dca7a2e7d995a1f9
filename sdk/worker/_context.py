"""``WrappedContext[Deps]``: what a running task knows about itself and its worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from redis.asyncio import Redis

from .._live import check_progress

__all__ = ["CallNext", "Middleware", "Reporter", "WrappedContext"]

# covariant: the context is frozen and only hands deps out, so a task written for
# WrappedContext[Base] runs on a worker whose deps are a subclass of Base
Deps = TypeVar("Deps", covariant=True)
D = TypeVar("D")


class Reporter(Protocol):
    """Where a running task's progress goes (the worker's, or nowhere in ``task.run()``)."""

    async def progress(self, fraction: float, message: str | None) -> None:
        """Report progress (validated; see :meth:`WrappedContext.progress`)."""
        ...


class _Unreported:
    """The reporter of a task run outside a worker: progress is checked, then dropped."""

    async def progress(self, fraction: float, message: str | None) -> None:
        check_progress(fraction, message)


_UNREPORTED = _Unreported()


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
    # where progress goes: given by the worker for each run
    _reporter: Reporter = field(default=_UNREPORTED, repr=False, compare=False)

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far the task is: ``fraction`` from 0 to 1, and what it is doing.

        The last report is kept with the task (``TaskInfo.progress``) and pushed to
        every caller watching ``handle.progress()``. Cheap to call often: the worker
        writes at most ten reports a second per task, always the latest, and the
        last one before the task ends. A report that cannot be written (Redis away)
        is logged and skipped; the task carries on.

        :raises ValueError: ``fraction`` is not a number from 0 to 1, or ``message``
            is not a string.
        """
        await self._reporter.progress(fraction, message)


#: What a middleware calls to run the rest of the chain (and finally the task);
#: it returns the task's value.
CallNext: TypeAlias = Callable[[], Awaitable[Any]]

#: A middleware: ``async def mw(ctx: WrappedContext[Deps], call_next: CallNext) -> Any``.
#: It wraps every execution: it may act before and after ``await call_next()``,
#: transform the value it returns, or return without calling it (short-circuit).
#: Middlewares given to a worker run in order, the first one outermost.
Middleware: TypeAlias = Callable[[WrappedContext[D], CallNext], Awaitable[Any]]
