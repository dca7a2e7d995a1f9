"""Bad input fails one task with a clear outcome; the worker keeps serving."""

from __future__ import annotations

import msgpack
import pytest
from redis.asyncio import Redis

from sdk import TaskFailed, Worker, WrappedContext
from sdk._codec import deserialize
from sdk._wire import decode_outcome
from tests.helpers import wait_until


def _register(worker: Worker[None]) -> None:
    @worker.task()
    async def add(ctx: WrappedContext[None], a: int, b: int) -> int:
        return a + b

    @worker.task()
    def add_sync(ctx: WrappedContext[None], a: int, b: int) -> int:
        return a + b

    @worker.task()
    async def unserializable(ctx: WrappedContext[None]) -> object:
        return object()


async def _still_serving(worker: Worker[None]) -> None:
    assert await worker.client.enqueue_unsafe("add", 20, 22).result(timeout=5) == 42


async def test_unknown_task_name(worker: Worker[None]) -> None:
    _register(worker)
    async with worker.running():
        handle = worker.client.enqueue_unsafe("no_such_task", 1, x=2)
        with pytest.raises(TaskFailed) as excinfo:
            await handle.result(timeout=5)
        assert excinfo.value.exc_type == "UnknownTask"
        assert "no_such_task" in excinfo.value.message
        assert "add" in excinfo.value.message  # lists what is registered
        await _still_serving(worker)


@pytest.mark.parametrize("name", ["add", "add_sync"])
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, 2, 3), {}), ((1, 2), {"c": 3}), ((), {"a": 1})],
    ids=["too-few", "too-many", "unknown-keyword", "missing-keyword"],
)
async def test_wrong_arguments(
    worker: Worker[None], name: str, args: tuple[int, ...], kwargs: dict[str, int]
) -> None:
    _register(worker)
    async with worker.running():
        handle = worker.client.enqueue_unsafe(name, *args, **kwargs)
        with pytest.raises(TaskFailed) as excinfo:
            await handle.result(timeout=5)
        assert excinfo.value.exc_type == "InvalidArguments"
        assert name in excinfo.value.message
        outcome = await handle.outcome(timeout=1)
        assert outcome.tries == 1  # not retried: it can never succeed
        await _still_serving(worker)


async def test_unserializable_return_value(worker: Worker[None]) -> None:
    _register(worker)
    async with worker.running():
        with pytest.raises(TaskFailed) as excinfo:
            await worker.client.enqueue_unsafe("unserializable").result(timeout=5)
        assert excinfo.value.exc_type == "SerializationError"
        assert "unserializable" in excinfo.value.message
        await _still_serving(worker)


@pytest.mark.parametrize(
    "payload",
    [
        b"\xc1 not msgpack at all",
        msgpack.packb([99, "add", 0, b"", ""]),  # a format version nobody knows
        msgpack.packb([1, "add", 0, b"\xc1", ""]),  # arguments the codec cannot read
    ],
    ids=["garbage", "unknown-version", "bad-arguments"],
)
async def test_undecodable_payload_fails_that_task_only(
    worker: Worker[None], redis: Redis, payload: bytes
) -> None:
    """A payload written to Redis by something else: the worker stores a failure."""
    _register(worker)
    keys = worker.client.keys
    task_id = "foreign-" + keys.queue_name
    async with worker.running():
        await redis.hset(keys.tasks, task_id, payload)
        await redis.xadd(keys.stream, {"i": task_id})

        async def stored() -> bool:
            return bool(await redis.exists(keys.result(task_id)))

        await wait_until(stored, what="the failure of the undecodable task")
        raw = await redis.get(keys.result(task_id))
        assert isinstance(raw, bytes)
        outcome = decode_outcome(deserialize, task_id, raw)
        assert not outcome.success
        assert outcome.error is not None
        assert outcome.error.exc_type == "SerializationError"
        assert await redis.hexists(keys.tasks, task_id) == 0
        await _still_serving(worker)
