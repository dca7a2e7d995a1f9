"""Typed round trips through a real worker: values, handles, sending exactly once."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
import zoneinfo
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import Client, RelayqError, TaskStatus, Worker, WrappedContext
from tests.conftest import WorkerFactory
from tests.helpers import assert_same, live_task_ids

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

VALUES: list[tuple[str, Any]] = [
    ("int", 42),
    ("negative_int", -(2**40)),
    ("big_int", 2**70),
    ("float", 3.25),
    ("str", "héllo wörld ✓"),
    ("empty_str", ""),
    ("bytes", b"\x00\xffbinary"),
    ("none", None),
    ("true", True),
    ("false", False),
    ("list", [1, "two", [3.0, None]]),
    ("dict", {"a": 1, "nested": {"b": [1, 2], "c": None}}),
    ("dict_int_keys", {1: "one", 2: "two"}),
    ("tuple", (1, "a", (2, b"x"))),
    ("set", {1, 2, 3}),
    ("frozenset", frozenset({"x", "y"})),
    ("datetime_naive", datetime(2024, 2, 29, 23, 59, 59, 999999)),
    ("datetime_utc", datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)),
    (
        "datetime_offset",
        datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ),
    ("datetime_zoneinfo", datetime(2024, 7, 14, 9, 30, tzinfo=PARIS)),
    ("date", dt.date(1999, 12, 31)),
    ("time", dt.time(13, 14, 15, 161718)),
    ("time_aware", dt.time(8, 0, tzinfo=timezone.utc)),
    ("timedelta", timedelta(days=-1, seconds=5, microseconds=7)),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("decimal", decimal.Decimal("3.14159265358979323846264338327950288")),
    ("decimal_negative_zero", decimal.Decimal("-0.00")),
    (
        "nested_mix",
        {
            "when": [datetime(2020, 5, 1, tzinfo=PARIS), dt.date(2020, 5, 2)],
            "ids": (uuid.UUID(int=7),),
        },
    ),
]


@pytest.fixture
def identity_worker(worker: Worker[None]) -> Worker[None]:
    @worker.task()
    async def identity(ctx: WrappedContext[None], value: Any) -> Any:
        return value

    return worker


@pytest.mark.parametrize(("label", "value"), VALUES, ids=[label for label, _ in VALUES])
async def test_value_round_trips_through_a_task(
    identity_worker: Worker[None], label: str, value: Any
) -> None:
    identity = identity_worker.tasks["identity"]
    async with identity_worker.running():
        # as positional and keyword argument, back as the return value
        assert_same(await identity.enqueue(value).result(timeout=5), value)
        assert_same(await identity.enqueue(value=value).result(timeout=5), value)


async def test_await_sends_once_and_returns_the_same_handle(
    worker: Worker[None], redis: Redis
) -> None:
    runs: list[int] = []

    @worker.task()
    async def count(ctx: WrappedContext[None], x: int) -> int:
        runs.append(x)
        return x + 1

    keys = worker.client.keys
    async with worker:
        handle = count.enqueue(1)
        assert not handle.sent
        assert len(await live_task_ids(redis, keys)) == 0  # building a call sends nothing
        same = await handle
        assert same is handle
        assert handle.sent
        assert await handle is handle  # awaiting again sends nothing more
        assert await handle.start() is handle
        assert await redis.xlen(keys.stream) == 1
        assert len(await live_task_ids(redis, keys)) == 1
        assert await handle.status() == TaskStatus.QUEUED

        started = await count.enqueue(2).start()
        assert started.sent
        assert await redis.xlen(keys.stream) == 2

        async with worker.running():
            assert await handle.result(timeout=5) == 2
            assert await handle.result(timeout=5) == 2  # a second wait reads the stored one
            assert await started.result(timeout=5) == 3
            # .result() on an unsent handle sends it exactly once too
            fresh = count.enqueue(3)
            assert await fresh.result(timeout=5) == 4
            assert fresh.sent
            assert await fresh.result(timeout=5) == 4
        assert sorted(runs) == [1, 2, 3]


async def test_start_options_after_sending_are_refused(worker: Worker[None]) -> None:
    @worker.task()
    async def noop(ctx: WrappedContext[None]) -> None:
        return None

    async with worker:
        handle = await noop.enqueue()
        with pytest.raises(RelayqError, match="already sent"):
            await handle.start(delay=10)


async def test_context_and_outcome_fields(worker: Worker[None]) -> None:
    seen: list[WrappedContext[None]] = []

    @worker.task(name="inspect.ctx")
    async def inspect_ctx(ctx: WrappedContext[None]) -> str:
        seen.append(ctx)
        return ctx.task_id

    before = datetime.now(timezone.utc)
    async with worker.running():
        handle = await inspect_ctx.enqueue()
        outcome = await handle.outcome(timeout=5)
    after = datetime.now(timezone.utc)

    (ctx,) = seen
    assert ctx.deps is None
    assert ctx.task_id == handle.id
    assert ctx.tries == 1
    assert ctx.worker_id == worker.id
    assert ctx.fn_name == "inspect.ctx"
    assert ctx.queue_name == worker.queue_name
    assert isinstance(ctx.redis, Redis)
    slack = timedelta(milliseconds=5)
    assert before - slack <= ctx.enqueue_time <= after + slack

    assert outcome.success
    assert outcome.value == handle.id
    assert outcome.error is None
    assert outcome.unwrap() == handle.id
    assert outcome.tries == 1
    assert outcome.worker_id == worker.id
    assert outcome.fn_name == "inspect.ctx"
    assert outcome.task_id == handle.id
    assert outcome.enqueue_time.tzinfo is not None
    assert outcome.enqueue_time <= outcome.start_time <= outcome.finish_time
    assert before - slack <= outcome.enqueue_time <= after + slack


async def test_json_serializer_pair_on_worker_and_client(
    make_worker: WorkerFactory, redis_url: str, queue_name: str, redis: Redis
) -> None:
    worker = make_worker(serializer=json.dumps, deserializer=json.loads)

    @worker.task()
    async def describe(ctx: WrappedContext[None], item: dict[str, Any], n: int) -> dict[str, Any]:
        return {"item": item, "n": n * 2, "pair": (1, 2)}

    client = Client(redis_url, queue_name, serializer=json.dumps, deserializer=json.loads)

    @client.stub(name="describe")
    async def describe_stub(item: dict[str, Any], n: int) -> dict[str, Any]:
        raise NotImplementedError

    async with client:
        handle = await client.enqueue_unsafe("describe", {"k": [1, "v"]}, n=21)
        # the arguments are stored as the user's serializer wrote them: JSON text
        stored: Any = await redis.hmget(client.keys.task(handle.id), ["f", "p"])
        assert stored[0] == b"describe"
        assert json.loads(stored[1]) == [[{"k": [1, "v"]}], {"n": 21}]
        async with worker.running():
            result = await handle.result(timeout=5)
            assert result == {"item": {"k": [1, "v"]}, "n": 42, "pair": [1, 2]}  # JSON: lists
            assert await describe_stub.enqueue({"a": None}, 1).result(timeout=5) == {
                "item": {"a": None},
                "n": 2,
                "pair": [1, 2],
            }


def test_mismatched_serializer_pair_is_refused(redis_url: str) -> None:
    with pytest.raises(RelayqError):
        Client(redis_url, "q", serializer=json.dumps)
