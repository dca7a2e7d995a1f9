"""``TaskResult[T]``: the typed future a caller holds for one task."""

from __future__ import annotations

import warnings
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._models import TaskInfo, TaskOutcome, TaskStatus
from .._wire import now_ms
from ..errors import ConfigurationError, RelayqError
from ._control import abort_task, reschedule_task, task_status

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["TaskResult"]

# covariant: a handle only ever hands a T out, so a TaskResult[int] is a
# TaskResult[object] (mixed batches for enqueue_many type-check)
T = TypeVar("T", covariant=True)


def seconds(value: float | timedelta | None, what: str) -> float | None:
    """Normalise a ``timedelta | float`` API argument to seconds (``None`` passes through)."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if value is not None and value < 0:
        raise ConfigurationError(f"{what} must be >= 0, got {value!r}")
    return value


def _due_ms(delay: float | timedelta | None, schedule: datetime | None) -> int:
    """Due time in epoch ms for ``delay=`` / ``schedule=`` (``0``: ready now)."""
    if delay is not None and schedule is not None:
        raise ConfigurationError("pass either delay= or schedule=, not both")
    if schedule is not None:
        if schedule.tzinfo is None:
            raise ConfigurationError(
                "schedule= must be an aware datetime (e.g. datetime.now(timezone.utc))"
            )
        return max(1, int(schedule.timestamp() * 1000))
    delay_s = seconds(delay, "delay")
    return now_ms() + int(delay_s * 1000) if delay_s else 0


class TaskResult(Generic[T]):
    """A task call: lazy until sent, then a handle on the task's outcome.

    ``fetch.enqueue(url)`` only builds it. It is sent, exactly once, by the first
    of ``await handle``, :meth:`start`, :meth:`result` or :meth:`outcome` (or by
    ``enqueue_many``). A handle that is garbage-collected without ever being
    sent warns with a :class:`RuntimeWarning`, so a forgotten ``await`` does not
    silently drop a task.
    """

    __slots__ = (
        "__weakref__",
        "_attempted",
        "_client",
        "_due_ms",
        "_fixed_id",
        "_priority",
        "_sent",
        "args",
        "fn_name",
        "id",
        "kwargs",
    )

    def __init__(
        self,
        client: Client,
        fn_name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        task_id: str,
    ) -> None:
        self._client = client
        self.fn_name = fn_name
        self.args = args
        self.kwargs = kwargs
        #: The task's id: random hex, or the idempotency key given to :meth:`start`.
        self.id = task_id
        self._due_ms = 0
        # an id chosen from a key or the arguments: another caller may share the task
        self._fixed_id = False
        self._priority = 0  # stream index; 0 = the client's default priority
        self._sent = False
        # a send was tried: if it raised, the caller saw that error, and the
        # never-sent warning would only repeat it
        self._attempted = False

    @classmethod
    def existing(cls, client: Client, fn_name: str, task_id: str) -> TaskResult[T]:
        """A handle on a task that was sent elsewhere (it is never sent again)."""
        handle: TaskResult[T] = cls(client, fn_name, (), {}, task_id)
        handle._sent = handle._attempted = True
        return handle

    def __repr__(self) -> str:
        state = "sent" if self._sent else "not sent"
        return f"<TaskResult {self.fn_name}[{self.id}] {state}>"

    def __del__(self) -> None:
        if not self._sent and not self._attempted:
            warnings.warn(
                f"task {self.fn_name!r} ({self.id}) was enqueued but never sent; "
                "did you forget to await it (or call .start() / .result())?",
                RuntimeWarning,
                stacklevel=1,
            )

    @property
    def sent(self) -> bool:
        """Whether the task has been sent to Redis."""
        return self._sent

    def __await__(self) -> Generator[Any, None, TaskResult[T]]:
        return self.start().__await__()

    def _prepare(
        self,
        delay: float | timedelta | None,
        schedule: datetime | None,
        key: str | None,
        priority: str | None,
    ) -> None:
        """Apply start options; shared by :meth:`start` and ``enqueue_many``."""
        if self._sent:
            raise RelayqError(f"task {self.fn_name!r} ({self.id}) was already sent")
        if key is not None:
            if not isinstance(key, str) or not key:
                raise ConfigurationError(f"key= must be a non-empty string, got {key!r}")
            self.id = key
            self._fixed_id = True
        self._due_ms = _due_ms(delay, schedule)
        if priority is not None:
            self._priority = self._client.priority_index(priority)

    async def start(
        self,
        *,
        delay: float | timedelta | None = None,
        schedule: datetime | None = None,
        key: str | None = None,
        priority: str | None = None,
    ) -> TaskResult[T]:
        """Send the task (once) and return this handle.

        :param delay: run no earlier than this many seconds (or this ``timedelta``) from now.
        :param schedule: run no earlier than this aware ``datetime``.
        :param key: idempotency key: becomes the task id, and while a task with this
            id is queued, scheduled or running, sending another one with the same key
            returns a handle to the live one instead of enqueueing a second.
        :param priority: one of the queue's named priorities (``Worker(priorities=...)``);
            workers take higher priorities first. Default: the queue's default priority.
        :raises RelayqError: the handle was already sent (and options were given).
        :raises ConfigurationError: an unknown priority, or both delay and schedule.
        """
        if self._sent and delay is None and schedule is None and key is None and priority is None:
            return self
        self._prepare(delay, schedule, key, priority)
        await self._client._send(self)
        return self

    async def outcome(self, timeout: float | timedelta | None = None) -> TaskOutcome[T]:
        """Send the task if needed and wait for its outcome (success or failure).

        :param timeout: how long to wait in all; ``None`` waits as long as it takes.
        :raises ResultTimeout: no outcome within ``timeout`` (the task may still finish).
        """
        return await self._client._wait(self, seconds(timeout, "timeout"))

    async def result(self, timeout: float | timedelta | None = None) -> T:
        """Send the task if needed, wait, and return its value.

        :raises TaskFailed: the task raised (``TaskTimedOut`` / ``TaskAborted`` included).
        :raises ResultTimeout: no outcome within ``timeout`` (the task may still finish).
        """
        return (await self.outcome(timeout)).unwrap()

    async def abort(self, timeout: float | timedelta | None = 5.0) -> bool:
        """Abort the task if it has not finished; ``True`` if it was aborted.

        A queued or scheduled task is removed at once. A running one is cancelled
        by its worker (a sync task's thread runs on, but its result is discarded),
        and this waits up to ``timeout`` for that to be confirmed. Waiters receive
        :class:`~sdk.errors.TaskAborted`. A finished or unknown task is left as it is
        (``False``), and nothing is written to Redis for it.
        """
        return await abort_task(self._client, self, seconds(timeout, "timeout"))

    async def reschedule(
        self, *, delay: float | timedelta | None = None, schedule: datetime | None = None
    ) -> bool:
        """Move a scheduled task to a new time; ``False`` if it is not scheduled (any more)."""
        due = _due_ms(delay, schedule)
        if due <= 0:
            raise ConfigurationError("reschedule() needs a delay > 0 or a schedule= time")
        return await reschedule_task(self._client, self, due)

    async def unschedule(self) -> bool:
        """Abort a task that is still scheduled; ``False`` if it is not scheduled (any more).

        Waiters receive :class:`~sdk.errors.TaskAborted`.
        """
        return await reschedule_task(self._client, self, 0)

    async def status(self) -> TaskStatus:
        """Where the task is now (``NOT_FOUND`` before it was sent)."""
        return (await task_status(self._client, self.id))[0]

    async def info(self) -> TaskInfo | None:
        """Details of a live task (queued, scheduled or running); ``None`` otherwise."""
        return (await task_status(self._client, self.id))[1]
