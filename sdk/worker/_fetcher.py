"""Taking tasks from Redis: one ``fetch.lua`` call per batch, and an idle wait
that reacts to new work at once without polling.

A fetch also promotes due scheduled tasks and, every ``reclaim_s``, reclaims
the deliveries of other workers whose lease lapsed, walking each stream's
pending list from a cursor so that none is out of reach. When there is nothing
to take, the worker blocks on ``XREAD`` of the streams and the wake stream
until something new arrives, the next scheduled task is due, or it is time to
look for lapsed leases again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis

from .._aio import Backoff, Supervisor
from .._keys import Keys
from .._redact import redact_text
from .._redis import command, is_unavailable
from .._scripts import Fetched, Scripts
from .._time import now_ms
from ._delivery import Delivery, LeaseConfig
from ._dispatch import Dispatcher
from ._housekeeping import Housekeeping

__all__ = ["Fetcher"]

logger = logging.getLogger("relayq.worker")

_MOVE_LIMIT: Final = 1000  # scheduled tasks promoted per fetch call (bounds the script)
_IDLE_BLOCK_MS: Final = 5000  # longest XREAD block; also bounds how stale `next_due` gets


def _discard_outcome(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


class Fetcher:
    """The fetch loop of one worker: takes deliveries while the dispatcher has room."""

    def __init__(
        self,
        *,
        redis: Redis,
        scripts: Scripts,
        keys: Keys,
        priorities: Sequence[str],
        consumer: str,
        lease: LeaseConfig,
        dispatcher: Dispatcher,
        housekeeping: Housekeeping,
        supervisor: Supervisor,
        burst: bool,
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._priorities = list(priorities)
        self._streams = [keys.stream_for(p) for p in priorities]
        self._wake = keys.wake
        self._consumer = consumer
        self._lease = lease
        self._dispatcher = dispatcher
        self._housekeeping = housekeeping
        self._supervisor = supervisor
        self._burst = burst
        self._cursors: Sequence[str] = ["-"] * len(self._priorities)
        self._stopping = False
        # resolved by stop(); a future (not an Event) so an idle wait can include it
        # in asyncio.wait without a task per wait
        self._stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._block: asyncio.Task[Any] | None = None

    def stop(self) -> None:
        """Stop fetching; :meth:`run` returns soon after."""
        self._stopping = True
        if not self._stopped.done():
            self._stopped.set_result(None)
        if self._block is not None:
            self._block.cancel()

    async def run(self) -> None:
        """Fetch until :meth:`stop` (or, in burst mode, until the queue is drained)."""
        next_reclaim = 0.0
        backoff = Backoff()
        dispatcher = self._dispatcher
        while not self._stopping:
            room = dispatcher.room()
            if room <= 0:
                await dispatcher.wait_for_room()
                continue
            now = time.monotonic()
            reclaim = now >= next_reclaim
            if reclaim:
                next_reclaim = now + self._lease.reclaim_s
            try:
                fetched = await self._fetch(room, reclaim)
            except Exception as exc:
                await self._recover(exc, backoff)
                next_reclaim = 0.0
                continue
            if backoff.recovered():
                logger.warning("Redis is back; fetching again")
            if fetched.deliveries:
                dispatcher.take(fetched.deliveries)
            if not fetched.last_ids:
                continue  # more may be ready: the room was full, or stale entries used up the call
            if self._burst:
                if not await self._burst_goes_on(fetched.next_due_ms):
                    return
            else:
                # nothing more is ready: wait for something new (not another fetch,
                # which would find nothing; one call per task saved)
                await self._wait_for_work(fetched.last_ids, fetched.next_due_ms, next_reclaim)

    async def _fetch(self, room: int, reclaim: bool) -> Fetched[Delivery]:
        fetched = await self._scripts.fetch(
            Delivery,
            consumer=self._consumer,
            count=room,
            now_ms=now_ms(),
            move_limit=_MOVE_LIMIT,
            reclaim_ms=int(self._lease.lease_s * 1000) if reclaim else 0,
            priorities=self._priorities,
            cursors=self._cursors,
        )
        self._cursors = fetched.cursors
        return fetched

    async def _burst_goes_on(self, next_due_ms: int) -> bool:
        """In burst mode, with nothing to take: whether to go on (tasks held, or due)."""
        dispatcher = self._dispatcher
        if not dispatcher.held and not 0 <= next_due_ms <= now_ms():
            return False
        if dispatcher.held:
            await dispatcher.wait_for_room()
        return True

    async def _recover(self, exc: Exception, backoff: Backoff) -> None:
        """Handle a failed fetch: recreate a vanished group, or back off."""
        if "NOGROUP" in str(exc):
            logger.warning("consumer group of %s vanished; recreating it", self._streams)
            try:
                await self._housekeeping.ensure_groups()
                return
            except Exception as again:
                exc = again
        if not backoff.outage:
            if is_unavailable(exc):
                logger.warning(
                    "cannot fetch tasks (%s); retrying with backoff", redact_text(str(exc))
                )
            else:
                logger.error("unexpected fetch failure; retrying with backoff", exc_info=exc)
        await backoff.retry()

    async def _wait_for_work(
        self, last_ids: list[bytes], next_due: int, next_reclaim: float
    ) -> None:
        block_ms = min(_IDLE_BLOCK_MS, int((next_reclaim - time.monotonic()) * 1000))
        if next_due >= 0:
            block_ms = min(block_ms, next_due - now_ms())
        if block_ms <= 0 or self._stopping:
            return
        streams = (*self._streams, self._wake)
        # awaited below, or left to finish with the connection pool when stop() wins
        self._block = self._supervisor.spawn(
            command(self._redis, "XREAD", "BLOCK", block_ms, "STREAMS", *streams, *last_ids),
            report=False,
        )
        try:
            # asyncio.wait: stop() cancels the read, which must not cancel us. The cancel
            # alone is not enough: on Python 3.11 redis-py's socket-timeout wait_for can
            # swallow it (CPython gh-86296) and leave the read blocked for block_ms.
            # The local timeout: Redis checks BLOCK timeouts only every 100 ms (hz 10),
            # so a due task would otherwise start up to 100 ms late.
            await asyncio.wait(
                (self._block, self._stopped),
                timeout=block_ms / 1000,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            block, self._block = self._block, None
        if not block.done():
            block.add_done_callback(_discard_outcome)
        elif not block.cancelled() and block.exception() is not None:
            await asyncio.sleep(0.05)  # the next fetch reports the outage
