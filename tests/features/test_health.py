"""Health: each worker stores an expiring record of its counters and of Redis' state."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from sdk import Retry, WrappedContext
from sdk._keys import Keys
from sdk.worker._health import HealthReporter
from tests.conftest import WorkerFactory
from tests.helpers import wait_until

from ._support import assert_stops_promptly, health_record

FIELDS = {
    "worker_id",
    "host",
    "pid",
    "done",
    "failed",
    "retried",
    "running",
    "queue_depth",
    "scheduled",
    "redis_memory",
    "redis_clients",
}


async def test_health_record_is_stored_with_a_ttl(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    worker = make_worker(health_check_interval=timedelta(milliseconds=200), worker_id="w-health")
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.task()
    async def ok(ctx: WrappedContext[None]) -> int:
        return 1

    @worker.task()
    async def failing(ctx: WrappedContext[None]) -> None:
        raise ValueError("no")

    @worker.task(max_tries=2)
    async def retried(ctx: WrappedContext[None]) -> None:
        if ctx.tries == 1:
            raise Retry(delay=0.01)

    @worker.task()
    async def busy(ctx: WrappedContext[None]) -> None:
        started.set()
        await release.wait()

    async with worker.running():
        first = await health_record(redis, keys, worker.id)
        assert first is not None, "a record is stored as the worker starts"
        assert FIELDS <= set(first)
        assert first["worker_id"] == "w-health"
        assert first["host"] == socket.gethostname()
        assert first["pid"] == os.getpid()
        assert isinstance(first["redis_memory"], str) and first["redis_memory"]
        assert first["redis_clients"] >= 2
        assert 0 < await redis.pttl(keys.worker(worker.id)) <= 1000

        await ok.enqueue()
        await failing.enqueue()
        await retried.enqueue()
        await busy.enqueue()
        await ok.enqueue().start(delay=30)
        await asyncio.wait_for(started.wait(), 5)

        async def counted() -> bool:
            record = await health_record(redis, keys, worker.id)
            return record is not None and record["done"] == 2 and record["running"] == 1

        await wait_until(counted, what="the counters in the health record")
        record = await health_record(redis, keys, worker.id)
        assert record is not None
        assert (record["done"], record["failed"], record["retried"]) == (2, 1, 1)
        assert record["running"] == 1
        assert record["scheduled"] == 1
        assert record["queue_depth"] >= 1  # the running task's entry is still pending
        assert record["heartbeat"] >= int(time.time()) - 1
        release.set()

    # a stopped worker's record expires on its own
    async def gone() -> bool:
        return await redis.exists(keys.worker("w-health")) == 0

    await wait_until(gone, timeout=2, what="the record of the stopped worker to expire")


async def test_worker_stops_promptly_when_redis_py_swallows_the_health_cancel(
    make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: stopping a worker cancels its health reporter, possibly while a report
    is in flight. On Python 3.11 redis-py can swallow a cancellation that lands
    mid-command (its socket-timeout ``wait_for``, CPython gh-86296; seen here as a
    stop that hung for the whole interval). The worker must stop at once anyway.
    The report below stands in for such a Redis call."""
    in_flight = asyncio.Event()

    async def report_losing_the_cancel(self: HealthReporter) -> None:
        in_flight.set()
        try:
            await asyncio.sleep(0.5)  # a Redis command in flight ...
        except asyncio.CancelledError:
            pass  # ... whose cancellation redis-py lost

    monkeypatch.setattr(HealthReporter, "report", report_losing_the_cancel)
    worker = make_worker(health_check_interval=30)

    @worker.task()
    async def noop(ctx: WrappedContext[None]) -> None:
        return None

    await assert_stops_promptly(worker, in_flight)


async def _group_members(redis: Redis, stream: str) -> dict[str, int]:
    """Consumer-group members of ``stream`` and how many entries each has pending."""
    members: dict[str, int] = {}
    for raw in await redis.xinfo_consumers(stream, "workers"):
        name = raw["name"]
        members[name.decode() if isinstance(name, bytes) else str(name)] = int(raw["pending"])
    return members


async def test_a_stopped_worker_leaves_no_group_member(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    worker = make_worker(worker_id="w-leaves")

    @worker.task()
    async def noop(ctx: WrappedContext[None]) -> None:
        return None

    async with worker.running():
        await noop.enqueue().result(timeout=5)
        assert "w-leaves" in await _group_members(redis, keys.stream)
    assert "w-leaves" not in await _group_members(redis, keys.stream)


async def test_members_left_by_dead_workers_are_pruned_unless_they_hold_leases(
    make_worker: WorkerFactory, redis: Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed worker's member is deleted once idle with nothing pending; one that
    still holds a delivery (a lease another worker will reclaim) is kept."""
    await redis.xgroup_create(keys.stream, "workers", id="0", mkstream=True)
    for name in ("dead-idle", "dead-holding"):
        entry_id = await redis.xadd(keys.stream, {"i": name})
        await redis.xreadgroup("workers", name, {keys.stream: ">"}, count=1)
        if name == "dead-idle":  # it finished its task before it died
            await redis.xack(keys.stream, "workers", entry_id)
    assert set(await _group_members(redis, keys.stream)) == {"dead-idle", "dead-holding"}

    monkeypatch.setattr("sdk.worker._housekeeping.STALE_CONSUMER_S", 0)
    await asyncio.sleep(0.01)  # idle > 0 ms
    worker = make_worker(lease=60, health_check_interval=timedelta(milliseconds=100))
    async with worker.running():
        await wait_until(
            lambda: _missing(redis, keys.stream, "dead-idle"), timeout=5, what="pruning"
        )
        members = await _group_members(redis, keys.stream)
    assert members.get("dead-holding") == 1


async def _missing(redis: Redis, stream: str, name: str) -> bool:
    return name not in await _group_members(redis, stream)
