"""Bad input: every kind of bad task fails alone, with a clear ``TaskFailed`` for
its waiter and (for input that cannot be used) a dead-letter entry with the reason;
the worker keeps serving and the next task succeeds.

Bad task data is written straight into the task hashes and streams named by
``client.keys`` (see sdk/_envelope.py for the fields). A task that kills its
worker process is in tests/chaos/test_poison.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import ResultTimeout, TaskFailed, TaskResult, Worker, WrappedContext
from sdk.client import Client
from sdk.errors import InvalidSignature
from tests.conftest import WorkerFactory
from tests.helpers import fails_with, live_task_ids, wait_until


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
    """Dead-letter entries by task id: ``{"reason": ..., "p": arguments, "f": ...}``."""
    entries: Any = await redis.xrange(worker.client.keys.dead)
    out = {}
    for _entry_id, fields in entries:
        record = {k.decode(): v for k, v in fields.items()}
        out[record["id"].decode(errors="replace")] = record
    return out


async def _assert_drained(redis: Redis, worker: Worker[None]) -> None:
    keys = worker.client.keys

    async def drained() -> bool:
        pending = (await redis.xpending(keys.stream, "workers"))["pending"]
        return pending == 0 and not await live_task_ids(redis, keys)

    await wait_until(drained, what="the stream and the task hashes to drain")
    assert await redis.xlen(keys.stream) == 0


# -- undecodable payloads ---------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe\x00garbage", b"", b"\x94\x01\xa3add\x00\xc4\x03abc", b"\x93\x02\x01\x02"],
    ids=["bytes", "empty", "args-not-msgpack-pair", "wrong-layout"],
)
async def test_garbage_arguments_fail_the_task_and_are_dead_lettered(
    worker: Worker[None], redis: Redis, garbage: bytes
) -> None:
    _register(worker)
    keys = worker.client.keys
    async with worker:
        handle: TaskResult[Any] = worker.client.enqueue_unsafe("add", 1, 2)
        waiter = _waiting(handle)  # sent with its route: this caller must hear of it
        await wait_until(lambda: _live(redis, worker, handle.id), what="the task to be sent")
        await redis.hset(keys.task(handle.id), "p", garbage)  # before any worker reads it
        async with worker.running():
            error = await _fails_soon(waiter, "SerializationError", "add")
            assert error.message, "the failure says what was wrong"
            dead = await _dead_letters(redis, worker)
            assert dead[handle.id]["p"] == garbage
            assert dead[handle.id]["f"] == b"add"
            assert dead[handle.id]["reason"].startswith(b"SerializationError: ")
            await _next_task_succeeds(worker)
            await _assert_drained(redis, worker)


@pytest.mark.parametrize(
    "fields",
    [{"p": b"\x92\x90\x80"}, {"f": "add"}, {"f": "add", "e": "soon", "t": "x", "p": b""}],
    ids=["no-name", "no-arguments", "bad-numbers"],
)
async def test_foreign_task_hash_fails_that_task_only(
    worker: Worker[None], redis: Redis, fields: dict[str, Any]
) -> None:
    """A task hash written by something else, missing fields or with nonsense in
    them: the worker stores a failure for it and keeps serving."""
    _register(worker)
    keys = worker.client.keys
    task_id = "foreign-" + keys.queue_name
    # written while no worker runs: a writer that adds the entry first races the
    # worker, which drops an entry whose task does not exist (yet)
    entry = await redis.xadd(keys.stream, {"i": task_id})
    mapping: Any = {**fields, "x": entry}
    await redis.hset(keys.task(task_id), mapping=mapping)
    async with worker.running():

        async def stored() -> bool:
            return bool(await redis.exists(keys.result(task_id)))

        await wait_until(stored, what="the failure of the foreign task")
        outcome = await worker.client.handle(task_id).outcome(timeout=1)
        assert not outcome.success
        assert outcome.error is not None
        assert outcome.error.exc_type in {"SerializationError", "UnknownTask"}
        assert task_id in await _dead_letters(redis, worker)
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
    """Never run; a stream entry that relayq did not write is kept in the dead
    letters for a person to look at (a dangling id is just stale)."""
    _register(worker)
    async with worker.running():
        entry: Any = await redis.xadd(worker.client.keys.stream, fields)
        await _next_task_succeeds(worker)
        await _assert_drained(redis, worker)
        await _next_task_succeeds(worker)
        dead: Any = await redis.xrange(worker.client.keys.dead)
        reasons = [f[b"reason"] for _, f in dead]
        if "i" in fields:
            assert reasons == []
        else:
            assert reasons == [b"malformed stream entry " + entry]


async def test_stream_entry_with_binary_task_id_does_not_stop_the_worker(
    worker: Worker[None], redis: Redis
) -> None:
    """An entry whose task id is not UTF-8 (and has a payload) is bad input like any other."""
    _register(worker)
    keys = worker.client.keys
    task_id = b"\xff\xfe-not-utf8"
    entry = await redis.xadd(keys.stream, {"i": task_id})  # before the worker runs
    hash_key = keys.task("").encode() + task_id
    await redis.hset(hash_key, mapping={"p": b"\x00garbage", "f": "add", "x": entry})
    async with worker.running():
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
        await fails_with(handle, "UnknownTask", "no task named 'no_such_task'")
        dead = await _dead_letters(redis, worker)
        assert dead[handle.id]["reason"].startswith(b"UnknownTask: no task named 'no_such_task'")
        await _next_task_succeeds(worker)


@pytest.mark.parametrize("name", ["add", "add_sync"])
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((1,), {}),
        ((1, 2, 3), {}),
        ((1,), {"c": 2}),
        ((), {"a": 1, "b": 2, "a2": 3}),
        ((), {"a": 1}),
    ],
    ids=["missing", "extra", "unknown-kw", "extra-kw", "missing-kw"],
)
async def test_arguments_that_do_not_bind(
    worker: Worker[None], redis: Redis, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    _register(worker)
    async with worker.running():
        handle: TaskResult[Any] = await worker.client.enqueue_unsafe(name, *args, **kwargs)
        await fails_with(handle, "InvalidArguments", f"arguments do not fit {name}")
        outcome = await handle.outcome(timeout=1)
        assert outcome.tries == 1  # not retried: it can never succeed
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
        error = await fails_with(handle, "TypeError", "")
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
        await fails_with(
            opaque.enqueue(), "SerializationError", "cannot serialize the return value"
        )
        handle = await opaque.enqueue()
        await fails_with(handle, "SerializationError", "_Opaque")
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
        error = await fails_with(task.enqueue(), exc_class.__qualname__, "")
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
        payload: Any = await redis.hget(keys.task(handle.id), "p")
        assert isinstance(payload, bytes)
        # flip one bit of the last argument byte: still valid msgpack, wrong MAC
        await redis.hset(keys.task(handle.id), "p", payload[:-1] + bytes([payload[-1] ^ 1]))
        async with worker.running():
            await fails_with(handle, "InvalidSignature", "signature does not match")
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
        await fails_with(handle, "InvalidSignature", "not signed")
        assert handle.id in await _dead_letters(redis, worker)
        await _next_task_succeeds(worker)


def _waiting(handle: TaskResult[Any]) -> Any:
    """Start ``handle.result()`` in the background (it sends the task with its route)."""
    import asyncio

    return asyncio.ensure_future(handle.result(timeout=10))


async def _live(redis: Redis, worker: Worker[None], task_id: str) -> bool:
    return bool(await redis.exists(worker.client.keys.task(task_id)))


async def _fails_soon(waiter: Any, exc_type: str, message: str) -> TaskFailed:
    """The background ``.result()`` ends with a ``TaskFailed`` (never a timeout)."""
    try:
        value = await waiter
    except TaskFailed as exc:
        assert exc.exc_type == exc_type, exc
        assert message in exc.message, exc
        return exc
    except ResultTimeout:
        pytest.fail("the waiting caller was never told (it hung until its timeout)", pytrace=False)
    pytest.fail(f"succeeded with {value!r}", pytrace=False)


# -- BaseException from a task ---------------------------------------------------


@pytest.mark.parametrize("exc_class", [SystemExit, KeyboardInterrupt, GeneratorExit])
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_base_exception_fails_the_task_not_the_worker(
    worker: Worker[None], exc_class: type[BaseException], sync: bool
) -> None:
    """``sys.exit()`` or a ``KeyboardInterrupt`` raised by task code fails that task;
    the worker (and the task running beside it) carries on."""
    import asyncio

    _register(worker)
    beside_started = asyncio.Event()
    release = asyncio.Event()

    @worker.task()
    async def beside(ctx: WrappedContext[None]) -> str:
        beside_started.set()
        await release.wait()
        return "finished"

    @worker.task()
    async def exit_async(ctx: WrappedContext[None]) -> None:
        raise exc_class(0)

    @worker.task()
    def exit_sync(ctx: WrappedContext[None]) -> None:
        raise exc_class(0)

    task = exit_sync if sync else exit_async
    async with worker.running():
        other = await beside.enqueue()
        await asyncio.wait_for(beside_started.wait(), 5)
        error = await fails_with(task.enqueue(), exc_class.__qualname__, "")
        assert error.traceback, "the remote traceback is kept"
        release.set()
        assert await other.result(timeout=5) == "finished"
        await _next_task_succeeds(worker)
        assert worker.ready.is_set()


# -- a rejected envelope reaches the caller that waits --------------------------------


async def test_caller_with_another_signing_key_is_told_at_once(
    make_worker: WorkerFactory, redis_url: str, queue_name: str, redis: Redis
) -> None:
    """The worker rejects the envelope (wrong key): the caller waiting in
    ``.result()`` hears of it through its route, not by hanging until its timeout.
    What it hears is sealed with the worker's key, which this caller cannot trust:
    its wait ends with ``InvalidSignature`` saying so."""
    worker = make_worker(signing_key=KEY)
    _register(worker)
    async with worker.running(), Client(redis_url, queue_name, signing_key="o" * 32) as other:
        handle: TaskResult[Any] = other.enqueue_unsafe("add", 1, 2)
        with pytest.raises(InvalidSignature, match="another signing_key"):
            await asyncio.wait_for(handle.result(), 10)  # no timeout of its own
        dead = await _dead_letters(redis, worker)
        assert dead[handle.id]["reason"].startswith(b"InvalidSignature: ")
        await _next_task_succeeds(worker)


async def test_caller_with_another_codec_is_told_at_once(
    worker: Worker[None], redis_url: str, queue_name: str
) -> None:
    import json

    _register(worker)
    async with worker.running():
        async with Client(
            redis_url, queue_name, serializer=json.dumps, deserializer=json.loads
        ) as other:
            handle: TaskResult[Any] = other.enqueue_unsafe("add", 1, 2)
            with pytest.raises(TaskFailed) as excinfo:
                await handle.result()
            assert excinfo.value.exc_type == "SerializationError"
        await _next_task_succeeds(worker)
