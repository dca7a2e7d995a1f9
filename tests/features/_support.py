"""Helpers of the worker feature tests: looking at what a queue leaves in Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import pytest
from redis.asyncio import Redis

from sdk import Worker
from sdk._keys import Keys
from sdk.worker._health import decode_health
from tests.helpers import live_task_ids

__all__ = [
    "NOTHING_LIVE",
    "assert_stops_promptly",
    "health_record",
    "per_task_state",
    "queue_keys",
]

#: :func:`per_task_state` of a queue with no live task.
NOTHING_LIVE: Final = {"tasks": 0, "delayed": 0}


async def queue_keys(redis: Redis, keys: Keys) -> set[str]:
    """Every key of the queue (``KEYS relayq:{q}:*``), as text."""
    raw = await redis.keys(keys.base + "*")
    return {k.decode() if isinstance(k, bytes) else str(k) for k in raw}


async def per_task_state(redis: Redis, keys: Keys) -> dict[str, int]:
    """How much per-task state the queue holds: live task hashes, delayed entries."""
    return {
        "tasks": len(await live_task_ids(redis, keys)),
        "delayed": int(await redis.zcard(keys.delayed)),
    }


async def health_record(redis: Redis, keys: Keys, worker_id: str) -> dict[str, Any] | None:
    """The stored health record of a worker, decoded (``None`` if there is none)."""
    raw = await redis.get(keys.worker(worker_id))
    if raw is None:
        return None
    assert isinstance(raw, bytes)
    return decode_health(raw)


async def assert_stops_promptly(worker: Worker[Any], in_flight: asyncio.Event) -> None:
    """Run ``worker``, wait until ``in_flight`` is set (a patched Redis call that
    swallows its cancellation is running), then stop: it must take under 1 s."""

    async def start_and_stop() -> float:
        async with worker.running():
            await asyncio.wait_for(in_flight.wait(), 5)
            stopping = time.monotonic()
        return time.monotonic() - stopping

    try:
        elapsed = await asyncio.wait_for(start_and_stop(), 5)
    except asyncio.TimeoutError:
        pytest.fail("the worker did not stop within 5 s")
    assert elapsed < 1.0
