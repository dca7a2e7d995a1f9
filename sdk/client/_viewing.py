"""Watching a task live: its progress reports, or a streaming task's items.

A viewer listens on its client's inbox like a waiter (see :mod:`._waiting`),
and ``view.lua`` makes it a viewer of the task: in one atomic step the task
gets the client's route for progress, items and outcome, and what the task
reported before comes back. A late viewer therefore starts from the last
progress report, or from the first item, and misses nothing after it.

Items carry their place (``<try>-<seq>``), so the consumer knows what it has
seen: a repeat is skipped, and a hole (messages missed while the pub/sub
connection was down) is read back from the items stream. After the listener
reconnects, the viewer attaches again from where it is. The stream of a try
ends with the task's outcome, which says how many items the try yielded: what
the consumer has not seen by then is read back too, or it is gone for good
(:class:`StreamGap`). A new try restarts the stream; a consumer that had items
of an earlier one gets :class:`StreamRestarted`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Final

from .._codec import Deserializer
from .._live import (
    KIND_ITEMS,
    KIND_PROGRESS,
    ItemBatch,
    decode_batch,
    decode_progress,
    item_entry_id,
    open_item,
    parse_entry_id,
)
from .._models import Progress, TaskOutcome
from .._scripts import ViewReply
from .._signing import Signer
from ..errors import SerializationError, StreamGap, StreamRestarted, TaskNotFound
from ._listener import ResultListener
from ._subscription import Waiter

__all__ = ["View"]

logger = logging.getLogger("relayq.client")

# items read back per view.lua call
_PAGE: Final = 1000
_LIVE: Final = 1
_FINISHED: Final = 2


class _Missed(Exception):
    """An item arrived before one that should precede it."""


class _Cursor:
    """Where a consumer is in a task's items: the try it follows and the next item."""

    __slots__ = ("next_seq", "task_id", "tries", "yielded")

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.tries = 0  # 0: none seen yet
        self.next_seq = 1
        self.yielded = False

    @property
    def after(self) -> str:
        """The items stream entry after which unseen items start."""
        return "-" if self.tries == 0 else item_entry_id(self.tries, self.next_seq - 1)

    def follow(self, tries: int) -> None:
        """A later try started the stream again."""
        if tries > self.tries:
            if self.yielded:
                raise StreamRestarted(self.task_id, tries)
            self.tries, self.next_seq = tries, 1

    def accept(self, tries: int, seq: int) -> bool:
        """Whether item ``seq`` of ``tries`` is the next one (``seq`` 0: a restart mark).

        :raises _Missed: it comes after an item not seen yet.
        :raises StreamRestarted: it is of a later try, and items were seen already.
        """
        if tries < self.tries:
            return False  # an abandoned try
        self.follow(tries)
        if seq == 0 or seq < self.next_seq:
            return False
        if seq > self.next_seq:
            raise _Missed
        self.next_seq += 1
        self.yielded = True
        return True


class View:
    """One caller watching one task live (use with ``async with``).

    :param read: ``view.lua`` for this task and client: ``read(after, count)``.
    :param decode: turns a stored or published outcome into a :class:`TaskOutcome`.
    :ivar outcome: once :meth:`items` ended, the task's outcome (its value the
        number of items the last try yielded).
    """

    __slots__ = (
        "_decode",
        "_deserializer",
        "_inbox",
        "_listener",
        "_read",
        "_signer",
        "_waiter",
        "outcome",
        "task_id",
    )

    def __init__(
        self,
        listener: ResultListener,
        inbox: str,
        task_id: str,
        read: Callable[[str, int], Awaitable[ViewReply]],
        decode: Callable[[str, bytes], TaskOutcome[Any]],
        signer: Signer | None,
        deserializer: Deserializer,
    ) -> None:
        self._listener = listener
        self._inbox = inbox
        self.task_id: str = task_id
        self._read = read
        self._decode = decode
        self._signer = signer
        self._deserializer = deserializer
        self._waiter: Waiter | None = None
        self.outcome: TaskOutcome[Any] | None = None

    async def __aenter__(self) -> View:
        self._waiter = self._listener.expect(self._inbox, self.task_id, live=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._waiter is not None:
            self._listener.forget(self._inbox, self.task_id, self._waiter)

    @property
    def _w(self) -> Waiter:
        if self._waiter is None:
            raise RuntimeError("use `async with` around a View")
        return self._waiter

    async def subscribed(self) -> None:
        """Wait until the inbox is subscribed on the listener's current connection."""
        waiter = self._w
        while not waiter.ready:
            if waiter.error is not None:
                raise waiter.error
            await waiter.changed()

    # -- progress ------------------------------------------------------------------

    async def progress(self) -> AsyncIterator[Progress]:
        """The task's progress reports: the last one so far first, then each new one;
        ends when the task ends.

        :raises TaskNotFound: the task is nowhere.
        """
        waiter = self._w
        last: Progress | None = None
        attached = False
        while True:
            if _lost_track(waiter):
                attached = False  # reconnected, or fell behind: read the last report again
                await self.subscribed()
                continue
            if not attached:
                attached = True
                reply = await self._read("", 0)
                if reply.state != _LIVE:
                    if reply.state == _FINISHED:
                        return
                    raise TaskNotFound(self.task_id)
                reports = [reply.progress] if reply.progress else []
            else:
                reports = [body for kind, body in _drain(waiter) if kind == KIND_PROGRESS]
            for report in reports:
                p = self._progress(report)
                if p is not None and (last is None or (p != last and p.time >= last.time)):
                    last = p
                    yield p
            if waiter.message is not None and not waiter.live:
                return  # the task ended
            if not reports:
                await waiter.changed()

    def _progress(self, report: bytes) -> Progress | None:
        try:
            return decode_progress(self._signer, self.task_id, report)
        except SerializationError as exc:
            logger.warning("task %s: ignored an unreadable progress report: %s", self.task_id, exc)
            return None

    # -- items ---------------------------------------------------------------------

    async def items(self) -> AsyncIterator[Any]:
        """The items of a streaming task, in order, none twice; ends when the task
        ended (see :attr:`outcome`; a failure is not raised here).

        :raises TaskNotFound: the task is nowhere.
        :raises StreamRestarted: a new try started after items of an earlier one.
        :raises StreamGap: items are gone before they could be read.
        """
        waiter = self._w
        cursor = _Cursor(self.task_id)
        attached = False
        ended: bytes | None = None
        while ended is None:
            if _lost_track(waiter):
                attached = False  # reconnected, or fell behind: read back what was missed
                await self.subscribed()
                continue
            if not attached:
                attached = True
                values, ended = await self._catch_up(cursor, must_exist=True)
            elif waiter.live:
                values = await self._batches(cursor, _drain(waiter))
            elif waiter.message is not None:
                ended, values = waiter.message, []
            else:
                await waiter.changed()
                continue
            for value in values:
                yield value
        outcome = self.outcome = self._decode(self.task_id, ended)
        if outcome.success:
            for value in await self._complete(cursor, outcome):
                yield value

    async def _catch_up(
        self, cursor: _Cursor, *, must_exist: bool
    ) -> tuple[list[Any], bytes | None]:
        """Read the items after the cursor from Redis (attaching as a viewer);
        the new values, and the outcome if the task finished."""
        values: list[Any] = []
        while True:
            reply = await self._read(cursor.after, _PAGE)
            if reply.state != _LIVE and reply.state != _FINISHED and must_exist:
                raise TaskNotFound(self.task_id)
            for entry_id, data in reply.items:
                tries, seq = parse_entry_id(entry_id)
                try:
                    if cursor.accept(tries, seq):
                        values.append(self._item(tries, seq, data))
                except _Missed:
                    raise StreamGap(self.task_id, cursor.next_seq) from None
            if len(reply.items) < _PAGE:
                return values, reply.outcome if reply.state == _FINISHED else None

    async def _batches(self, cursor: _Cursor, messages: list[tuple[str, bytes]]) -> list[Any]:
        values: list[Any] = []
        for kind, body in messages:
            if kind == KIND_ITEMS:
                values += await self._batch(cursor, decode_batch(body))
        return values

    async def _batch(self, cursor: _Cursor, batch: ItemBatch) -> list[Any]:
        values: list[Any] = []
        if batch.first_seq == 0:
            cursor.follow(batch.tries)
        first = max(batch.first_seq, 1)
        for k, data in enumerate(batch.items):
            seq = first + k
            try:
                accepted = cursor.accept(batch.tries, seq)
            except _Missed:  # messages were missed: the stream has them
                values += (await self._catch_up(cursor, must_exist=False))[0]
                try:
                    accepted = cursor.accept(batch.tries, seq)
                except _Missed:
                    raise StreamGap(self.task_id, cursor.next_seq) from None
            if accepted:
                values.append(self._item(batch.tries, seq, data))
        return values

    async def _complete(self, cursor: _Cursor, outcome: TaskOutcome[Any]) -> list[Any]:
        """The items of the finished try that were not seen yet (read back)."""
        count = outcome.value if isinstance(outcome.value, int) else 0
        cursor.follow(outcome.tries)
        if cursor.tries == outcome.tries and cursor.next_seq > count:
            return []
        values, _ = await self._catch_up(cursor, must_exist=False)
        if cursor.tries != outcome.tries or cursor.next_seq <= count:
            raise StreamGap(self.task_id, cursor.next_seq)
        return values

    def _item(self, tries: int, seq: int, data: bytes) -> Any:
        try:
            return self._deserializer(open_item(self._signer, self.task_id, tries, seq, data))
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"cannot deserialize item {seq} of task {self.task_id}: {exc}"
            ) from exc


def _lost_track(waiter: Waiter) -> bool:
    """Whether messages may have been missed (reconnected, or dropped for falling
    behind), so what the task reported must be read back from Redis."""
    if waiter.overflowed:
        waiter.overflowed = False
        return True
    return not waiter.ready or waiter.error is not None


def _drain(waiter: Waiter) -> list[tuple[str, bytes]]:
    """Take every live message routed to the waiter so far."""
    live = waiter.live
    if not live:
        return []
    messages = list(live)
    live.clear()
    return messages
