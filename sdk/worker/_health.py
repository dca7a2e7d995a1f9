"""Periodic health: one log line and one expiring record in Redis per worker."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import msgpack

from .._redact import redact_text
from ..client import Client
from ..errors import SerializationError
from ._consumer import Consumer

__all__ = ["HealthReporter", "decode_health", "encode_health"]

logger = logging.getLogger("relayq.health")


def encode_health(record: dict[str, Any]) -> bytes:
    """Encode a worker's health record (a flat dict of str/int/float values)."""
    return msgpack.packb(record, use_bin_type=True)


def decode_health(raw: bytes) -> dict[str, Any]:
    """Decode a health record written by :func:`encode_health`."""
    record = msgpack.unpackb(raw, raw=False)
    if not isinstance(record, dict):
        raise SerializationError("health record is not a map")
    return record


class HealthReporter:
    """Every ``interval`` seconds, logs and stores the worker's counters and Redis' state.

    The record (``Keys.worker(id)``) expires after three intervals, so a worker that
    died stops being listed on its own.
    """

    def __init__(self, client: Client, worker_id: str, consumer: Consumer, interval: float) -> None:
        self._client = client
        self._worker_id = worker_id
        self._consumer = consumer
        self._interval = interval
        self._started = time.time()

    async def report_forever(self) -> None:
        """Report every interval until cancelled."""
        while True:
            try:
                await self.report()
            except Exception as exc:
                logger.warning("health check failed: %s", redact_text(str(exc)))
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        """At exit: a stopped worker is no longer listed."""
        try:
            await self._client.redis.delete(self._client.keys.worker(self._worker_id))
        except Exception as exc:
            logger.debug("could not remove the health record: %s", exc)

    async def snapshot(self) -> dict[str, Any]:
        """Gather the current health record."""
        client, consumer = self._client, self._consumer
        keys = client.keys
        async with client.redis.pipeline(transaction=False) as pipe:
            for priority in client.priorities:
                pipe.xlen(keys.stream_for(priority))
            pipe.zcard(keys.delayed)
            pipe.info("memory")
            pipe.info("clients")
            *depths, delayed, memory, clients = await pipe.execute()
        stats = consumer.stats
        return {
            "worker_id": self._worker_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queue": client.queue_name,
            "started": int(self._started),
            "heartbeat": int(time.time()),
            "done": stats.done,
            "failed": stats.failed,
            "retried": stats.retried,
            "running": consumer.dispatcher.running,
            "held": len(consumer.dispatcher.held),
            # entries stay in the stream until settled, so this counts held ones too
            "queue_depth": int(sum(depths)),
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
        await self._client.redis.set(
            self._client.keys.worker(self._worker_id), encode_health(record), px=ttl_ms
        )
