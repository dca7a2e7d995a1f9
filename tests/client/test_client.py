"""``Client``, typed stubs, ``enqueue_unsafe``, ``enqueue_many`` and bad arguments."""

from __future__ import annotations

import asyncio
import os

import pytest
from redis.asyncio import Redis

from sdk import Client, TaskFailed, TaskResult, TaskStatus, Worker, WrappedContext
from sdk.errors import (
    ConfigurationError,
    NotConnected,
    PayloadTooLarge,
    RedisUnavailable,
    RelayqError,
    SerializationError,
)
from tests.helpers import live_task_ids


def _add_worker(worker: Worker[None]) -> None:
    @worker.task()
    async def add(ctx: WrappedContext[None], a: int, b: int = 0) -> int:
        return a + b


async def test_stub_enqueues_to_a_worker(worker: Worker[None], client: Client) -> None:
    _add_worker(worker)

    @client.stub()
    async def add(a: int, b: int = 0) -> int:
        raise NotImplementedError

    @client.stub(name="add")
    async def plus(a: int, b: int = 0) -> int:
        raise NotImplementedError

    assert add.name == "add"
    assert plus.name == "add"
    async with worker.running(), client:
        assert await add.enqueue(2, 3).result(timeout=5) == 5
        assert await add.enqueue(a=4).result(timeout=5) == 4
        assert await plus.enqueue(1, b=1).result(timeout=5) == 2
        handle = await add.enqueue(10, 20)
        assert handle.sent
        assert await add.handle(handle.id).result(timeout=5) == 30


async def test_enqueue_unsafe_by_name(worker: Worker[None], client: Client) -> None:
    _add_worker(worker)
    async with worker.running(), client:
        handle = client.enqueue_unsafe("add", 2, b=40)
        assert isinstance(handle, TaskResult)
        assert handle.fn_name == "add"
        assert await handle.result(timeout=5) == 42
        # the worker object is a client too
        assert await worker.client.enqueue_unsafe("add", 1).result(timeout=5) == 1


async def test_client_context_is_reentrant(client: Client) -> None:
    assert not client.connected
    async with client:
        async with client:
            assert client.connected
        assert client.connected
    assert not client.connected


async def test_unconnected_client_refuses_redis_work(client: Client) -> None:
    @client.stub()
    async def add(a: int, b: int = 0) -> int:
        raise NotImplementedError

    handle = add.enqueue(1, 2)
    with pytest.raises(NotConnected):
        await handle
    with pytest.raises(NotConnected):
        await handle.result(timeout=1)
    assert not handle.sent


async def test_unreachable_redis_is_a_clear_error() -> None:
    client = Client("redis://127.0.0.1:1", "q")  # nothing listens on port 1
    with pytest.raises(RedisUnavailable, match="127.0.0.1:1"):
        async with client:
            pass


def test_bad_client_options_are_refused(redis_url: str) -> None:
    with pytest.raises(ConfigurationError):
        Client(redis_url, "bad{name}")
    with pytest.raises(ConfigurationError):
        Client(redis_url, "")
    with pytest.raises(ConfigurationError):
        Client(redis_url, "q", max_payload_bytes=0)
    assert issubclass(ConfigurationError, ValueError)


async def test_enqueue_many_then_all_results(worker: Worker[None], redis: Redis) -> None:
    _add_worker(worker)
    add = worker.tasks["add"]
    n = 3000
    async with worker:
        handles = await worker.enqueue_many([add.enqueue(i, b=1) for i in range(n)])
        assert len(handles) == n
        assert all(h.sent for h in handles)
        assert len({h.id for h in handles}) == n
        assert len(await live_task_ids(redis, worker.client.keys)) == n
        async with worker.running():
            results = [await h.result(timeout=30) for h in handles]
    assert results == [i + 1 for i in range(n)]


async def test_unserializable_argument_sends_nothing(worker: Worker[None], redis: Redis) -> None:
    _add_worker(worker)
    add = worker.tasks["add"]
    keys = worker.client.keys
    async with worker:
        batch = [add.enqueue(1), add.enqueue(object())]
        with pytest.raises(SerializationError) as excinfo:
            await worker.enqueue_many(batch)
        assert isinstance(excinfo.value, TypeError)
        assert isinstance(excinfo.value, RelayqError)
        assert "add" in str(excinfo.value)
        assert not any(h.sent for h in batch)

        single = add.enqueue(object())
        with pytest.raises(SerializationError):
            await single
        with pytest.raises(SerializationError):
            await single.result(timeout=1)
        assert await single.status() == TaskStatus.NOT_FOUND

        assert len(await live_task_ids(redis, keys)) == 0
        assert await redis.xlen(keys.stream) == 0


async def test_payload_over_the_limit_is_refused(redis_url: str, queue_name: str) -> None:
    client = Client(redis_url, queue_name, max_payload_bytes=1000)

    @client.stub()
    async def store(blob: bytes) -> None:
        raise NotImplementedError

    async with client:
        handle = store.enqueue(b"x" * 2000)
        with pytest.raises(PayloadTooLarge, match="max_payload_bytes"):
            await handle
        assert isinstance(PayloadTooLarge("x"), ValueError)
        assert await handle.status() == TaskStatus.NOT_FOUND
        ok = await store.enqueue(b"x" * 10)
        assert ok.sent


async def test_failed_task_via_stub_keeps_remote_details(
    worker: Worker[None], client: Client
) -> None:
    @worker.task()
    async def explode(ctx: WrappedContext[None], why: str) -> None:
        raise KeyError(why)

    @client.stub(name="explode")
    async def explode_stub(why: str) -> None:
        raise NotImplementedError

    async with worker.running(), client:
        with pytest.raises(TaskFailed) as excinfo:
            await explode_stub.enqueue("missing").result(timeout=5)
    assert excinfo.value.exc_type == "KeyError"
    assert "missing" in excinfo.value.message
    assert "explode" in excinfo.value.traceback


async def test_the_suite_runs_on_the_event_loop_it_was_asked_for() -> None:
    """scripts/check runs the suite once on uvloop (RELAYQ_TEST_UVLOOP=1)."""
    loop = type(asyncio.get_running_loop())
    wants_uvloop = os.environ.get("RELAYQ_TEST_UVLOOP") == "1"
    assert loop.__module__.startswith("uvloop") == wants_uvloop, loop
