"""Streaming tasks: an async generator's items reach ``handle.stream()`` in order,
none lost or repeated, also for a consumer that attaches late or reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from sdk import (
    Retry,
    StreamGap,
    StreamRestarted,
    StreamResult,
    TaskFailed,
    TaskNotFound,
    TaskStatus,
    Worker,
    WrappedContext,
)
from sdk._keys import Keys
from sdk.client import Client, _viewing
from sdk.client._subscription import Waiter
from tests.conftest import WorkerFactory
from tests.helpers import wait_until


async def test_items_arrive_in_order_and_result_is_their_list(worker: Worker[None]) -> None:
    @worker.task()
    async def numbers(ctx: WrappedContext[None], n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async with worker.running():
        handle = numbers.enqueue(200)
        assert isinstance(handle, StreamResult)
        assert [item async for item in handle.stream()] == list(range(200))
        assert await handle.result(timeout=5) == list(range(200))
        outcome = await numbers.handle(handle.id).outcome(timeout=5)
        assert outcome.success and outcome.value == list(range(200)) and outcome.tries == 1
        # result() alone sends the task and collects the items
        assert await numbers.enqueue(3).result(timeout=5) == [0, 1, 2]
        assert await numbers.enqueue(0).result(timeout=5) == []


async def test_a_late_consumer_gets_every_item(worker: Worker[None]) -> None:
    half, go_on = asyncio.Event(), asyncio.Event()

    @worker.task()
    async def tokens(ctx: WrappedContext[None], n: int) -> AsyncIterator[str]:
        for i in range(n):
            if i == n // 2:
                half.set()
                await go_on.wait()
            yield f"tok{i}"

    expected = [f"tok{i}" for i in range(200)]
    async with worker.running():
        handle = await tokens.enqueue(200)  # started; nobody iterates yet
        await asyncio.wait_for(half.wait(), 5)
        late = tokens.handle(handle.id).stream()
        first = [await asyncio.wait_for(anext(late), 5) for _ in range(100)]
        go_on.set()
        assert first + [item async for item in late] == expected
        # one that attaches after the end still reads all of them
        assert [item async for item in tokens.handle(handle.id).stream()] == expected


async def test_an_error_midway_ends_the_stream_after_the_items(worker: Worker[None]) -> None:
    @worker.task(max_tries=1)
    async def flaky(ctx: WrappedContext[None]) -> AsyncIterator[int]:
        for i in range(5):
            yield i
        raise ValueError("source went away")

    async with worker.running():
        seen: list[int] = []
        with pytest.raises(TaskFailed) as info:
            async for item in flaky.enqueue().stream():
                seen.append(item)
        assert seen == [0, 1, 2, 3, 4]
        assert info.value.exc_type == "ValueError"
        assert "source went away" in info.value.message
        with pytest.raises(TaskFailed):
            await flaky.enqueue().result(timeout=5)


async def test_a_retry_restarts_the_stream_visibly(worker: Worker[None]) -> None:
    @worker.task(max_tries=2)
    async def fetch_pages(ctx: WrappedContext[None]) -> AsyncIterator[str]:
        if ctx.tries == 1:
            for i in range(3):
                yield f"first-{i}"
            raise Retry(delay=0.2)
        for i in range(5):
            yield f"second-{i}"

    async with worker.running():
        handle = fetch_pages.enqueue()
        seen: list[str] = []
        with pytest.raises(StreamRestarted) as info:
            async for item in handle.stream():
                seen.append(item)
        assert seen == ["first-0", "first-1", "first-2"]
        assert info.value.tries == 2
        second = [item async for item in handle.stream()]  # follow the new try
        assert second == [f"second-{i}" for i in range(5)]
        assert await handle.result(timeout=5) == second
        # a consumer arriving after the end sees only the try that finished
        assert [i async for i in fetch_pages.handle(handle.id).stream()] == second


async def test_a_consumer_behind_the_cap_gets_a_gap_error(worker: Worker[None]) -> None:
    @worker.task(max_items=10)
    async def firehose(ctx: WrappedContext[None]) -> AsyncIterator[int]:
        for i in range(2000):
            yield i

    async with worker.running():
        handle = await firehose.enqueue()
        await wait_until(lambda: _done(handle), timeout=10)
        with pytest.raises(StreamGap) as info:
            async for _ in firehose.handle(handle.id).stream():
                pass
        assert info.value.seq == 1


async def _done(handle: StreamResult[int]) -> bool:
    return await handle.status() is TaskStatus.DONE


async def test_items_survive_a_lost_pubsub_connection(worker: Worker[None], redis: Redis) -> None:
    @worker.task()
    async def slow(ctx: WrappedContext[None], n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0.005)
            yield i

    async with worker.running():
        seen: list[int] = []

        async def consume() -> None:
            async for item in slow.enqueue(300).stream():
                seen.append(item)

        consumer = asyncio.ensure_future(consume())
        await wait_until(lambda: _at_least(seen, 50), timeout=10)
        # every pub/sub connection of the process drops (the listener reconnects)
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # type: ignore[no-untyped-call]
        await asyncio.wait_for(consumer, 20)
    assert seen == list(range(300))


async def _at_least(seen: list[int], n: int) -> bool:
    return len(seen) >= n


async def test_a_stub_streams_typed_items_from_another_service(
    worker: Worker[None], redis_url: str, queue_name: str
) -> None:
    @worker.task()
    async def tokens(ctx: WrappedContext[None], prompt: str) -> AsyncIterator[str]:
        for word in prompt.split():
            yield word.upper()

    service = Client(redis_url, queue_name)

    @service.stub(name="tokens")
    async def tokens_stub(prompt: str) -> AsyncIterator[str]:
        yield ""  # the body never runs: the worker implements it

    async with worker.running(), service:
        assert [t async for t in tokens_stub.enqueue("hello typed world").stream()] == [
            "HELLO",
            "TYPED",
            "WORLD",
        ]
        with pytest.raises(TaskNotFound):
            async for _ in tokens_stub.handle("missing").stream():
                pass


async def test_signed_items_round_trip(make_worker: WorkerFactory) -> None:
    worker = make_worker(signing_key=b"k" * 32)

    @worker.task()
    async def letters(ctx: WrappedContext[None]) -> AsyncIterator[str]:
        for c in "abc":
            yield c

    async with worker.running():
        assert [c async for c in letters.enqueue().stream()] == ["a", "b", "c"]


async def test_items_are_kept_with_the_outcome_and_replaced_by_a_new_generation(
    worker: Worker[None], redis: Redis, keys: Keys
) -> None:
    @worker.task(ttl=60)
    async def count(ctx: WrappedContext[None], n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async with worker.running():
        first = await count.enqueue(3).start(key="report")
        assert await first.result(timeout=5) == [0, 1, 2]
        assert 0 < await redis.pttl(keys.items("report")) <= 5 * 60 * 1000
        # a new task under the same key does not show the old items
        second = await count.enqueue(1).start(key="report")
        assert await second.result(timeout=5) == [0]
        assert [i async for i in count.handle("report").stream()] == [0]


async def test_an_item_that_cannot_be_serialized_fails_the_task(worker: Worker[None]) -> None:
    @worker.task(max_tries=1)
    async def odd(ctx: WrappedContext[None]) -> AsyncIterator[object]:
        yield 1
        yield object()

    async with worker.running():
        with pytest.raises(TaskFailed) as info:
            await odd.enqueue().result(timeout=5)
    assert "item 2" in info.value.message


async def test_a_slow_consumer_reads_back_what_it_could_not_keep(
    worker: Worker[None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages beyond the per-watcher cap are dropped (bounded memory) and the
    consumer reads those items back from Redis: still all of them, in order."""
    monkeypatch.setattr("sdk.client._subscription.LIVE_CAP", 2)
    overflows = []
    lost_track = _viewing._lost_track

    def counting(waiter: Waiter) -> bool:
        if waiter.overflowed:
            overflows.append(1)
        return lost_track(waiter)

    monkeypatch.setattr(_viewing, "_lost_track", counting)

    @worker.task()
    async def paced(ctx: WrappedContext[None], n: int) -> AsyncIterator[int]:
        for i in range(n):
            if i % 10 == 0:
                await asyncio.sleep(0.002)  # many small batches
            yield i

    async with worker.running():
        seen: list[int] = []
        async for item in paced.enqueue(500).stream():
            if item % 50 == 0:
                await asyncio.sleep(0.05)  # the consumer falls far behind
            seen.append(item)
    assert seen == list(range(500))
    assert overflows, "the consumer never fell behind the cap: the test tests nothing"
