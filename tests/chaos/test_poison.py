"""A poison pill: a task that takes its worker process down on every try fails
with ``MaxTriesExceeded`` instead of killing worker after worker. (Bad input that
a worker survives is in tests/worker/test_bad_input.py.)
"""

from __future__ import annotations

import signal

import pytest
from redis.asyncio import Redis

from sdk.client import Client
from tests.chaos._support import ChaosStubs, Spawner
from tests.helpers import fails_with, wait_until

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
    error = await fails_with(handle, "MaxTriesExceeded", "max_tries is 2")
    assert deaths == 2
    assert int(await redis.hget(spawn.ns + ":execs", "1") or 0) == 2, "ran max_tries times"
    assert worker.alive, worker.log()
    assert await stubs.add.enqueue(2, 2).result(timeout=10) == 4
    assert "MaxTriesExceeded" in worker.log()
    assert error.traceback == ""
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(10) == 0


@pytest.mark.timeout(60)
async def test_6_sys_exit_in_a_task_fails_that_task_and_the_worker_lives_on(
    spawn: Spawner, stubs: ChaosStubs, redis: Redis
) -> None:
    """Regression (issue 8, case 6): ``sys.exit(0)`` in a task used to end the worker
    process with status 0, abandoning the task running beside it, and the poison
    task then took down ``max_tries`` workers in turn."""
    worker = spawn("w", lease=1.0)
    await worker.ready()
    beside = await stubs.record.enqueue(5, 1.0)
    await wait_until(
        lambda: _ran(redis, spawn.ns, "5"), timeout=10, what="the task beside it to start"
    )
    for code in (0, 3):
        error = await fails_with(stubs.exits.enqueue(code), "SystemExit", str(code))
        assert error.traceback, "the remote traceback is kept"
    assert await beside.result(timeout=10) == 10
    assert int(await redis.hget(spawn.ns + ":execs", "exits") or 0) == 2, "each ran once"
    assert worker.alive, worker.log()
    assert await stubs.add.enqueue(2, 2).result(timeout=10) == 4
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(10) == 0


async def _ran(redis: Redis, ns: str, key: str) -> bool:
    return bool(await redis.hget(ns + ":execs", key))
