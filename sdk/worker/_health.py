"""Periodic health and housekeeping: one log line and one expiring record in Redis
per worker, and the removal of consumer-group members that dead workers left."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .. import _wire
from .._aio import stop_task
from .._keys import GROUP
from .._redis import command

if TYPE_CHECKING:
    from ._consumer import Consumer
    from ._worker import Worker

__all__ = ["STALE_CONSUMER_S", "HealthReporter"]

#: A consumer-group member idle this long (seconds) with nothing pending belongs
#: to a worker that is gone (a live one reads at least every few seconds).
STALE_CONSUMER_S = 3600

logger = logging.getLogger("relayq.health")


class HealthReporter:
    """Every ``interval`` seconds, logs and stores the worker's counters and Redis' state.

    The record (``Keys.worker(id)``) expires after three intervals, so a worker that
    died stops being listed on its own.
    """

    def __init__(self, worker: Worker[Any], consumer: Consumer, interval: float) -> None:
        self._worker = worker
        self._consumer = consumer
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._started = time.time()

    async def __aenter__(self) -> HealthReporter:
        self._task = asyncio.get_running_loop().create_task(self._report_forever())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await stop_task(self._task)
        # a stopped worker is no longer listed (else it would be, until the TTL),
        # and leaves no member behind in the consumer groups if it holds nothing
        try:
            await self._worker.redis.delete(self._worker.client.keys.worker(self._worker.id))
            await self.prune_consumers(own=True)
        except Exception as exc:
            logger.debug("could not clean up after the worker: %s", exc)

    async def _report_forever(self) -> None:
        while True:
            try:
                await self.report()
                await self.prune_consumers(own=False)
            except Exception as exc:
                logger.warning("health check failed: %s", exc)
            await asyncio.sleep(self._interval)

    async def prune_consumers(self, *, own: bool) -> int:
        """Delete consumer-group members that hold nothing: this worker's own (at
        exit, ``own=True``), or those idle for over :data:`STALE_CONSUMER_S` (workers
        that were killed). Every worker process joins the group under a new name,
        so without this the group would grow with every crash.

        Only members with no pending entries are deleted (``XGROUP DELCONSUMER``
        would drop their pending entries, i.e. their leases). A live worker that is
        deleted by mistake simply rejoins on its next read. Returns how many went.
        """
        redis, me = self._worker.redis, self._worker.id
        removed = 0
        for stream in self._worker.client.streams:
            for member in await command(redis, "XINFO", "CONSUMERS", stream, GROUP):
                info = dict(zip(member[::2], member[1::2], strict=True))
                name = info[b"name"].decode("utf-8", "surrogateescape")
                if info[b"pending"] != 0:
                    continue
                if (name == me) if own else (int(info[b"idle"]) > STALE_CONSUMER_S * 1000):
                    await command(redis, "XGROUP", "DELCONSUMER", stream, GROUP, info[b"name"])
                    removed += 1
        if removed and not own:
            logger.info("removed %d consumer(s) that dead workers left in the group", removed)
        return removed

    async def snapshot(self) -> dict[str, Any]:
        """Gather the current health record."""
        worker, consumer = self._worker, self._consumer
        keys = worker.client.keys
        async with worker.redis.pipeline(transaction=False) as pipe:
            for stream in worker.client.streams:
                pipe.xlen(stream)
            pipe.zcard(keys.delayed)
            pipe.info("memory")
            pipe.info("clients")
            *depths, delayed, memory, clients = await pipe.execute()
        depth = sum(depths)
        stats = consumer.stats
        return {
            "worker_id": worker.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queue": worker.queue_name,
            "started": int(self._started),
            "heartbeat": int(time.time()),
            "done": stats.done,
            "failed": stats.failed,
            "retried": stats.retried,
            "running": consumer.running,
            "held": len(consumer.held),
            # entries stay in the stream until settled, so this counts held ones too
            "queue_depth": int(depth),
            "scheduled": int(delayed),
            "redis_memory": str(memory.get("used_memory_human", "?")),
            "redis_clients": int(clients.get("connected_clients", 0)),
        }

    async def report(self) -> None:
        """Log one line and store the record with a TTL of three intervals."""
        record = await self.snapshot()
        logger.info(
            "health %s: done=%d failed=%d retried=%d running=%d queue=%d scheduled=%d "
            "redis_mem=%s clients=%d",
            record["worker_id"],
            record["done"],
            record["failed"],
            record["retried"],
            record["running"],
            record["queue_depth"],
            record["scheduled"],
            record["redis_memory"],
            record["redis_clients"],
        )
        ttl_ms = max(int(self._interval * 3000), 1000)
        await self._worker.redis.set(
            self._worker.client.keys.worker(self._worker.id), _wire.encode_health(record), px=ttl_ms
        )
