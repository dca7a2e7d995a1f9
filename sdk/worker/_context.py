"""``WrappedContext[Deps]``: what a running task knows about itself and its worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from redis.asyncio import Redis

__all__ = ["WrappedContext"]

Deps = TypeVar("Deps")


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
