"""Taking tasks from Redis and keeping them: fetch, dispatch, leases, hand-back.

A worker holds a lease on every delivery it has taken, prefetched or running:
its consumer-group pending entry, whose idle time it resets every third of the
lease. Entries whose idle time passes the lease (their worker died or stalled)
are reclaimed by whichever worker fetches next, and the try counter that
``fetch.lua`` bumps on every delivery fences the old holder out.

Fetching is one Lua call that also promotes due scheduled tasks and, every
``reclaim_interval``, reclaims lapsed leases. When there is nothing to take the
worker blocks on ``XREAD`` of the stream and the wake stream, so it reacts to a
new task or a new schedule at once without polling.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from redis import exceptions as rexc
from redis.asyncio import Redis

from .. import _wire
from .._aio import stop_task
from .._keys import GROUP, Keys
from .._redis import FETCH, RELEASE, RENEW, command, is_unavailable
from ..client._listener import ResultListener
from ._delivery import Delivery, LeaseConfig, Stats
from ._executor import ACTION_RETRY, Executor, Settlement
from ._settler import Settler

__all__ = ["Consumer"]

logger = logging.getLogger("relayq.worker")

_MOVE_LIMIT: Final = 1000  # scheduled tasks promoted per fetch call (bounds the script)
_IDLE_BLOCK_MS: Final = 5000  # longest XREAD block; also bounds how stale `next_due` gets
_RENEW_CHUNK: Final = 500
_BACKOFF_MIN_S: Final = 0.05
_BACKOFF_MAX_S: Final = 5.0


def _discard_outcome(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


def _priority_name(keys: Keys, stream: str) -> str:
    # inverse of Keys.stream_for, for the promotion step of fetch.lua
    return "default" if stream == keys.stream else stream[len(keys.stream) + 1 :]


class Consumer:
    """The engine of one worker process: owns its deliveries from fetch to settlement."""

    def __init__(
        self,
        *,
        redis: Redis,
        keys: Keys,
        streams: list[str],
        default_stream: int,
        listener: ResultListener,
        consumer: str,
        executor: Executor,
        concurrency: int,
        fetch_limit: int,
        lease: LeaseConfig,
        grace_s: float,
        burst: bool,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._streams = streams
        self._default_stream = default_stream
        self._names = [_priority_name(keys, s) for s in streams]
        self._listener = listener
        self._consumer = consumer
        self._executor = executor
        self._concurrency = concurrency
        self._fetch_limit = fetch_limit
        self._lease = lease
        self._grace_s = grace_s
        self._burst = burst
        self.held: dict[bytes, Delivery] = {}
        self._ready: deque[Delivery] = deque()
        self._running = 0
        self._settling = 0  # executed, outcome not yet written
        # cached: get_running_loop() costs a getpid() system call per call on 3.11
        self._loop = asyncio.get_running_loop()
        self._room = asyncio.Event()
        self._stopping = False
        # resolved by stop(); a future (not an Event) so an idle wait can include it
        # in asyncio.wait without a task per wait
        self._stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._block: asyncio.Task[Any] | None = None
        self._settler = Settler(redis, keys, streams, self._settled)
        self.stats = Stats()

    @property
    def running(self) -> int:
        """Tasks executing right now."""
        return self._running

    def stop(self) -> None:
        """Stop fetching; :meth:`run` then hands back what it holds and returns."""
        self._stopping = True
        if not self._stopped.done():
            self._stopped.set_result(None)
        self._room.set()
        if self._block is not None:
            self._block.cancel()

    def force(self) -> None:
        """Cancel running tasks now instead of waiting for the grace period."""
        self.stop()
        self._grace_s = 0.0
        for d in self.held.values():
            if d.task is not None and not d.task.done():
                d.task.cancel()

    async def run(self, on_ready: Callable[[], None]) -> None:
        """Consume until :meth:`stop` (or, in burst mode, until the queue is drained)."""
        await self.ensure_group()
        renewer = asyncio.get_running_loop().create_task(self._renew_forever())
        unlisten = self._listener.listen(self._keys.control, self._on_control)
        on_ready()
        try:
            await self._fetch_forever()
        finally:
            self._stopping = True
            try:
                await self._shutdown()
            finally:
                unlisten()
                await stop_task(renewer)

    async def ensure_group(self) -> None:
        """Create the consumer group (and the streams) if they do not exist yet."""
        for stream in self._streams:
            try:
                await command(self._redis, "XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM")
            except rexc.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # -- fetching ------------------------------------------------------------------

    async def _fetch_forever(self) -> None:
        k = self._keys
        keys = (k.tasks, k.tries, k.running, k.delayed, k.wake, k.aborting, k.prio, *self._streams)
        next_reclaim = 0.0
        backoff = _BACKOFF_MIN_S
        outage = False
        while not self._stopping:
            # deliveries that only wait for their outcome to be written do not take
            # room (up to the limit again): the next fetch overlaps that write
            # instead of alternating with it
            settling = min(self._settling, self._fetch_limit)
            room = self._fetch_limit - len(self.held) + settling
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            now = time.monotonic()
            reclaim_ms = 0
            if now >= next_reclaim:
                next_reclaim = now + self._lease.reclaim_s
                reclaim_ms = int(self._lease.lease_s * 1000)
            argv = (
                GROUP,
                self._consumer,
                room,
                _wire.now_ms(),
                _MOVE_LIMIT,
                reclaim_ms,
                room,
                self._default_stream,
                *self._names,
            )
            try:
                entries, next_due, last_ids = await FETCH(self._redis, keys, argv)
            except Exception as exc:
                if await self._recover_fetch(exc, outage, backoff):
                    outage = True
                    backoff = min(backoff * 2, _BACKOFF_MAX_S)
                next_reclaim = 0.0
                continue
            if outage:
                logger.warning("Redis is back; fetching again")
                outage, backoff = False, _BACKOFF_MIN_S
            if entries:
                self._take(entries)
                continue
            if self._burst:
                if not self.held and (next_due < 0 or next_due > _wire.now_ms()):
                    return
                if self.held:
                    self._room.clear()
                    await self._room.wait()
                continue
            await self._wait_for_work(last_ids, next_due, next_reclaim)

    async def _recover_fetch(self, exc: Exception, outage: bool, backoff: float) -> bool:
        """Handle a failed fetch; returns whether it counts as (part of) an outage."""
        if isinstance(exc, rexc.ResponseError) and "NOGROUP" in str(exc):
            logger.warning("consumer group of %s vanished; recreating it", self._streams)
            await self._try(self.ensure_group)
            return False
        if not outage:
            if is_unavailable(exc):
                logger.warning("cannot fetch tasks (%s); retrying with backoff", exc)
            else:
                logger.exception("unexpected fetch failure; retrying with backoff")
        await asyncio.sleep(backoff * (0.5 + random.random()))
        return True

    def _take(self, entries: list[Any]) -> None:
        for i in range(0, len(entries), 6):
            d = Delivery(
                entries[i],
                entries[i + 1],
                entries[i + 2],
                entries[i + 3],
                entries[i + 4],
                entries[i + 5],
            )
            self.held[d.entry_id] = d
            self._ready.append(d)
        self._dispatch()

    def _on_control(self, message: bytes) -> None:
        # the only control message so far: the id of a task to abort
        self.abort(message.decode())

    def abort(self, task_id: str) -> None:
        """Abort a held task: cancel it if running, settle it as aborted if not started."""
        for d in self.held.values():
            if d.task_id == task_id and not d.aborted:
                d.aborted = True
                if d.task is not None and not d.task.done():
                    d.task.cancel()
                elif d.task is None and d in self._ready:
                    # prefetched, not started: settle now, not when a slot frees up
                    self._ready.remove(d)
                    self._settle(self._executor.aborted(d, 0))
                return

    async def _wait_for_work(
        self, last_ids: list[bytes], next_due: int, next_reclaim: float
    ) -> None:
        block_ms = min(_IDLE_BLOCK_MS, int((next_reclaim - time.monotonic()) * 1000))
        if next_due >= 0:
            block_ms = min(block_ms, int(next_due) - _wire.now_ms())
        if block_ms <= 0 or self._stopping:
            return
        k = self._keys
        streams = (*self._streams, k.wake)
        self._block = asyncio.get_running_loop().create_task(
            command(self._redis, "XREAD", "BLOCK", block_ms, "STREAMS", *streams, *last_ids)
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
            block.add_done_callback(_discard_outcome)  # ends with the connection pool
        elif not block.cancelled() and block.exception() is not None:
            await asyncio.sleep(_BACKOFF_MIN_S)  # the next fetch reports the outage

    async def _try(self, fn: Callable[[], Any]) -> None:
        try:
            await fn()
        except Exception as exc:
            logger.warning("%s failed: %s", getattr(fn, "__name__", fn), exc)

    # -- running -------------------------------------------------------------------

    def _dispatch(self) -> None:
        loop = self._loop
        while self._ready and self._running < self._concurrency and not self._stopping:
            d = self._ready.popleft()
            if d.lost:
                self.held.pop(d.entry_id, None)
                continue
            if d.aborted:
                self._settle(self._executor.aborted(d, 0))
                continue
            self._running += 1
            d.task = loop.create_task(self._execute(d))

    async def _execute(self, d: Delivery) -> None:
        try:
            settlement = await self._executor.execute(d)
        except asyncio.CancelledError:
            self._running -= 1
            if not d.aborted:
                raise  # cancelled at shutdown after the grace period: handed back by _shutdown
            settlement = self._executor.aborted(d, 0)
        except Exception as exc:
            # execute() turns every failure of the task into a settlement; reaching
            # here is a bug (or a hostile serializer), and the task must still end
            self._running -= 1
            logger.exception("internal error running task %s[%s]", d.fn_name, d.task_id)
            settlement = self._executor.internal_error(d, exc)
        else:
            self._running -= 1
        self._settle(settlement)
        self._dispatch()

    def _settle(self, settlement: Settlement) -> None:
        self._settling += 1
        self._settler.add(settlement)
        self._room.set()

    def _settled(self, settlement: Settlement, applied: bool) -> None:
        d = settlement.delivery
        if not applied:
            self.stats.fenced += 1
        elif settlement.action == ACTION_RETRY:
            self.stats.retried += 1
        elif settlement.success:
            self.stats.done += 1
        else:
            self.stats.failed += 1
        self._settling -= 1
        self.held.pop(d.entry_id, None)
        self._room.set()

    # -- leases --------------------------------------------------------------------

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease.renew_s)
            held = list(self.held.values())
            for lo in range(0, len(held), _RENEW_CHUNK):
                argv: list[Any] = [GROUP, self._consumer]
                for d in held[lo : lo + _RENEW_CHUNK]:
                    argv += (d.stream_index, d.entry_id, d.raw_id)
                try:
                    lost, aborting = await RENEW(
                        self._redis, (self._keys.aborting, *self._streams), argv
                    )
                except Exception as exc:
                    logger.warning("cannot renew leases (%s); will retry", exc)
                    break
                for task_id in aborting:
                    self.abort(task_id.decode())
                for entry_id in lost:
                    gone = self.held.get(entry_id)
                    if gone is not None and not gone.lost:
                        gone.lost = True
                        logger.warning(
                            "lease on task %s[%s] lapsed and another worker took it over",
                            gone.fn_name,
                            gone.task_id,
                        )

    # -- shutdown ------------------------------------------------------------------

    async def _shutdown(self) -> None:
        unstarted = list(self._ready)
        self._ready.clear()
        await self._release(unstarted)
        running = [d.task for d in self.held.values() if d.task is not None and not d.task.done()]
        if running:
            logger.info("waiting up to %.1f s for %d running tasks", self._grace_s, len(running))
            _, late = await asyncio.wait(running, timeout=self._grace_s)
            if late:
                logger.warning(
                    "grace period over: cancelling %d tasks, handing them back", len(late)
                )
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
            # cancelled by the grace deadline or by force() (a second signal)
            cancelled = [d for d in self.held.values() if d.task is not None and d.task.cancelled()]
            await self._release(cancelled)
        try:
            await asyncio.wait_for(self._settler.drain(), timeout=max(self._grace_s, 5.0))
        except asyncio.TimeoutError:
            logger.error(
                "could not store %d outcomes before exiting; their tasks will be re-run "
                "after their leases lapse",
                len(self.held),
            )

    async def _release(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        k = self._keys
        argv: list[Any] = [GROUP, self._consumer]
        for d in deliveries:
            argv += (d.stream_index, d.entry_id, d.raw_id)
        try:
            n = await RELEASE(self._redis, (k.tries, k.running, *self._streams), argv)
        except Exception as exc:
            logger.warning(
                "could not hand back %d tasks (%s); they return when their leases lapse",
                len(deliveries),
                exc,
            )
            return
        for d in deliveries:
            self.held.pop(d.entry_id, None)
        logger.info("handed back %d tasks to the queue", n)
