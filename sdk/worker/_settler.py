"""Writing settlements to Redis in batches (group commit).

The first settlement goes out at once; those that arrive while a write is in
flight are sent together in the next ``finish.lua`` call, so under load one
round trip acknowledges, stores and publishes many tasks, and when idle a single
task pays no extra wait. A write that fails because Redis is away is retried
with capped backoff until it lands: a settled task is never dropped (the
fencing in ``finish.lua`` makes a repeated write harmless).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, Final

from redis.asyncio import Redis

from .._keys import GROUP, Keys
from .._redis import FINISH, is_unavailable
from ._executor import Settlement

__all__ = ["Settler"]

logger = logging.getLogger("relayq.worker")

_MAX_BATCH: Final = 500
#: Entries kept in the dead-letter stream (approximately; oldest are trimmed).
DEAD_LETTER_CAP: Final = 10_000
_BACKOFF_MIN_S: Final = 0.05
_BACKOFF_MAX_S: Final = 5.0


class Settler:
    """Batches settlements into ``finish.lua`` calls.

    :param on_settled: called for each delivery once its settlement is written
        (applied or fenced out), to free its slot.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        streams: list[str],
        on_settled: Callable[[Settlement, bool], None],
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._streams = streams
        self._on_settled = on_settled
        self._loop = asyncio.get_running_loop()
        self._pending: list[Settlement] = []
        self._writer: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, settlement: Settlement) -> None:
        """Queue a settlement for the next write."""
        self._pending.append(settlement)
        self._idle.clear()
        if self._writer is None or self._writer.done():
            self._writer = self._loop.create_task(self._write_all())

    async def drain(self) -> None:
        """Wait until every queued settlement has been written."""
        await self._idle.wait()

    async def _write_all(self) -> None:
        delay = _BACKOFF_MIN_S
        outage = False
        while self._pending:
            batch = self._pending[:_MAX_BATCH]
            del self._pending[:_MAX_BATCH]
            try:
                applied = await self._write(batch)
            except Exception as exc:
                self._pending[:0] = batch
                if not outage:
                    if is_unavailable(exc):
                        logger.warning(
                            "cannot store outcomes, Redis unavailable (%s); retrying", exc
                        )
                    else:
                        logger.exception("storing outcomes failed; retrying")
                outage = True
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            if outage:
                logger.warning("Redis is back; outcomes stored")
                outage, delay = False, _BACKOFF_MIN_S
            for settlement, ok in zip(batch, applied, strict=True):
                if not ok:
                    d = settlement.delivery
                    logger.warning(
                        "task %s[%s] try %d: outcome discarded, another worker holds the task "
                        "now (this worker's lease lapsed) or it was aborted",
                        d.fn_name,
                        d.task_id,
                        d.tries,
                    )
                self._on_settled(settlement, bool(ok))
        self._idle.set()

    async def _write(self, batch: list[Settlement]) -> list[int]:
        k = self._keys
        keys: list[Any] = [k.tasks, k.tries, k.running, k.delayed, k.wake, k.aborting, k.dead]
        keys += (k.prio, *self._streams)
        argv: list[Any] = [GROUP, len(batch), DEAD_LETTER_CAP, len(self._streams)]
        for s in batch:
            d = s.delivery
            # ids as Redis holds them: one that is not UTF-8 is surrogate-escaped
            keys.append(k.result(d.task_id).encode("utf-8", "surrogateescape"))
            argv += (d.stream_index, d.entry_id, d.raw_id, d.tries, s.action, s.data)
            argv += (s.ttl_ms, k.channel(d.task_id).encode("utf-8", "surrogateescape"))
            argv += (s.reason, d.reply_to)
        result: list[int] = await FINISH(self._redis, keys, argv)
        return result
