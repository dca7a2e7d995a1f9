"""Outcomes over pub/sub: one shared connection per process, no leaks, restarts."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from sdk import Client, Worker, WrappedContext
from sdk._aio import Backoff
from tests.conftest import RedisServer, WorkerFactory
from tests.helpers import client_list, live_task_ids, wait_until


async def _subscribed_connections(redis: Redis, after_id: int) -> list[dict[str, str]]:
    """Connections opened after client ``after_id`` that hold any subscription."""
    return [
        c
        for c in await client_list(redis)
        if int(c["id"]) > after_id
        and (int(c.get("sub", 0)) > 0 or int(c.get("psub", 0)) > 0 or int(c.get("ssub", 0)) > 0)
    ]


async def test_thousand_waiters_share_one_pubsub_connection(
    make_worker: WorkerFactory, redis_url: str, queue_name: str, redis: Redis
) -> None:
    worker = make_worker(concurrency=64)

    @worker.task()
    async def square(ctx: WrappedContext[None], x: int) -> int:
        return x * x

    client = Client(redis_url, queue_name)  # a second client in the same process

    @client.stub(name="square")
    async def square_stub(x: int) -> int:
        raise NotImplementedError

    baseline = int(await redis.execute_command("CLIENT", "ID"))  # type: ignore[no-untyped-call]
    async with worker, client:
        # 500 sent first, then awaited by id (each waiter puts its client's route on
        # its task), and 500 sent by .result() itself with the route: every outcome
        # comes back on one of the two clients' inbox channels
        presend = await worker.enqueue_many([square.enqueue(i) for i in range(500)])
        waiters = [asyncio.ensure_future(h.result(timeout=30)) for h in presend]
        waiters += [
            asyncio.ensure_future(square_stub.enqueue(i).result(timeout=30))
            for i in range(500, 1000)
        ]
        keys = worker.client.keys

        async def all_waiting() -> bool:
            ids = await live_task_ids(redis, keys)
            if len(ids) != 1000:
                return False
            async with redis.pipeline(transaction=False) as pipe:
                for task_id in ids:
                    pipe.hget(keys.task(task_id), "r")
                routes = await pipe.execute()
            return all(routes)

        await wait_until(all_waiting, timeout=10, what="1000 waiters routed and sent")
        subscribers = await _subscribed_connections(redis, baseline)
        assert len(subscribers) == 1, subscribers
        # no subscription per task: the two clients' inboxes are all there is
        assert int(subscribers[0]["sub"]) == 2

        async with worker.running():
            results = await asyncio.gather(*waiters)
            assert results == [i * i for i in range(1000)]
            subscribers = await _subscribed_connections(redis, baseline)
            assert len(subscribers) == 1
            assert int(subscribers[0]["sub"]) == 3  # and the workers' control channel

    # closing the last client closes the shared connection
    async def closed() -> bool:
        return not await _subscribed_connections(redis, baseline)

    await wait_until(closed, what="the pub/sub connection to close")


async def test_queued_task_survives_a_redis_restart_with_aof(
    redis_server: RedisServer, redis_url: str, worker: Worker[None]
) -> None:
    """Also exercises the restartable session server that later tests build on."""

    @worker.task()
    async def echo(ctx: WrappedContext[None], text: str) -> str:
        return text

    redis_server.restart(appendonly=True)
    async with worker:
        handle = await echo.enqueue("persisted")
    redis_server.restart()  # a crash: only what AOF already has comes back
    assert redis_server.url == redis_url
    async with worker.running():
        assert await handle.result(timeout=5) == "persisted"


class _SlowBackoff(Backoff):
    """Reconnects after a whole second: a window in which callers start waits."""

    async def retry(self) -> None:
        self.outage = True
        await asyncio.sleep(1.0)


async def test_a_wait_started_while_the_listener_reconnects_still_gets_its_outcome(
    worker: Worker[None], redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (found by the fault-injection checker): a waiter registered after
    the listener lost its connection, and before it subscribed again, used to
    believe the inbox was subscribed; its outcome was published to nobody and it
    waited until its timeout (forever without one)."""

    @worker.task()
    async def echo(ctx: WrappedContext[None], x: int) -> int:
        return x

    monkeypatch.setattr("sdk.client._listener.Backoff", _SlowBackoff)
    async with worker.running():
        assert await echo.enqueue(0).result(timeout=5) == 0  # the inbox is subscribed
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # type: ignore[no-untyped-call]
        await asyncio.sleep(0.2)  # the listener noticed, and waits 1 s to reconnect
        results = await asyncio.wait_for(
            asyncio.gather(*(echo.enqueue(i).result(timeout=8) for i in range(1, 6))), 10
        )
        assert results == [1, 2, 3, 4, 5]
