"""Regressions of the promises that broke at the edges (issue 8), one test per case.

Each test names the case it pins:

1. a ``.result()`` that never returned: a rejected envelope, an abort of a queued
   or a prefetched task (and the prefetched settlement's wrong details);
2. ``.result(timeout=None)`` on a task that no longer exists waited forever;
3. a worker reclaimed its own running task after an event-loop stall (and, found
   later, a renewal racing a finish was reported as a lapsed lease);
4. abort, then the same key sent again, ran the task twice at once;
5. lapsed leases behind many live pending entries were never reclaimed;
6. a task raising ``SystemExit`` killed its worker (process-level: tests/chaos/test_poison.py);
7. a sync task that timed out before its thread started still ran later;
8. ``enqueue_many`` failed for good after ``SCRIPT FLUSH`` or a Redis restart;
9. an ACL user without channel permission hung ``async with client`` (tests/test_acl.py);
10. the password leaked into log lines, reprs and errors;
11. signed payloads could be replayed under new ids, and outcomes were not authenticated;
12. smaller ones: a malformed inbox message reset the listener; a hand-back lowered
    the try counter (a task outlasting every grace period never reached max_tries);
    a reclaimed entry deleted from its stream; the result size was unbounded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import (
    Client,
    TaskAborted,
    TaskFailed,
    TaskNotFound,
    TaskResult,
    Worker,
    WrappedContext,
)
from sdk._codec import serialize
from sdk._envelope import ENTRY
from sdk._keys import GROUP, Keys
from sdk._outcome import encode_success
from sdk._scripts import Scripts
from sdk.errors import ConfigurationError, InvalidSignature, NotConnected, RedisUnavailable
from tests.conftest import RedisServer, WorkerFactory
from tests.helpers import client_list, live_task_ids, task_field, wait_until

KEY = "k" * 32


async def _ends(awaitable: Any, bound: float = 10.0) -> Any:
    """Await ``awaitable``; a wait that does not end within ``bound`` s is the bug."""
    try:
        return await asyncio.wait_for(awaitable, bound)
    except asyncio.TimeoutError:
        pytest.fail(f"the wait did not end within {bound} s (it hangs)", pytrace=False)


# -- 1. every outcome reaches the caller that waits --------------------------------------


async def test_1_rejected_envelope_reaches_the_waiting_caller(
    make_worker: WorkerFactory, redis_url: str, queue_name: str
) -> None:
    worker = make_worker(signing_key=KEY)

    @worker.task()
    async def add(ctx: WrappedContext[None], a: int, b: int) -> int:
        return a + b

    async with worker.running(), Client(redis_url, queue_name) as unsigned:
        handle: TaskResult[Any] = unsigned.enqueue_unsafe("add", 1, 2)
        with pytest.raises(TaskFailed) as excinfo:
            await _ends(handle.result())  # no timeout of its own
        assert excinfo.value.exc_type == "InvalidSignature"


async def test_1_abort_of_a_queued_task_reaches_the_waiting_caller(
    worker: Worker[None],
) -> None:
    @worker.task()
    async def later(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker:  # no worker consumes: the task stays queued
        handle = later.enqueue()
        waiter = asyncio.ensure_future(handle.result())
        await wait_until(_sent(handle), what="the task to be sent")
        assert await handle.abort()
        with pytest.raises(TaskAborted):
            await _ends(waiter)


async def test_1_abort_of_a_prefetched_task_reaches_the_caller_with_its_details(
    make_worker: WorkerFactory, redis: Redis
) -> None:
    worker = make_worker(concurrency=1, queue_fetch_limit=2)
    release = asyncio.Event()
    started = asyncio.Event()

    @worker.task()
    async def blocker(ctx: WrappedContext[None]) -> None:
        started.set()
        await release.wait()

    @worker.task(ttl=timedelta(seconds=90))
    async def victim(ctx: WrappedContext[None]) -> int:
        return 1

    keys = worker.client.keys
    async with worker.running():
        first = await blocker.enqueue()
        await asyncio.wait_for(started.wait(), 5)
        handle = victim.enqueue()
        waiter = asyncio.ensure_future(handle.result())
        # held by the worker (prefetched behind the blocker), not started
        await wait_until(lambda: _holder(redis, worker, handle.id), what="the prefetch")
        sent_at = time.time()
        assert await handle.abort()
        with pytest.raises(TaskAborted):
            await _ends(waiter)
        outcome = await handle.outcome(timeout=1)
        assert outcome.fn_name == "victim"
        assert abs(outcome.enqueue_time.timestamp() - sent_at) < 5  # not the epoch
        assert 80_000 < await redis.pttl(keys.result(handle.id)) <= 90_000  # the task's ttl
        release.set()
        await first.result(timeout=5)


# -- 2. a wait for a task that no longer exists ends ------------------------------------


async def test_2_result_without_timeout_on_an_expired_outcome_raises_task_not_found(
    worker: Worker[None], redis: Redis
) -> None:
    @worker.task(ttl=timedelta(milliseconds=200))
    async def brief(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker.running():
        handle = await brief.enqueue()
        assert await handle.result(timeout=5) == 1
        await wait_until(
            lambda: _gone(redis, worker.client.keys.result(handle.id)), what="the expiry"
        )
        with pytest.raises(TaskNotFound):
            await _ends(handle.result())
        with pytest.raises(TaskNotFound):
            await _ends(brief.handle(handle.id).outcome())


async def test_2_waiter_of_a_task_lost_with_redis_raises_task_not_found(
    redis_server: RedisServer, worker: Worker[None]
) -> None:
    @worker.task()
    async def never_runs(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker:  # nothing consumes
        handle = never_runs.enqueue()
        waiter = asyncio.ensure_future(handle.result())
        await wait_until(_sent(handle), what="the task to be sent")
        redis_server.restart()  # no persistence: the task is gone
        with pytest.raises(TaskNotFound):
            await _ends(waiter, 20)


# -- 3. a stall longer than the lease --------------------------------------------------


async def test_3_a_stalled_worker_does_not_reclaim_its_own_running_task(
    make_worker: WorkerFactory,
) -> None:
    worker = make_worker(lease=1.0)
    runs: list[int] = []

    @worker.task(max_tries=3)
    async def long(ctx: WrappedContext[None]) -> str:
        runs.append(ctx.tries)
        await asyncio.sleep(0.3)
        time.sleep(1.6)  # noqa: ASYNC251  (the point: the event loop stalls past the lease)
        await asyncio.sleep(1.1)
        return "real result"

    async with worker.running():
        outcome = await long.enqueue().outcome(timeout=20)
    assert outcome.value == "real result", outcome.error
    assert outcome.tries == 1
    assert runs == [1]


async def test_3_a_renewal_racing_a_finish_is_not_taken_for_a_lapsed_lease(
    make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    worker = make_worker()
    renewals: list[None] = []

    @worker.task()
    async def quick(ctx: WrappedContext[None]) -> int:
        return 7

    finish = Scripts.finish

    async def finish_then_renew(self: Scripts, *args: Any, **kwargs: Any) -> list[bool]:
        applied = await finish(self, *args, **kwargs)
        # the race, made certain: a renewal reaches Redis after the outcome was
        # written and before the worker heard back (so it still holds the delivery)
        run = worker._run
        assert run is not None and run._consumer is not None
        await run._consumer._leases.renew()
        renewals.append(None)
        return applied

    monkeypatch.setattr(Scripts, "finish", finish_then_renew)
    caplog.set_level(logging.INFO, logger="relayq.worker")
    async with worker.running():
        assert await quick.enqueue().result(timeout=10) == 7

        async def renewed() -> bool:
            return bool(renewals)

        await wait_until(renewed, what="the renewal after the finish")
    assert not [r.getMessage() for r in caplog.records if "lapsed" in r.getMessage()]


async def test_3_two_priorities_handing_out_one_entry_id_both_stay_leased(
    make_worker: WorkerFactory, redis: Redis, queue_name: str
) -> None:
    """Entry ids are unique within one stream only: two priorities' streams hand out
    the same id in the same millisecond (recover.lua often does, in one call). The
    worker once filed its deliveries by (entry id, try): one of the two was never
    renewed, and another worker ran it again. Found by checker seed 1007."""
    levels = ["high", "default"]
    first = make_worker(lease=1.0, priorities=levels)
    second = make_worker(lease=1.0, priorities=levels)
    runs: list[tuple[int, int]] = []

    async def nap(ctx: WrappedContext[None], n: int) -> int:
        runs.append((n, ctx.tries))
        await asyncio.sleep(2.5)  # over two leases: renewals must keep it
        return n

    task = first.task()(nap)
    second.task()(nap)
    keys = Keys(queue_name)
    async with first:
        a = await task.enqueue(1).start(priority="high")
        b = await task.enqueue(2).start()
    # give both tasks the same entry id, each on its own stream, as a same-millisecond
    # XADD on both streams would
    same = f"{int(time.time() * 1000) + 1000}-0"
    for handle, level in ((a, "high"), (b, "default")):
        stream = keys.stream_for(level)
        old = await task_field(redis, keys, handle.id, ENTRY)
        assert old is not None
        await redis.xdel(stream, old)
        await redis.xadd(stream, {"i": handle.id}, id=same)
        await redis.hset(keys.task(handle.id), ENTRY, same)

    async with first.running():

        async def both_started() -> bool:
            return len(runs) == 2

        await wait_until(both_started, what="both tasks started on the first worker")
        async with second.running():  # reclaims whatever the first lets lapse
            assert await _ends(a.result(timeout=15)) == 1
            assert await _ends(b.result(timeout=15)) == 2
    assert sorted(runs) == [(1, 1), (2, 1)]


# -- 4. one generation per task id -----------------------------------------------------


async def test_4_abort_then_the_same_key_again_never_runs_twice(
    worker: Worker[None], redis: Redis
) -> None:
    runs: list[str] = []
    both_may_run = asyncio.Event()

    @worker.task()
    async def once(ctx: WrappedContext[None], label: str) -> str:
        runs.append(label)
        await asyncio.wait_for(both_may_run.wait(), 0.5) if len(runs) > 1 else None
        return label

    async with worker:
        first = await once.enqueue("first").start(key="k")
        assert await first.abort()
        second = await once.enqueue("second").start(key="k")
        assert second.id == first.id == "k"
    async with worker.running():
        assert await second.result(timeout=5) == "second"
        await asyncio.sleep(0.3)  # a stale entry would be taken by now
    assert runs == ["second"]
    assert not await live_task_ids(redis, worker.client.keys)


async def test_4_no_abort_flag_outlives_its_task(make_worker: WorkerFactory, redis: Redis) -> None:
    worker = make_worker(grace_period=5)
    started = asyncio.Event()
    runs: list[int] = []

    @worker.task()
    async def job(ctx: WrappedContext[None], n: int) -> int:
        runs.append(n)
        started.set()
        await asyncio.sleep(0.3 if n == 1 else 0)
        return n

    keys = worker.client.keys
    async with worker:
        first = await job.enqueue(1).start(key="same")
        # the abort is flagged on the task while a worker holds it ...
        async with worker.running():
            await asyncio.wait_for(started.wait(), 5)
            assert await first.abort(timeout=5)
        assert not await redis.exists(keys.task("same"))
        # ... and goes with it: the next task under the id runs normally
        again = await job.enqueue(2).start(key="same")
        assert await task_field(redis, keys, again.id, "a") is None
        async with worker.running():
            assert await again.result(timeout=5) == 2
    assert runs == [1, 2]


# -- 5. a lapsed lease behind many live ones ---------------------------------------------


async def test_5_lapsed_lease_behind_many_live_ones_is_reclaimed(
    make_worker: WorkerFactory, redis: Redis
) -> None:
    worker = make_worker(lease=1.0, concurrency=1, queue_fetch_limit=1)

    @worker.task()
    async def item(ctx: WrappedContext[None], n: int) -> int:
        return n

    keys = worker.client.keys
    async with worker:
        live = await worker.enqueue_many([item.enqueue(i) for i in range(300)])
        lapsed = await item.enqueue(-1)
        await redis.xgroup_create(keys.stream, GROUP, id="0", mkstream=True)
        # a live worker holds the 300 older entries and keeps renewing them; a dead
        # one holds the newest, whose lease lapses
        await redis.xreadgroup(GROUP, "alive", {keys.stream: ">"}, count=300)
        await redis.xreadgroup(GROUP, "dead", {keys.stream: ">"}, count=1)
        stop = asyncio.Event()

        async def renew_alive() -> None:
            while not stop.is_set():
                pending: Any = await redis.xpending_range(
                    keys.stream, GROUP, "-", "+", 1000, "alive"
                )
                ids = [p["message_id"] for p in pending]
                if ids:
                    await redis.xclaim(keys.stream, GROUP, "alive", 0, ids, justid=True)
                await asyncio.sleep(0.2)

        renewer = asyncio.ensure_future(renew_alive())
        try:
            async with worker.running():
                assert await lapsed.result(timeout=15) == -1
        finally:
            stop.set()
            await renewer
        assert all(not h.id == lapsed.id for h in live)


# -- 7. a sync task given up on before its thread started ---------------------------------


async def test_7_sync_task_that_timed_out_before_its_thread_started_never_runs(
    make_worker: WorkerFactory,
) -> None:
    worker = make_worker(concurrency=1)
    ran = threading.Event()

    @worker.task(timeout=0.1)
    def hog(ctx: WrappedContext[None]) -> None:
        time.sleep(1.0)  # times out at 0.1 s; its thread runs on to 1 s

    @worker.task(timeout=0.2)
    def late(ctx: WrappedContext[None]) -> None:
        ran.set()

    async with worker.running():
        with pytest.raises(TaskFailed, match="timeout"):
            await hog.enqueue().result(timeout=5)
        # the only thread is still busy with hog: late waits for it, and times out
        with pytest.raises(TaskFailed, match="timeout"):
            await late.enqueue().result(timeout=5)
        await asyncio.sleep(1.2)  # hog's thread is free again
    assert not ran.is_set(), "a task that timed out before it started ran later"


# -- 8. scripts come back after the server forgot them ------------------------------------


async def test_8_enqueue_many_after_script_flush(worker: Worker[None], redis: Redis) -> None:
    @worker.task()
    async def double(ctx: WrappedContext[None], n: int) -> int:
        return 2 * n

    async with worker.running():
        await redis.script_flush()
        small = await worker.enqueue_many([double.enqueue(i) for i in range(10)])
        await redis.script_flush()
        big = await worker.enqueue_many([double.enqueue(i) for i in range(2500)])  # a pipeline
        results = await asyncio.gather(*(h.result(timeout=20) for h in small + big))
    assert results == [2 * i for i in range(10)] + [2 * i for i in range(2500)]


async def test_8_enqueue_many_after_a_redis_restart(
    redis_server: RedisServer, worker: Worker[None]
) -> None:
    @worker.task()
    async def double(ctx: WrappedContext[None], n: int) -> int:
        return 2 * n

    async with worker:
        await worker.enqueue_many([double.enqueue(i) for i in range(3)])
        redis_server.restart()  # a new server: no scripts cached, no data
        handles: list[TaskResult[int]] = []
        for _ in range(50):  # the first calls may meet connections that died with it
            try:
                handles = await worker.enqueue_many([double.enqueue(i) for i in range(1500)])
                break
            except RedisUnavailable:
                await asyncio.sleep(0.1)
        assert handles, "enqueue_many never worked again"
        async with worker.running():
            assert [await h.result(timeout=20) for h in handles] == [2 * i for i in range(1500)]


# -- 10. no secret anywhere ------------------------------------------------------------


async def test_10_the_password_appears_in_no_log_error_or_repr(
    redis: Redis, redis_url: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    password = "s3cret-Pa55word-xyzzy"
    user = "u" + queue_name[:12]
    await redis.acl_setuser(user, enabled=True, passwords=[f"+{password}"], commands=["+@all"],
                            keys=["*"], channels=["*"])  # fmt: skip
    host = redis_url.removeprefix("redis://")
    good = f"redis://{user}:{password}@{host}"
    wrong = f"redis://{user}:{password}-wrong@{host}"
    unreachable = f"redis://{user}:{password}@127.0.0.1:1"
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)
    try:
        worker = Worker(good, queue_name=queue_name)

        @worker.task()
        async def echo(ctx: WrappedContext[None], x: str) -> str:
            return x

        seen += [repr(worker), repr(worker.client), worker.client.safe_url]
        try:
            worker.client.redis  # noqa: B018
        except NotConnected as exc:
            seen.append(str(exc))
        async with worker.running():
            assert await echo.enqueue("hi").result(timeout=5) == "hi"
            seen += [repr(worker), repr(echo.enqueue("x")._claim())]
        for url, expected in ((wrong, ConfigurationError), (unreachable, RedisUnavailable)):
            with pytest.raises(expected) as excinfo:
                async with Client(url, queue_name):
                    pass
            seen += [str(excinfo.value), repr(excinfo.value), repr(Client(url, queue_name))]
            seen += [str(c) for c in _causes(excinfo.value)]
    finally:
        await redis.acl_deluser(user)
    seen += [record.getMessage() for record in caplog.records]
    seen += [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    leaks = [text for text in seen if password in text]
    assert not leaks, leaks
    assert any("***" in text for text in seen)


# -- 11. signatures that cannot be replayed, outcomes that cannot be forged ----------------


async def test_11_a_signed_task_copied_under_another_id_is_rejected(
    make_worker: WorkerFactory, redis: Redis
) -> None:
    worker = make_worker(signing_key=KEY)
    runs: list[str] = []

    @worker.task()
    async def pay(ctx: WrappedContext[None], amount: int) -> int:
        runs.append(ctx.task_id)
        return amount

    keys = worker.client.keys
    async with worker:
        original = await pay.enqueue(100).start(delay=60)  # signed, waiting
        fields: Any = await redis.hgetall(keys.task(original.id))
        copy = "replayed-" + original.id
        entry = await redis.xadd(keys.stream, {"i": copy})
        await redis.hset(keys.task(copy), mapping={**fields, b"x": entry})
        async with worker.running():
            with pytest.raises(TaskFailed) as excinfo:
                await pay.handle(copy).result(timeout=5)
            assert excinfo.value.exc_type == "InvalidSignature"
            assert await original.unschedule()
    assert runs == []


async def test_11_an_outcome_written_without_the_key_is_not_trusted(
    make_worker: WorkerFactory, redis: Redis
) -> None:
    worker = make_worker(signing_key=KEY)

    @worker.task()
    async def value(ctx: WrappedContext[None]) -> int:
        return 1

    keys = worker.client.keys
    async with worker.running():
        handle = await value.enqueue()
        assert await handle.result(timeout=5) == 1
        # someone with Redis access but no key writes an outcome of their choosing
        forged = encode_success(serialize, 1_000_000, 1, 0, 0, 0, "w", "value")
        await redis.set(keys.result(handle.id), forged)
        with pytest.raises(InvalidSignature):
            await handle.result(timeout=5)


# -- 12. smaller ones ------------------------------------------------------------------


async def test_12_a_malformed_inbox_message_does_not_reset_the_listener(
    worker: Worker[None], redis: Redis
) -> None:
    release = asyncio.Event()

    @worker.task()
    async def slow(ctx: WrappedContext[None]) -> str:
        await release.wait()
        return "done"

    async with worker.running():
        handle = slow.enqueue()
        waiter = asyncio.ensure_future(handle.result(timeout=10))
        await wait_until(_sent(handle), what="the task to be sent")
        before = {c["id"] for c in await client_list(redis) if int(c.get("sub", 0))}
        inbox = worker.client.keys.inbox(worker.client.client_id)
        for garbage in (
            b"garbage",
            b"99:short",
            b"\xff:x",
            f"{len(handle.id)}:{handle.id}x".encode(),
        ):
            await redis.publish(inbox, garbage)
        await asyncio.sleep(0.2)
        after = {c["id"] for c in await client_list(redis) if int(c.get("sub", 0))}
        assert before == after, "the pub/sub connection was dropped and made again"
        release.set()
        assert await waiter == "done"


async def test_12_a_task_outlasting_every_grace_period_reaches_max_tries(
    make_worker: WorkerFactory,
) -> None:
    worker = make_worker(grace_period=0.1)
    started = asyncio.Event()

    @worker.task(max_tries=2)
    async def endless(ctx: WrappedContext[None]) -> None:
        started.set()
        await asyncio.Event().wait()

    async with worker:
        handle = await endless.enqueue()
        for _ in range(2):  # each time the worker stops, the task is handed back
            started.clear()
            async with worker.running():
                await asyncio.wait_for(started.wait(), 5)
        async with worker.running():
            with pytest.raises(TaskFailed) as excinfo:
                await handle.result(timeout=5)
    assert excinfo.value.exc_type == "MaxTriesExceeded"


async def test_12_a_lapsed_entry_deleted_from_its_stream_is_dropped(
    make_worker: WorkerFactory, redis: Redis
) -> None:
    worker = make_worker(lease=0.5)

    @worker.task()
    async def ok(ctx: WrappedContext[None]) -> int:
        return 1

    keys = worker.client.keys
    await redis.xgroup_create(keys.stream, GROUP, id="0", mkstream=True)
    entry = await redis.xadd(keys.stream, {"i": "gone"})
    await redis.xreadgroup(GROUP, "dead", {keys.stream: ">"}, count=1)
    await redis.xdel(keys.stream, entry)  # pending for a dead worker, deleted from the stream
    await asyncio.sleep(0.6)
    async with worker.running():
        assert await ok.enqueue().result(timeout=5) == 1

        async def cleared() -> bool:
            return int((await redis.xpending(keys.stream, GROUP))["pending"]) == 0

        await wait_until(cleared, what="the deleted entry to leave the pending list")


async def test_12_a_result_over_the_size_limit_fails_the_task(
    make_worker: WorkerFactory,
) -> None:
    worker = make_worker(max_payload_bytes=1000)

    @worker.task()
    async def big(ctx: WrappedContext[None]) -> str:
        return "x" * 5000

    async with worker.running():
        with pytest.raises(TaskFailed) as excinfo:
            await big.enqueue().result(timeout=5)
    assert excinfo.value.exc_type == "ResultTooLarge"
    assert "1000" in excinfo.value.message


# -- helpers -----------------------------------------------------------------------


def _sent(handle: TaskResult[Any]) -> Any:
    async def sent() -> bool:
        return handle.sent

    return sent


async def _holder(redis: Redis, worker: Worker[None], task_id: str) -> bool:
    return bool(await redis.hget(worker.client.keys.task(task_id), "w"))


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)


def _causes(exc: BaseException) -> list[BaseException]:
    chain = []
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        assert nxt is not None
        chain.append(nxt)
        exc = nxt
    return chain
