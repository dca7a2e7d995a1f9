"""The asyncio machinery every component shares: who owns background tasks
(:class:`Supervisor`), how writes are batched (:class:`GroupCommit`) and how a
failing call is retried (:class:`Backoff`).

Every ``asyncio.Task`` relayq creates is created here, by a supervisor that
awaits it when its owner stops, so no background task outlives the client,
listener or worker that started it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Generic, TypeVar

__all__ = ["Backoff", "GroupCommit", "Supervisor", "stop_task"]

logger = logging.getLogger("relayq")

T = TypeVar("T")

_BACKOFF_FIRST_S: Final = 0.05
_BACKOFF_CAP_S: Final = 5.0


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task and wait until it has really finished; its outcome is discarded.

    One ``cancel()`` is not always enough: on Python 3.11 a cancellation that
    lands inside redis-py's own ``wait_for`` can be swallowed (CPython
    gh-86296), and a loop would carry on until its next sleep ends. So this
    cancels again until the task is done.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=0.1)
    _retrieve(task)


def _retrieve(task: asyncio.Future[Any]) -> BaseException | None:
    """The task's exception, marked as retrieved (asyncio must not report it)."""
    if task.cancelled():
        return None
    return task.exception()


class Supervisor:
    """Owns the background tasks of one component (a worker, a client, a listener).

    Loops that run for the component's whole life are started with :meth:`start`
    and stopped by :meth:`stop` in the reverse order, so a loop can rely on the
    ones started before it until it is gone itself. Short tasks (one execution,
    one disconnect) are started with :meth:`spawn`; :meth:`stop` cancels those
    still running. A loop that ends on its own (it crashed) is logged and
    reported to ``on_failure``: a worker whose lease renewal died must not carry
    on as if nothing had happened.

    :param owner: named in log lines, e.g. ``"worker w1"``.
    :param on_failure: called with the loop's name and exception when a loop crashes.
    """

    def __init__(
        self, owner: str, on_failure: Callable[[str, BaseException], None] | None = None
    ) -> None:
        self.owner = owner
        self._on_failure = on_failure
        self._loops: list[tuple[str, asyncio.Task[None]]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._stopping = False
        #: The first loop failure, if any (a loop that raised instead of running on).
        self.failure: BaseException | None = None

    def start(self, name: str, loop: Coroutine[Any, Any, None]) -> None:
        """Run ``loop`` until :meth:`stop` (awaited there, in reverse start order)."""
        task = asyncio.get_running_loop().create_task(loop, name=f"relayq {self.owner}: {name}")
        task.add_done_callback(lambda t: self._loop_ended(name, t))
        self._loops.append((name, task))

    def spawn(
        self, coro: Coroutine[Any, Any, T], *, report: bool = True, track: bool = True
    ) -> asyncio.Task[T]:
        """Run a short task; it is awaited by whoever holds the returned task, or
        cancelled and awaited by :meth:`stop`.

        :param report: log an exception it ends with (``False`` when the holder
            looks at the outcome itself, or it does not matter).
        :param track: ``False`` for a task its holder always awaits or cancels
            before :meth:`stop` (a worker's executions: the dispatcher's shutdown
            does), which saves a callback per task on the hot path.
        """
        task = asyncio.get_running_loop().create_task(coro)
        if track:
            self._spawned.add(task)
            task.add_done_callback(self._reap if report else self._spawned.discard)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._spawned.discard(task)
        exc = _retrieve(task)
        if exc is not None:
            logger.error("relayq %s: a background task failed", self.owner, exc_info=exc)

    def _loop_ended(self, name: str, task: asyncio.Task[None]) -> None:
        exc = _retrieve(task)
        if self._stopping or task.cancelled():
            return
        if exc is None:
            exc = RuntimeError(f"background loop {name!r} returned while it should run")
        logger.error("relayq %s: background loop %r crashed", self.owner, name, exc_info=exc)
        if self.failure is None:
            self.failure = exc
        if self._on_failure is not None:
            self._on_failure(name, exc)

    async def stop(self) -> None:
        """Stop every loop (last started first) and every short task still running."""
        self._stopping = True
        while self._loops:
            _name, task = self._loops.pop()
            await stop_task(task)
        while self._spawned:
            await stop_task(next(iter(self._spawned)))


class Backoff:
    """Capped exponential backoff with jitter, and whether an outage is going on.

    ``await backoff.retry()`` after a failure; :meth:`recovered` after a success
    says whether that ended an outage (so each outage is logged once, and its end).
    """

    __slots__ = ("_cap", "_delay", "_first", "outage")

    def __init__(self, first: float = _BACKOFF_FIRST_S, cap: float = _BACKOFF_CAP_S) -> None:
        self._first = first
        self._cap = cap
        self._delay = first
        #: Whether the last attempt failed.
        self.outage = False

    async def retry(self) -> None:
        """Sleep before the next attempt: 0.5 to 1.5 times a delay that doubles each time."""
        self.outage = True
        await asyncio.sleep(self._delay * (0.5 + random.random()))
        self._delay = min(self._delay * 2, self._cap)

    def recovered(self) -> bool:
        """Record a success; ``True`` if it ended an outage."""
        was = self.outage
        self.outage = False
        self._delay = self._first
        return was


class GroupCommit(Generic[T]):
    """Writes items in batches without making a lone item wait (group commit).

    :meth:`write_now` writes an item at once, in the caller's task, when nothing
    is in flight; items :meth:`add`-ed while something is go out together in the
    next write, from a writer loop under ``supervisor``. Under load one round trip
    carries many items; when idle, one item pays no extra scheduling step.

    ``write`` must settle every queued item of its batch (resolve a future, call
    a callback) and do its own retrying; an exception it lets out of a queued
    batch is logged and the batch dropped, so it should not let one out.

    :param name: names the writer loop in logs.
    :param max_batch: items per write at most.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        max_batch: int,
    ) -> None:
        self._write = write
        self._max = max_batch
        self._queue: list[T] = []
        self._busy = 0  # writes in flight, direct and from the loop
        # plain futures, not Events: a wake-up per batch is on every task's path
        self._wakeup: asyncio.Future[None] | None = None
        self._drained: list[asyncio.Future[None]] = []
        supervisor.start(f"{name} writer", self._write_forever())

    def add(self, item: T) -> None:
        """Queue an item for the writer loop."""
        self._queue.append(item)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    @property
    def idle(self) -> bool:
        """Whether nothing is being written or waits to be: :meth:`write_now` may go."""
        return not self._busy and not self._queue

    async def write_now(self, item: T) -> None:
        """Write one item at once, in the caller's task (call it when :attr:`idle`):
        the lone item pays no scheduling step. What ``write`` raises propagates."""
        self._busy += 1
        try:
            await self._write([item])
        finally:
            self._busy -= 1
            self._settle_drains()

    async def drain(self) -> None:
        """Wait until every item added so far has been written."""
        if self._busy or self._queue:
            drained = asyncio.get_running_loop().create_future()
            self._drained.append(drained)
            await drained

    async def _write_batch(self, batch: list[T]) -> None:
        self._busy += 1
        try:
            await self._write(batch)
        except Exception:
            logger.exception("relayq: a batched write failed; %d items dropped", len(batch))
        finally:
            self._busy -= 1
            self._settle_drains()

    def _settle_drains(self) -> None:
        if not self._busy and not self._queue and self._drained:
            drained, self._drained = self._drained, []
            for fut in drained:
                if not fut.done():
                    fut.set_result(None)

    async def _write_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            batch = self._queue[: self._max]
            del self._queue[: self._max]
            await self._write_batch(batch)
