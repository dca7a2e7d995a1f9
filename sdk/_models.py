"""Value objects a caller gets back: task status, outcome and info."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from .errors import TaskFailed

__all__ = ["Progress", "TaskInfo", "TaskOutcome", "TaskStatus"]

T = TypeVar("T", covariant=True)  # frozen: an outcome only hands its value out


class TaskStatus(str, enum.Enum):
    """Where a task is in its life.

    ``RUNNING`` means a worker has taken the task and holds its lease (it may
    still sit in that worker's small prefetch buffer for a moment).
    """

    NOT_FOUND = "not_found"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class TaskOutcome(Generic[T]):
    """What became of one task: its value or its error, and when and where it ran.

    :ivar success: ``True`` when the task returned a value.
    :ivar value: the returned value (``None`` when it failed).
    :ivar error: the failure (``None`` when it succeeded).
    :ivar tries: how many times the task was delivered, this one included.
    :ivar enqueue_time: when the task was enqueued (UTC).
    :ivar start_time: when its last try started (UTC).
    :ivar finish_time: when its last try finished (UTC).
    :ivar worker_id: the worker that produced this outcome.
    :ivar fn_name: the task's registered name.
    """

    task_id: str
    success: bool
    value: T | None
    error: TaskFailed | None
    tries: int
    enqueue_time: datetime
    start_time: datetime
    finish_time: datetime
    worker_id: str
    fn_name: str

    def unwrap(self) -> T:
        """Return the value, or raise the :class:`~sdk.errors.TaskFailed` it failed with."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # success => value is a T


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress report of a running task (``await ctx.progress(...)``).

    :ivar fraction: how much is done, from 0 to 1.
    :ivar message: what the task said it is doing, if anything.
    :ivar time: when the task reported it (UTC).
    """

    fraction: float
    message: str | None
    time: datetime


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What Redis knows about a task that has not finished yet.

    :ivar status: ``SCHEDULED``, ``QUEUED`` or ``RUNNING``.
    :ivar tries: deliveries so far (0 while it has never run).
    :ivar scheduled_time: when a scheduled task is due (``None`` otherwise).
    :ivar worker_id: the worker holding a running task (``None`` otherwise).
    :ivar progress: the last progress it reported (``None`` before any).
    """

    task_id: str
    fn_name: str
    status: TaskStatus
    enqueue_time: datetime
    tries: int
    scheduled_time: datetime | None
    worker_id: str | None
    progress: Progress | None = None
