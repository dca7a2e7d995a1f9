"""Fencing: a worker whose lease lapsed (a zombie) cannot settle the task it lost.

The zombie's task blocks its event loop with ``time.sleep`` for longer than the
lease, so it renews nothing; a second worker reclaims the delivery and runs the
task again. When the zombie wakes up, its next renewal finds that the delivery
is no longer the task's current one and cancels its run; had the run finished
first, finish.lua would have fenced its outcome out (the try moved on). Either
way nothing of the zombie's is stored, published or acknowledged, and the new
holder's delivery stays pending until *it* settles.
"""

from __future__ import annotations

import signal

import pytest
from redis.asyncio import Redis

from sdk import TaskStatus
from sdk.client import Client
from tests.chaos._support import ChaosStubs, Spawner
from tests.helpers import live_task_ids, task_field, wait_until


@pytest.mark.timeout(60)
async def test_zombie_cannot_overwrite_the_new_holders_outcome(
    spawn: Spawner, client: Client, stubs: ChaosStubs, redis: Redis
) -> None:
    lease = 0.5
    zombie = spawn("zombie", lease=lease, worker_id="zombie")
    await zombie.ready()
    keys = client.keys
    stall_log = spawn.ns + ":stall"
    # try 1 blocks its loop 2.5 s (5 leases); try 2 holds 3 s, so the zombie wakes
    # up and settles while the new holder still runs the task
    handle = await stubs.stall.enqueue(2.5, 3.0)

    async def logged(entry: str) -> bool:
        return entry.encode() in await redis.lrange(stall_log, 0, -1)

    await wait_until(lambda: logged("start 1 zombie"), timeout=20, what="the zombie to start")
    healthy = spawn("healthy", lease=lease, worker_id="healthy")
    await wait_until(lambda: logged("start 2 healthy"), timeout=20, what="the reclaim")

    # the zombie wakes up and learns that its delivery is gone: its run is cancelled
    # (or, when the run ended as the loop woke up, its outcome is fenced out)
    await zombie.wait_for_log(
        f"stall[{handle.id}] try 1 lapsed",
        f"stall[{handle.id}] try 1: outcome discarded",
        timeout=20,
    )
    assert not await logged("end 2 healthy"), "the test's timing assumption broke"
    assert not await redis.exists(keys.result(handle.id)), "the zombie stored an outcome"
    assert await task_field(redis, keys, handle.id, "n") == b"2"
    assert await task_field(redis, keys, handle.id, "w") == b"healthy"
    pending = await redis.xpending_range(keys.stream, "workers", "-", "+", 10)
    assert [p["consumer"] for p in pending] == [b"healthy"], "the zombie acked the delivery"
    assert await handle.status() == TaskStatus.RUNNING

    outcome = await handle.outcome(timeout=20)
    assert outcome.success
    assert outcome.value == "try 2 by healthy"
    assert outcome.worker_id == "healthy"
    assert outcome.tries == 2
    stored = await stubs.stall.handle(handle.id).outcome(timeout=1)
    assert stored.value == "try 2 by healthy", "the stored outcome is the new holder's"
    assert (await redis.xpending(keys.stream, "workers"))["pending"] == 0
    assert not await live_task_ids(redis, keys)

    log = zombie.log()
    assert "this run is cancelled" in log or "outcome discarded" in log, log
    # both workers are still fine
    assert zombie.alive and healthy.alive
    assert [await stubs.add.enqueue(i, i).result(timeout=10) for i in range(4)] == [0, 2, 4, 6]
    for w in (zombie, healthy):
        w.send(signal.SIGTERM)
        assert await w.wait_exit(10) == 0, w.log()
