"""``TaskResult[T]``: the typed future a caller holds for one task.

A handle holds an immutable :class:`TaskRequest` (what to send) and the
:class:`Sender` that sends it: the client, seen only through that protocol.
The handle keeps its own state (sent, attempted); the client never touches it.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from typing_extensions import Self

from .._models import Progress, TaskInfo, TaskOutcome, TaskStatus
from .._time import due_ms, seconds
from ..errors import ConfigurationError, RelayqError, ResultTimeout
from ._request import TaskRequest

if TYPE_CHECKING:
    from ._viewing import View
    from ._waiting import Wait

__all__ = ["Sender", "TaskResult", "send_all"]

# covariant: a handle only ever hands a T out, so a TaskResult[int] is a
# TaskResult[object] (mixed batches for enqueue_many type-check)
T = TypeVar("T", covariant=True)
U = TypeVar("U")


class Sender(Protocol):
    """What a handle needs from its client (implemented by :class:`~sdk.client.Client`)."""

    def resolve_priority(self, name: str | None) -> str:
        """Check a priority name (``None``: the default)."""
        ...

    async def send(self, request: TaskRequest, *, reply: bool) -> None:
        """Send one task; with ``reply`` its outcome is routed to this client's inbox."""
        ...

    async def send_many(self, requests: Sequence[TaskRequest]) -> None:
        """Send many tasks in one round trip."""
        ...

    def wait(self, task_id: str, timeout: float | None) -> Wait:
        """A wait for the outcome of ``task_id`` (``async with``)."""
        ...

    def view(self, task_id: str) -> View:
        """A live watch of ``task_id``'s progress or items (``async with``)."""
        ...

    async def abort(self, task_id: str, timeout: float | None) -> bool:
        """Abort the task; whether it was aborted."""
        ...

    def abort_soon(self, task_id: str) -> None:
        """Abort the task in the background, after any send of it still in flight."""
        ...

    async def reschedule(self, task_id: str, due_ms: int) -> bool:
        """Move a scheduled task (``due_ms`` 0: unschedule it)."""
        ...

    async def status(self, task_id: str) -> tuple[TaskStatus, TaskInfo | None]:
        """Where the task is."""
        ...


class TaskResult(Generic[T]):
    """A task call: lazy until sent, then a handle on the task's outcome.

    ``fetch.enqueue(url)`` only builds it. It is sent, exactly once, by the first
    of ``await handle``, :meth:`start`, :meth:`result` or :meth:`outcome` (or by
    ``enqueue_many``). A handle that is garbage-collected without ever being
    sent warns with a :class:`RuntimeWarning`, so a forgotten ``await`` does not
    silently drop a task.
    """

    __slots__ = ("__weakref__", "_attempted", "_request", "_sender", "_sent")

    def __init__(self, sender: Sender, request: TaskRequest) -> None:
        self._sender = sender
        self._request = request
        self._sent = False
        # a send was tried: if it raised, the caller saw that error, and the
        # never-sent warning would only repeat it
        self._attempted = False

    @classmethod
    def existing(cls, sender: Sender, fn_name: str, task_id: str) -> Self:
        """A handle on a task that was sent elsewhere (it is never sent again)."""
        handle = cls(sender, TaskRequest(fn_name, (), {}, task_id, shared=True))
        handle._sent = handle._attempted = True
        return handle

    @property
    def id(self) -> str:
        """The task's id: random hex, the idempotency key given to :meth:`start`, or
        (for a ``unique`` task) derived from its arguments."""
        return self._request.task_id

    @property
    def fn_name(self) -> str:
        """The registered name of the task."""
        return self._request.fn_name

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments of the call."""
        return self._request.args

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the call."""
        return self._request.kwargs

    @property
    def sent(self) -> bool:
        """Whether the task has been sent to Redis."""
        return self._sent

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

    def __await__(self) -> Generator[Any, None, Self]:
        return self.start().__await__()

    def _with_options(
        self,
        delay: float | timedelta | None,
        schedule: datetime | None,
        key: str | None,
        priority: str | None,
    ) -> TaskRequest:
        if self._sent:
            raise RelayqError(f"task {self.fn_name!r} ({self.id}) was already sent")
        request = self._request
        if key is not None:
            if not isinstance(key, str) or not key:
                raise ConfigurationError(f"key= must be a non-empty string, got {key!r}")
            request = request._replace(task_id=key, shared=True)
        if delay is not None or schedule is not None:
            request = request._replace(due_ms=due_ms(delay, schedule))
        if priority is not None:
            request = request._replace(priority=self._sender.resolve_priority(priority))
        return request

    def _claim(self) -> TaskRequest:
        """Mark the handle as being sent; the request to send."""
        if self._sent:
            raise RelayqError(f"task {self.fn_name!r} ({self.id}) was already sent")
        self._attempted = True
        return self._request

    async def start(
        self,
        *,
        delay: float | timedelta | None = None,
        schedule: datetime | None = None,
        key: str | None = None,
        priority: str | None = None,
    ) -> Self:
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
        self._request = self._with_options(delay, schedule, key, priority)
        await self._sender.send(self._claim(), reply=False)
        self._sent = True
        return self

    @property
    def owned(self) -> bool:
        """Whether this handle sent the task under a fresh id: then the task is its
        caller's alone, and a caller that is cancelled while it waits aborts it.

        A task sent with an idempotency ``key``, a ``unique`` task and a handle made
        from an id (``TaskRef.handle``) may be shared with other callers: they are
        never aborted by one caller's cancellation.
        """
        return self._attempted and not self._request.shared

    async def outcome(
        self, timeout: float | timedelta | None = None, *, abort_on_timeout: bool = False
    ) -> TaskOutcome[T]:
        """Send the task if needed and wait for its outcome (success or failure).

        RPC semantics: when the coroutine awaiting this is cancelled
        (``asyncio.timeout``, ``wait_for``, a closed HTTP request, a task group)
        and this handle :attr:`owned` the task, the task is aborted too. Wrap the
        call in ``asyncio.shield`` to wait without owning it.

        :param timeout: how long to wait in all; ``None`` waits as long as the task
            exists (a task that no longer exists raises :class:`TaskNotFound` at once).
        :param abort_on_timeout: when ``timeout`` runs out, abort the task before
            raising :class:`ResultTimeout` (by default it is left running).
        :raises ResultTimeout: no outcome within ``timeout`` (the task may still finish).
        :raises TaskNotFound: the task is not queued, scheduled or running, and no
            outcome of it is stored (its result expired, or Redis lost it).
        """
        try:
            return await self._obtain(seconds(timeout, "timeout"))
        except ResultTimeout:
            if abort_on_timeout:
                await self._sender.abort(self.id, 0.0)
            raise
        except asyncio.CancelledError:
            if self.owned:
                self._sender.abort_soon(self.id)
            raise

    async def _obtain(self, timeout: float | None) -> TaskOutcome[Any]:
        async with self._sender.wait(self.id, timeout) as wait:
            routed = await self._send_for(wait)
            return await wait.outcome(routed=routed)

    async def result(
        self, timeout: float | timedelta | None = None, *, abort_on_timeout: bool = False
    ) -> T:
        """Send the task if needed, wait, and return its value (see :meth:`outcome`
        for ``timeout``, ``abort_on_timeout`` and what cancelling the wait does).

        :raises TaskFailed: the task raised (``TaskTimedOut`` / ``TaskAborted`` included).
        :raises ResultTimeout: no outcome within ``timeout`` (the task may still finish).
        :raises TaskNotFound: the task is nowhere (see :meth:`outcome`).
        """
        return (await self.outcome(timeout, abort_on_timeout=abort_on_timeout)).unwrap()

    async def _send_for(self, listening: Wait | View) -> bool:
        """Send the task (if this handle has not yet) with this client's route, once
        ``listening`` is subscribed, so it misses nothing; whether it sent it."""
        if self._sent:
            return False
        request = self._claim()
        await listening.subscribed()
        await self._sender.send(request, reply=True)
        self._sent = True
        return True

    async def progress(self) -> AsyncIterator[Progress]:
        """Send the task if needed and follow its progress (``ctx.progress`` in the
        task): the last report so far first, then each new one as it is made;
        the iteration ends when the task ends. Stopping it leaves the task alone.

        :raises TaskNotFound: the task is nowhere.
        """
        async with self._sender.view(self.id) as view:
            await self._send_for(view)
            async for report in view.progress():
                yield report

    async def abort(self, timeout: float | timedelta | None = 5.0) -> bool:
        """Abort the task if it has not finished; ``True`` if it was aborted.

        A queued or scheduled task is removed at once. A running one is cancelled
        by its worker (a sync task's thread runs on, but its result is discarded),
        and this waits up to ``timeout`` for that to be confirmed (``0``: it does
        not wait, and returns ``False`` for a running task). Waiters receive
        :class:`~sdk.errors.TaskAborted`. A finished or unknown task is left as it is
        (``False``), and nothing is written to Redis for it.
        """
        return await self._sender.abort(self.id, seconds(timeout, "timeout"))

    async def reschedule(
        self, *, delay: float | timedelta | None = None, schedule: datetime | None = None
    ) -> bool:
        """Move a scheduled task to a new time; ``False`` if it is not scheduled (any more)."""
        due = due_ms(delay, schedule)
        if due <= 0:
            raise ConfigurationError("reschedule() needs a delay > 0 or a schedule= time")
        return await self._sender.reschedule(self.id, due)

    async def unschedule(self) -> bool:
        """Abort a task that is still scheduled; ``False`` if it is not scheduled (any more).

        Waiters receive :class:`~sdk.errors.TaskAborted`.
        """
        return await self._sender.reschedule(self.id, 0)

    async def status(self) -> TaskStatus:
        """Where the task is now (``NOT_FOUND`` before it was sent)."""
        return (await self._sender.status(self.id))[0]

    async def info(self) -> TaskInfo | None:
        """Details of a live task (queued, scheduled or running); ``None`` otherwise."""
        return (await self._sender.status(self.id))[1]


async def send_all(sender: Sender, handles: Iterable[TaskResult[U]]) -> list[TaskResult[U]]:
    """Send many handles in one round trip; the handles, in order.

    Every handle is checked (none sent before) before anything is sent.
    """
    batch = list(handles)
    for handle in batch:
        if handle._sent:
            raise RelayqError(f"task {handle.fn_name!r} ({handle.id}) was already sent")
    requests = [handle._claim() for handle in batch]
    await sender.send_many(requests)
    for handle in batch:
        handle._sent = True
    return batch
