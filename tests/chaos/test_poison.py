"""Poison input: every kind of bad task fails alone, with a clear ``TaskFailed`` for
its waiter and (for input that cannot be used) a dead-letter entry with the reason;
the worker keeps serving and the next task succeeds.

Bad payloads are written straight into Redis under the names of ``client.keys``.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import ResultTimeout, TaskFailed, TaskResult, Worker, WrappedContext
from sdk.client import Client
from tests.chaos._support import ChaosStubs, Spawner
from tests.conftest import WorkerFactory
from tests.helpers import wait_until


def _register(worker: Worker[None]) -> None:
    @worker.task()
    async def add(ctx: WrappedContext[None], a: int, b: int) -> int:
        return a + b

    @worker.task()
    def add_sync(ctx: WrappedContext[None], a: int, b: int) -> int:
        return a + b


async def _next_task_succeeds(worker: Worker[None]) -> None:
    assert worker.ready.is_set(), "the worker stopped"
    handle: TaskResult[Any] = worker.client.enqueue_unsafe("add", 20, 22)
    assert await handle.result(timeout=5) == 42


async def _dead_letters(redis: Redis, worker: Worker[None]) -> dict[str, dict[str, bytes]]:
    """Dead-letter entries by task id: ``{"reason": ..., "payload": ...}``."""
    entries: Any = await redis.xrange(worker.client.keys.dead)
    out = {}
    for _entry_id, fields in entries:
        record = {k.decode(): v for k, v in fields.items()}
        out[record["id"].decode(errors="replace")] = record
    return out


async def _fails(handle: TaskResult[Any], exc_type: str, message: str) -> TaskFailed:
    try:
        value = await handle.result(timeout=5)
    except TaskFailed as exc:
        error = exc
    except ResultTimeout:
        # pytrace=False: a traceback through the unprintable exceptions of these tests
        # can crash pytest's own report
        pytest.fail(f"{handle!r}: no outcome within 5 s (the task is stuck)", pytrace=False)
    else:
        pytest.fail(f"{handle!r} succeeded with {value!r}", pytrace=False)
    assert error.exc_type == exc_type, error
    assert message in error.message, error
    return error


async def _assert_drained(redis: Redis, worker: Worker[None]) -> None:
    keys = worker.client.keys

    async def drained() -> bool:
        pending = (await redis.xpending(keys.stream, "workers"))["pending"]
        return pending == 0 and await redis.hlen(keys.tasks) == 0

    await wait_until(drained, what="the stream and task hash to drain")
    assert await redis.hlen(keys.running) == 0


# -- undecodable payloads ---------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe\x00garbage", b"", b"\x94\x01\xa3add\x00\xc4\x03abc", b"\x93\x02\x01\x02"],
    ids=["bytes", "empty", "args-not-msgpack-pair", "wrong-layout"],
)
async def test_garbage_payload_fails_the_task_and_is_dead_lettered(
    worker: Worker[None], redis: Redis, garbage: bytes
) -> None:
    _register(worker)
    keys = worker.client.keys
    async with worker:
        handle: TaskResult[Any] = await worker.client.enqueue_unsafe("add", 1, 2)
        await redis.hset(keys.tasks, handle.id, garbage)  # before any worker reads it
        async with worker.running():
            error = await _fails(handle, "SerializationError", "")
            assert error.message, "the failure says what was wrong"
            dead = await _dead_letters(redis, worker)
            assert dead[handle.id]["payload"] == garbage
            assert dead[handle.id]["reason"].startswith(b"SerializationError: ")
            await _next_task_succeeds(worker)
            await _assert_drained(redis, worker)


@pytest.mark.parametrize(
    "fields",
    [
        {"i": "no-such-task"},  # a dangling id
        {"x": b"\xff\xfe", "y": b"\x00"},  # not relayq's layout, binary
    ],
    ids=["dangling-id", "foreign-fields"],
)
async def test_garbage_stream_entry_is_dropped(
    worker: Worker[None], redis: Redis, fields: dict[Any, Any]
) -> None:
    _register(worker)
    async with worker.running():
        await redis.xadd(worker.client.keys.stream, fields)
        await _next_task_succeeds(worker)
        await _assert_drained(redis, worker)
        await _next_task_succeeds(worker)


async def test_stream_entry_with_binary_task_id_does_not_stop_the_worker(
    worker: Worker[None], redis: Redis
) -> None:
    """An entry whose task id is not UTF-8 (and has a payload) is bad input like any other."""
    _register(worker)
    keys = worker.client.keys
    task_id = b"\xff\xfe-not-utf8"
    async with worker.running():
        await redis.hset(keys.tasks, task_id, b"\x00garbage")
        await redis.xadd(keys.stream, {"i": task_id})
        await _next_task_succeeds(worker)
        await _assert_drained(redis, worker)
        dead: Any = await redis.xrange(keys.dead)
        assert [fields[b"id"] for _, fields in dead] == [task_id]
        await _next_task_succeeds(worker)


# -- tasks that cannot be called ---------------------------------------------------


async def test_unknown_task_name(worker: Worker[None], redis: Redis) -> None:
    _register(worker)
    async with worker.running():
        handle: TaskResult[Any] = await worker.client.enqueue_unsafe("no_such_task", 1)
        await _fails(handle, "UnknownTask", "no task named 'no_such_task'")
        dead = await _dead_letters(redis, worker)
        assert dead[handle.id]["reason"].startswith(b"UnknownTask: no task named 'no_such_task'")
        await _next_task_succeeds(worker)


@pytest.mark.parametrize("name", ["add", "add_sync"])
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2, 3), {}), ((1,), {"c": 2}), ((), {"a": 1, "b": 2, "a2": 3})],
    ids=["missing", "extra", "unknown-kw", "extra-kw"],
)
async def test_arguments_that_do_not_bind(
    worker: Worker[None], redis: Redis, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    _register(worker)
    async with worker.running():
        handle: TaskResult[Any] = await worker.client.enqueue_unsafe(name, *args, **kwargs)
        await _fails(handle, "InvalidArguments", f"arguments do not fit {name}")
        dead = await _dead_letters(redis, worker)
        assert dead[handle.id]["reason"].startswith(b"InvalidArguments: ")
        await _next_task_succeeds(worker)


@pytest.mark.parametrize("name", ["add", "add_sync"])
async def test_wrong_argument_types(worker: Worker[None], redis: Redis, name: str) -> None:
    """Types are not checked at runtime: the body raises, and that is the outcome
    (a task failure like any other, not bad input: not dead-lettered)."""
    _register(worker)
    async with worker.running():
        handle: TaskResult[Any] = await worker.client.enqueue_unsafe(name, "x", [1])
        error = await _fails(handle, "TypeError", "")
        assert "can only concatenate str" in error.message
        assert handle.id not in await _dead_letters(redis, worker)
        await _next_task_succeeds(worker)


# -- outcomes that cannot be stored -------------------------------------------------


class _Opaque:
    pass


async def test_unserializable_return_value(worker: Worker[None], redis: Redis) -> None:
    _register(worker)

    @worker.task()
    async def opaque(ctx: WrappedContext[None]) -> _Opaque:
        return _Opaque()

    async with worker.running():
        await _fails(opaque.enqueue(), "SerializationError", "cannot serialize the return value")
        handle = await opaque.enqueue()
        await _fails(handle, "SerializationError", "_Opaque")
        dead = await _dead_letters(redis, worker)
        assert dead[handle.id]["reason"].startswith(b"SerializationError: cannot serialize")
        await _next_task_succeeds(worker)


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")


class UnprintableReprError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken")


class NotAStringError(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]


@pytest.mark.parametrize("exc_class", [UnprintableError, UnprintableReprError, NotAStringError])
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_exception_that_cannot_be_serialized(
    worker: Worker[None], exc_class: type[Exception], sync: bool
) -> None:
    _register(worker)

    @worker.task()
    async def raise_async(ctx: WrappedContext[None]) -> None:
        raise exc_class("boom")

    @worker.task()
    def raise_sync(ctx: WrappedContext[None]) -> None:
        raise exc_class("boom")

    task = raise_sync if sync else raise_async
    async with worker.running():
        error = await _fails(task.enqueue(), exc_class.__qualname__, "")
        assert error.message, "some description of the unprintable exception"
        await _next_task_succeeds(worker)


# -- signed payloads ----------------------------------------------------------------

KEY = "k" * 32


async def test_tampered_signed_payload(make_worker: WorkerFactory, redis: Redis) -> None:
    worker = make_worker(signing_key=KEY)
    _register(worker)
    keys = worker.client.keys
    async with worker:
        handle: TaskResult[Any] = await worker.client.enqueue_unsafe("add", 1, 2)
        payload: Any = await redis.hget(keys.tasks, handle.id)
        assert isinstance(payload, bytes)
        # flip one bit of the last argument byte: still valid msgpack, wrong MAC
        await redis.hset(keys.tasks, handle.id, payload[:-1] + bytes([payload[-1] ^ 1]))
        async with worker.running():
            await _fails(handle, "InvalidSignature", "signature does not match")
            dead = await _dead_letters(redis, worker)
            assert dead[handle.id]["reason"].startswith(b"InvalidSignature: ")
            await _next_task_succeeds(worker)


async def test_unsigned_payload_is_refused_by_a_signing_worker(
    make_worker: WorkerFactory, redis: Redis, redis_url: str, queue_name: str
) -> None:
    worker = make_worker(signing_key=KEY)
    _register(worker)
    async with worker.running(), Client(redis_url, queue_name) as unsigned:
        handle: TaskResult[Any] = await unsigned.enqueue_unsafe("add", 1, 2)
        await _fails(handle, "InvalidSignature", "not signed")
        assert handle.id in await _dead_letters(redis, worker)
        await _next_task_succeeds(worker)


# -- a task that kills its worker ---------------------------------------------------


@pytest.mark.timeout(60)
async def test_task_that_keeps_killing_its_worker_fails_after_max_tries(
    spawn: Spawner, client: Client, stubs: ChaosStubs, redis: Redis
) -> None:
    """``crash`` (max_tries=2) calls ``os._exit`` on every try. The test restarts the
    worker whenever it dies; the third delivery fails with MaxTriesExceeded."""
    worker = spawn("w", lease=1.0)
    await worker.ready()
    handle = await stubs.crash.enqueue(1)
    deaths = 0

    async def settled_or_restart() -> bool:
        nonlocal deaths
        if not worker.alive:
            assert worker.returncode() == 3, worker.log()
            deaths += 1
            worker.start()
        return bool(await redis.exists(client.keys.result(handle.id)))

    await wait_until(settled_or_restart, timeout=40, interval=0.05, what="the poison pill to fail")
    error = await _fails(handle, "MaxTriesExceeded", "max_tries is 2")
    assert deaths == 2
    assert int(await redis.hget(spawn.ns + ":execs", "1") or 0) == 2, "ran max_tries times"
    assert worker.alive, worker.log()
    assert await stubs.add.enqueue(2, 2).result(timeout=10) == 4
    assert "MaxTriesExceeded" in worker.log()
    assert error.traceback == ""
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(10) == 0
