"""Redis goes away and comes back (same port, AOF ``always``): the worker process and
the waiting client recover on their own, and no outcome is missed.
"""

from __future__ import annotations

import asyncio
import time

import redis as sync_redis
from redis.asyncio import Redis

from sdk import TaskStatus, Worker, WrappedContext
from sdk._redis import connect
from sdk.client import Client
from tests.chaos._support import ChaosStubs, Spawner, WorkerProcess
from tests.conftest import RedisServer
from tests.helpers import wait_until


async def _started(inspect: Redis, spawn: Spawner, n: int = 1) -> None:
    async def check() -> bool:
        return int(await inspect.hlen(spawn.ns + ":execs")) >= n

    await wait_until(check, timeout=20, what="the task to start")


def _assert_recovered(worker: WorkerProcess) -> None:
    log = worker.log()
    assert worker.alive and worker.starts == 1, f"the worker was not supposed to restart:\n{log}"
    assert "Traceback" not in log, log
    # one warning per outage and loop, not one per retry
    assert log.count("cannot fetch tasks") <= 1, log


async def test_redis_restart_under_running_worker_and_waiter(
    aof_redis: RedisServer, spawn: Spawner, queue_name: str
) -> None:
    worker = spawn("w", redis_url=aof_redis.url)
    await worker.ready()
    inspect = connect(aof_redis.url)  # relayq's own connection settings
    try:
        async with Client(aof_redis.url, queue_name) as client:
            stubs = ChaosStubs(client)
            handle = await stubs.record.enqueue(21, 1.5)
            waiter = asyncio.ensure_future(handle.result(timeout=30))
            await _started(inspect, spawn)

            aof_redis.stop()  # SIGKILL: a crash, the AOF has every write
            await asyncio.sleep(0.5)  # both sides notice the outage
            aof_redis.start(appendonly=True)

            assert await waiter == 42
            # the same client and worker go on serving, no restart of either
            assert await stubs.add.enqueue(2, 3).result(timeout=20) == 5
        assert int(await inspect.hget(spawn.ns + ":execs", "21") or 0) == 1
    finally:
        await inspect.aclose()
    _assert_recovered(worker)


def _outage_while_frozen(server: RedisServer, result_key: str, channel: str) -> int:
    """Restart Redis and wait until the worker has stored (and published) the outcome,
    all without yielding to the event loop: this process' pub/sub listener cannot
    reconnect meanwhile, so the outcome is published while nobody listens.

    :returns: the number of subscribers ``channel`` had once the outcome was stored.
    """
    server.stop()
    time.sleep(0.3)
    server.start(appendonly=True)
    conn = sync_redis.Redis.from_url(server.url)
    try:
        deadline = time.monotonic() + 20
        while not conn.exists(result_key):
            assert time.monotonic() < deadline, "the worker did not store the outcome"
            time.sleep(0.01)
        subscribers: int = conn.pubsub_numsub(channel)[0][1]
        return subscribers
    finally:
        conn.close()


async def test_outcome_published_during_listener_outage_is_found(
    aof_redis: RedisServer, spawn: Spawner, queue_name: str
) -> None:
    worker = spawn("w", redis_url=aof_redis.url)
    await worker.ready()
    inspect = connect(aof_redis.url)  # relayq's own connection settings
    try:
        async with Client(aof_redis.url, queue_name) as client:
            stubs = ChaosStubs(client)
            handle = await stubs.record.enqueue(7, 1.0)
            waiter = asyncio.ensure_future(handle.result(timeout=30))
            channel = client.keys.inbox(client.client_id)

            async def routed() -> bool:
                route = await inspect.hget(client.keys.task(handle.id), "r")
                subscribers = int((await inspect.pubsub_numsub(channel))[0][1])
                return route == client.client_id.encode() and subscribers >= 1

            await wait_until(routed, what="the waiter's route on the task")
            await _started(inspect, spawn)

            subscribers = _outage_while_frozen(aof_redis, client.keys.result(handle.id), channel)
            assert subscribers == 0, "the outcome should have been published to nobody"
            # the listener reconnects and resubscribes; the waiter watches the task
            # again and finds the stored outcome
            assert await waiter == 14
            assert await stubs.add.enqueue(1, 1).result(timeout=20) == 2
    finally:
        await inspect.aclose()
    _assert_recovered(worker)


async def test_consumer_group_recreated_when_the_stream_vanished(
    worker: Worker[None], redis: Redis
) -> None:
    @worker.task()
    async def echo(ctx: WrappedContext[None], x: str) -> str:
        return x

    async with worker.running():
        assert await echo.enqueue("before").result(timeout=5) == "before"
        await redis.delete(worker.client.keys.stream)  # stream and consumer group gone
        assert await echo.enqueue("after").result(timeout=10) == "after"
        assert await echo.enqueue("again").result(timeout=5) == "again"


async def test_client_calls_work_right_after_redis_came_back(
    aof_redis: RedisServer, queue_name: str
) -> None:
    """Pooled connections that died with the server must not fail the first calls
    made once it is back (redis-py's ``from_url`` clients do not retry by default)."""
    async with Client(aof_redis.url, queue_name) as client:
        stubs = ChaosStubs(client)
        handles = await asyncio.gather(*(stubs.add.enqueue(i, i).start() for i in range(4)))
        aof_redis.stop()
        await asyncio.sleep(0.2)
        aof_redis.start(appendonly=True)
        # several at once: each may get its own stale pooled connection
        statuses = await asyncio.gather(*(h.status() for h in handles))
        assert all(s == TaskStatus.QUEUED for s in statuses)
        assert (await stubs.add.enqueue(1, 2).start()).sent
