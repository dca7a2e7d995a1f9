"""Uniqueness and idempotency keys: one live instance; a repeat returns the live one."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from sdk import TaskStatus, Worker, WrappedContext
from sdk._keys import Keys
from sdk.client import Client
from sdk.errors import ConfigurationError

from ._support import NOTHING_LIVE, per_task_state


async def test_unique_task_runs_once_while_live(
    worker: Worker[None], redis: Redis, keys: Keys
) -> None:
    runs: list[int] = []
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.task(unique=True)
    async def once(ctx: WrappedContext[None], x: int) -> int:
        runs.append(x)
        started.set()
        await release.wait()
        return x * 10

    async with worker.running():
        first = await once.enqueue(1)
        # queued or running: a second enqueue returns the live task's id
        second = await once.enqueue(1)
        await asyncio.wait_for(started.wait(), 5)
        third = await once.enqueue(1)
        assert first.id == second.id == third.id
        assert await third.status() == TaskStatus.RUNNING
        other_args = await once.enqueue(2)  # other arguments: another task
        assert other_args.id != first.id
        release.set()
        assert [await h.result(timeout=5) for h in (first, second, third)] == [10, 10, 10]
        assert await other_args.result(timeout=5) == 20
        assert sorted(runs) == [1, 2]

        # once it finished, the same call runs again (and replaces the old outcome)
        again = await once.enqueue(1)
        assert again.id == first.id
        assert await again.result(timeout=5) == 10
        assert runs.count(1) == 2
    assert await per_task_state(redis, keys) == NOTHING_LIVE


async def test_unique_applies_to_scheduled_tasks(worker: Worker[None]) -> None:
    runs: list[int] = []

    @worker.task(unique=True)
    async def once(ctx: WrappedContext[None], x: int) -> int:
        runs.append(x)
        return x

    async with worker.running():
        scheduled = await once.enqueue(3).start(delay=0.2)
        again = await once.enqueue(3)  # not a second one, even though this one is "now"
        assert again.id == scheduled.id
        assert await again.status() == TaskStatus.SCHEDULED
        assert await again.result(timeout=5) == 3
    assert runs == [3]


async def test_idempotency_key_has_the_same_semantics(worker: Worker[None]) -> None:
    runs: list[str] = []
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.task()
    async def charge(ctx: WrappedContext[None], amount: int) -> str:
        runs.append(ctx.task_id)
        started.set()
        await release.wait()
        return f"charged {amount}"

    async with worker.running():
        first = await charge.enqueue(5).start(key="order-17")
        assert first.id == "order-17"
        await asyncio.wait_for(started.wait(), 5)
        # a repeat with the same key (even other arguments) returns the live task
        repeat = await charge.enqueue(7).start(key="order-17")
        assert repeat.id == "order-17"
        release.set()
        assert await repeat.result(timeout=5) == "charged 5"
        assert runs == ["order-17"]

        # after it finished, the key can be used again
        later = await charge.enqueue(9).start(key="order-17")
        assert await later.result(timeout=5) == "charged 9"
        assert runs == ["order-17", "order-17"]

        handle = charge.enqueue(1)
        with pytest.raises(ConfigurationError):
            await handle.start(key="")
        assert await handle.result(timeout=5) == "charged 1"


async def test_stub_unique_matches_the_worker_id(
    worker: Worker[None], redis_url: str, queue_name: str
) -> None:
    runs: list[tuple[str, int]] = []
    release = asyncio.Event()

    @worker.task(unique=True)
    async def sync_user(ctx: WrappedContext[None], user: str, n: int = 0) -> str:
        runs.append((user, n))
        await release.wait()
        return user.upper()

    client = Client(redis_url, queue_name)

    @client.stub(name="sync_user", unique=True)
    async def sync_user_stub(user: str, n: int = 0) -> str:
        raise NotImplementedError

    @client.stub(name="sync_user")
    async def not_unique_stub(user: str, n: int = 0) -> str:
        raise NotImplementedError

    async with worker.running(), client:
        from_service = await sync_user_stub.enqueue("ada", 1)
        from_worker = await sync_user.enqueue("ada", 1)
        assert from_service.id == from_worker.id
        plain = await not_unique_stub.enqueue("ada", 1)  # a stub must declare unique too
        assert plain.id != from_service.id
        release.set()
        assert await from_service.result(timeout=5) == "ADA"
        assert await from_worker.result(timeout=5) == "ADA"
        assert await plain.result(timeout=5) == "ADA"
    assert runs == [("ada", 1), ("ada", 1)]  # the unique pair ran once, the plain one once


async def test_unique_is_per_arguments_however_they_are_passed(worker: Worker[None]) -> None:
    runs: list[tuple[str, int]] = []
    release = asyncio.Event()

    @worker.task(unique=True)
    async def sync_user(ctx: WrappedContext[None], user: str, n: int = 0) -> str:
        runs.append((user, n))
        await release.wait()
        return user

    async with worker.running():
        handles = [
            await sync_user.enqueue("ada", 1),
            await sync_user.enqueue("ada", n=1),
            await sync_user.enqueue(user="ada", n=1),
        ]
        defaulted = [await sync_user.enqueue("bob"), await sync_user.enqueue("bob", 0)]
        release.set()
        for handle in (*handles, *defaulted):
            await handle.result(timeout=5)
    assert len({h.id for h in handles}) == 1
    assert len({h.id for h in defaulted}) == 1
    assert sorted(runs) == [("ada", 1), ("bob", 0)]
