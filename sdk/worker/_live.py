"""What a running task reports while it runs: progress, and a streaming task's items.

One :class:`LiveRun` per delivery. Progress is coalesced: at most one write per
:data:`PROGRESS_INTERVAL_S`, always of the latest value, so a task calling
``ctx.progress`` in a tight loop costs Redis a few writes a second. Items are
written as they come, without waiting: the first item goes out at once, and
while a write is in flight the next items gather into one batch, so a fast
generator sends few large writes and a slow one sends each item with one round
trip of latency. A generator far ahead of Redis waits (:data:`MAX_BUFFERED`).

Every write is fenced by the delivery's token (``live.lua``): a worker whose
lease lapsed cannot write into a later try.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

from .._aio import Supervisor, stop_task
from .._codec import Serializer
from .._envelope import DEFAULT_TTL_MS
from .._live import check_progress, encode_batch, encode_progress, seal_item
from .._redact import redact_text
from .._scripts import Scripts
from .._signing import Signer
from .._time import now_ms
from ..errors import RelayqError, SerializationError
from ._delivery import Delivery

__all__ = ["MAX_BUFFERED", "PROGRESS_INTERVAL_S", "ItemSink", "LiveRun", "StreamOptions"]

logger = logging.getLogger("relayq.worker")

#: Progress is written at most this often per task (the latest value wins).
PROGRESS_INTERVAL_S: Final = 0.1
#: Items a streaming task may be ahead of Redis before its ``yield`` waits.
MAX_BUFFERED: Final = 1000
# a generator that never awaits still lets the writer run this often, so its items
# go out in batches of about this size rather than of MAX_BUFFERED
_YIELD_EVERY: Final = 64


class LeaseLost(RelayqError):
    """The delivery is no longer the task's current one: its items are not written."""


class StreamOptions:
    """How a delivery's items are encoded and kept.

    :param keep_ms: how long the items stream is kept after its last write.
    :param max_items: most items the stream keeps (the oldest are trimmed).
    :param max_item_bytes: an item that encodes larger fails the task.
    """

    __slots__ = ("keep_ms", "max_item_bytes", "max_items", "serializer")

    def __init__(
        self,
        serializer: Serializer,
        ttl_ms: int,
        max_items: int,
        max_item_bytes: int,
    ) -> None:
        self.serializer = serializer
        # kept as long as the outcome, and never less than the default while the
        # task runs (a slow stream must not lose its first items to a short ttl)
        self.keep_ms = -1 if ttl_ms < 0 else max(ttl_ms, DEFAULT_TTL_MS)
        self.max_items = max_items
        self.max_item_bytes = max_item_bytes


class ItemSink:
    """The items of one delivery of a streaming task, on their way to Redis."""

    __slots__ = (
        "_buffer",
        "_d",
        "_error",
        "_flusher",
        "_options",
        "_restart",
        "_scripts",
        "_seq",
        "_signer",
        "_supervisor",
        "_written_seq",
    )

    def __init__(
        self,
        scripts: Scripts,
        supervisor: Supervisor,
        d: Delivery,
        signer: Signer | None,
        options: StreamOptions,
    ) -> None:
        self._scripts = scripts
        self._supervisor = supervisor
        self._d = d
        self._signer = signer
        self._options = options
        self._buffer: list[bytes] = []
        self._seq = 1  # the seq of the next item
        self._written_seq = 1  # the seq of the first item not written yet
        self._error: BaseException | None = None
        self._flusher: asyncio.Task[None] | None = None
        # a later try starts the stream again, visibly: a restart mark is its first write
        self._restart = d.tries > 1
        if self._restart:
            self._flusher = supervisor.spawn(self._flush(), report=False)

    async def emit(self, value: Any) -> None:
        """Add one item the task yielded; written soon, without waiting for it.

        :raises SerializationError: the item cannot be serialized, or is too large.
        :raises RelayqError: an earlier write failed (the task fails with it).
        """
        if self._error is not None:
            raise self._error
        d, seq, options = self._d, self._seq, self._options
        try:
            data = options.serializer(value)
        except Exception as exc:
            raise SerializationError(
                f"cannot serialize item {seq} of task {d.fn_name!r}: {exc}"
            ) from exc
        if isinstance(data, str):
            data = data.encode()
        if len(data) > options.max_item_bytes:
            raise SerializationError(
                f"item {seq} of task {d.fn_name!r} encodes to {len(data)} bytes, over the "
                f"max_payload_bytes limit of {options.max_item_bytes}"
            )
        self._buffer.append(seal_item(self._signer, d.task_id, d.tries, seq, data))
        self._seq = seq + 1
        if self._flusher is None or self._flusher.done():
            self._flusher = self._supervisor.spawn(self._flush(), report=False)
            await asyncio.sleep(0)  # let it send at once, also for a generator that never awaits
        elif len(self._buffer) >= MAX_BUFFERED:
            await asyncio.shield(self._flusher)  # a generator far ahead waits for Redis
        elif len(self._buffer) % _YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let a write that came back start the next batch

    async def _flush(self) -> None:
        d, options = self._d, self._options
        try:
            while self._buffer or self._restart:
                batch, self._buffer = self._buffer, []
                first = 0 if self._restart else self._written_seq
                written = await self._scripts.items(
                    d,
                    batch,
                    first_seq=first,
                    message=encode_batch(d.tries, first, batch),
                    keep_ms=options.keep_ms,
                    max_items=options.max_items,
                )
                if not written:
                    raise LeaseLost(f"task {d.task_id}: the delivery is no longer current")
                self._restart = False
                self._written_seq += len(batch)
        except Exception as exc:
            self._error = exc

    async def close(self) -> None:
        """Wait until every item is written.

        :raises Exception: a write failed (the task fails with it).
        """
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Write nothing more."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()


class LiveRun:
    """Progress and (a streaming task) items of one delivery; :meth:`close` it when
    its run ended, :meth:`cancel` it when the run was cancelled."""

    __slots__ = (
        "_closing",
        "_d",
        "_last_progress",
        "_pending",
        "_progress_task",
        "_scripts",
        "_signer",
        "_sleeping",
        "_supervisor",
        "items",
    )

    def __init__(
        self,
        scripts: Scripts,
        supervisor: Supervisor,
        d: Delivery,
        signer: Signer | None,
        items: ItemSink | None,
    ) -> None:
        self._scripts = scripts
        self._supervisor = supervisor
        self._d = d
        self._signer = signer
        #: Where a streaming task's items go (``None`` for other tasks).
        self.items = items
        self._pending: bytes | None = None
        self._last_progress = 0.0
        self._progress_task: asyncio.Task[None] | None = None
        self._sleeping = False
        self._closing = False

    async def progress(self, fraction: float, message: str | None) -> None:
        """Report progress; written now, or with the next write if one was recent."""
        value = check_progress(fraction, message)
        d = self._d
        self._pending = encode_progress(self._signer, d.task_id, value, message, now_ms())
        if self._progress_task is not None:
            return  # the deferred write takes the latest value
        wait = self._last_progress + PROGRESS_INTERVAL_S - time.monotonic()
        if wait <= 0:
            await self._write_progress()
        else:
            self._progress_task = self._supervisor.spawn(self._write_later(wait), report=False)

    async def _write_later(self, wait: float) -> None:
        try:
            while True:
                self._sleeping = True
                try:
                    await asyncio.sleep(wait)
                finally:
                    self._sleeping = False
                await self._write_progress()
                if self._pending is None or self._closing:
                    return  # (close() writes what came in meanwhile)
                wait = PROGRESS_INTERVAL_S
        finally:
            self._progress_task = None

    async def _write_progress(self) -> None:
        report, self._pending = self._pending, None
        if report is None:
            return
        self._last_progress = time.monotonic()
        try:
            await self._scripts.progress(self._d, report)
        except Exception as exc:  # progress is advisory: the task carries on without it
            logger.warning(
                "task %s[%s]: progress not written: %s",
                self._d.fn_name,
                self._d.task_id,
                redact_text(str(exc)),
            )

    @property
    def idle(self) -> bool:
        """Nothing to write or wait for (the usual task: no progress, no items), so
        :meth:`close` may be skipped on the hot path."""
        return self._pending is None and self._progress_task is None and self.items is None

    async def close(self) -> None:
        """Write what is pending (the last progress, items not written yet).

        :raises Exception: a write of items failed (the task fails with it).
        """
        self._closing = True
        task = self._progress_task
        if task is not None:
            if self._sleeping:  # not due yet: the run is over, so it is due now
                await stop_task(task)
            else:
                await asyncio.shield(task)
        if self._pending is not None:
            await self._write_progress()
        if self.items is not None:
            await self.items.close()

    def cancel(self) -> None:
        """The run was cancelled (aborted, lease lost, shutdown): write nothing more."""
        if self._progress_task is not None and not self._progress_task.done():
            self._progress_task.cancel()
        if self.items is not None:
            self.items.cancel()
