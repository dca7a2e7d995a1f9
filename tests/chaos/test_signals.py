"""SIGTERM in the middle of work: prefetched tasks go back at once, running ones
finish within the grace period (or are cancelled and handed back), the process
exits 0 in time, and another worker finishes the rest: nothing is lost.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from redis.asyncio import Redis

from sdk import TaskOutcome, TaskResult
from sdk.client import Client
from tests.chaos._support import ChaosStubs, Spawner
from tests.helpers import live_task_ids, wait_until


async def _executions(redis: Redis, spawn: Spawner) -> tuple[dict[int, int], dict[int, int]]:
    execs = await redis.hgetall(spawn.ns + ":execs")
    finished = await redis.hgetall(spawn.ns + ":finished")
    return (
        {int(k): int(v) for k, v in execs.items()},
        {int(k): int(v) for k, v in finished.items()},
    )


async def _wait_running(redis: Redis, spawn: Spawner, n: int) -> None:
    async def started() -> bool:
        return int(await redis.hlen(spawn.ns + ":execs")) >= n

    await wait_until(started, timeout=20, what=f"{n} tasks to start")


async def _all_outcomes(handles: list[TaskResult[int]], timeout: float) -> list[TaskOutcome[int]]:
    return await asyncio.wait_for(asyncio.gather(*(h.outcome() for h in handles)), timeout)


async def _assert_clean(redis: Redis, client: Client) -> None:
    keys = client.keys
    assert not await live_task_ids(redis, keys)
    assert (await redis.xpending(keys.stream, "workers"))["pending"] == 0


@pytest.mark.timeout(60)
async def test_sigterm_mid_50_two_second_tasks(
    spawn: Spawner,
    client: Client,
    stubs: ChaosStubs,
    redis: Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    grace = 3.0
    a = spawn("a", concurrency=20, grace=grace)  # holds 40: 20 running, 20 prefetched
    await a.ready()
    handles = await client.enqueue_many([stubs.record.enqueue(i, 2.0) for i in range(50)])
    await _wait_running(redis, spawn, 20)
    await asyncio.sleep(0.5)  # mid-task

    a.send(signal.SIGTERM)
    signalled = time.monotonic()
    code = await a.wait_exit(grace + 5)
    exit_s = time.monotonic() - signalled
    log = a.log()
    assert code == 0, log
    assert exit_s <= grace + 1.0, f"exit took {exit_s:.2f} s (grace {grace} s)"
    assert "handed back 20 tasks to the queue" in log, log
    assert "grace period over" not in log, log
    execs, finished = await _executions(redis, spawn)
    assert len(execs) == 20 and len(finished) == 20, "the running 20 finished in the grace period"

    b = spawn("b", concurrency=30, grace=grace)  # a second worker finishes the rest
    outcomes = await _all_outcomes(handles, timeout=30)
    assert [o.value for o in outcomes] == [2 * i for i in range(50)]
    execs, finished = await _executions(redis, spawn)
    assert execs == dict.fromkeys(range(50), 1), "a graceful stop runs nothing twice"
    assert finished == execs
    await _assert_clean(redis, client)
    with capsys.disabled():
        print(
            f"\nsigterm: 50 x 2 s tasks, 20 running + 20 prefetched at SIGTERM; "
            f"exit code {code} after {exit_s:.2f} s (grace {grace} s); lost=0, duplicates=0"
        )
    b.send(signal.SIGTERM)
    assert await b.wait_exit(10) == 0


@pytest.mark.timeout(60)
async def test_sigterm_grace_over_cancels_and_hands_back(
    spawn: Spawner, client: Client, stubs: ChaosStubs, redis: Redis
) -> None:
    grace = 0.5
    a = spawn("a", concurrency=10, fetch_limit=10, grace=grace)
    await a.ready()
    handles = await client.enqueue_many([stubs.record.enqueue(i, 2.0) for i in range(20)])
    await _wait_running(redis, spawn, 10)

    a.send(signal.SIGTERM)
    signalled = time.monotonic()
    code = await a.wait_exit(grace + 5)
    exit_s = time.monotonic() - signalled
    assert code == 0, a.log()
    assert exit_s <= grace + 1.0, f"exit took {exit_s:.2f} s (grace {grace} s)"
    assert "grace period over: cancelling 10 tasks" in a.log(), a.log()
    assert "handed back 10 tasks to the queue" in a.log(), a.log()

    spawn("b", concurrency=20)
    outcomes = await _all_outcomes(handles, timeout=30)
    assert [o.value for o in outcomes] == [2 * i for i in range(20)]
    execs, finished = await _executions(redis, spawn)
    interrupted = {i for i, n in execs.items() if n == 2}
    assert len(interrupted) == 10, execs  # cancelled at the deadline, then run again
    assert finished == dict.fromkeys(range(20), 1)
    await _assert_clean(redis, client)


@pytest.mark.timeout(60)
async def test_second_sigterm_exits_at_once(
    spawn: Spawner, client: Client, stubs: ChaosStubs, redis: Redis
) -> None:
    a = spawn("a", concurrency=5, grace=30.0)
    await a.ready()
    handles = await client.enqueue_many([stubs.record.enqueue(i, 3.0) for i in range(5)])
    await _wait_running(redis, spawn, 5)

    a.send(signal.SIGTERM)
    await a.wait_for_log("shutting down gracefully")
    a.send(signal.SIGTERM)
    second = time.monotonic()
    code = await a.wait_exit(10)
    exit_s = time.monotonic() - second
    assert code == 0, a.log()
    assert exit_s < 1.0, f"the second signal took {exit_s:.2f} s to end the worker"
    assert "handed back 5 tasks" in a.log(), a.log()

    spawn("b", concurrency=5)
    outcomes = await _all_outcomes(handles, timeout=30)
    assert [o.value for o in outcomes] == [2 * i for i in range(5)]
    await _assert_clean(redis, client)
