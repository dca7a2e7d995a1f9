"""taskiq adapter (https://github.com/taskiq-python/taskiq) on taskiq-redis streams.

taskiq has no burst mode: the harness stops the receiver once all N task bodies
ran (``benchrt.wait_all``; with several processes the harness decides and sends
SIGUSR1). Runs in the taskiq venv.
"""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import benchrt
from taskiq.receiver import Receiver  # type: ignore[import-not-found]
from taskiq_redis import (  # type: ignore[import-not-found]
    RedisAsyncResultBackend,
    RedisStreamBroker,
)

ENQUEUE_INFLIGHT = 32
STOP_TIMEOUT = 10.0
PREFETCH = 32  # as `taskiq worker --max-async-tasks 32 --max-prefetch 32` in streaq's bench
NATIVE_BURST = False
WARNINGS: list[str] = []

NAME = "taskiq"
DIST = "taskiq"
EXTRA_DISTS = ["taskiq-redis", "redis"]
NOTES = {
    "enqueue": f"await noop.kiq(i) x n, {ENQUEUE_INFLIGHT} in flight "
    "(no bulk kick; one XADD per task)",
    "worker": f"RedisStreamBroker(xread_count=32) + Receiver(max_async_tasks=32, "
    f"max_prefetch={PREFETCH}) = what `taskiq worker` builds; no burst mode, so the "
    "receiver is stopped once all n task bodies ran",
    "rtt": "t = await noop.kiq(i); await t.wait_result(check_interval=POLL) "
    "(client polls the result key every --poll seconds; default 0.2s)",
    "config": "RedisAsyncResultBackend(result_ex_time=1) as streaq's bench_taskiq.py; "
    "json formatter (default); ack when the result is saved (default)",
}

_broker: Any = None
_tasks: dict[str, Any] = {}


async def _noop(i: int) -> int:
    benchrt.task_done(i)
    return i


async def _sleep(i: int) -> int:
    await asyncio.sleep(benchrt.sleep_s)
    benchrt.task_done(i)
    return i


async def setup(redis_url: str, role: str) -> None:
    global _broker
    _broker = RedisStreamBroker(redis_url, xread_count=32).with_result_backend(
        RedisAsyncResultBackend(redis_url, result_ex_time=1)
    )
    if role == "worker":
        _broker.is_worker_process = True  # `taskiq worker` sets this before importing tasks
    _tasks["noop"] = _broker.task(task_name="noop")(_noop)
    _tasks["sleep"] = _broker.task(task_name="sleep")(_sleep)
    if role == "client":
        await _broker.startup()  # declares the consumer group (id "$") before enqueueing


async def enqueue_many(n: int, task: str) -> None:
    sem = asyncio.Semaphore(ENQUEUE_INFLIGHT)
    fn = _tasks[task]

    async def one(i: int) -> None:
        async with sem:
            await fn.kiq(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def _run(concurrency: int, finish: asyncio.Event) -> None:
    with ThreadPoolExecutor() as pool:
        receiver = Receiver(
            broker=_broker, executor=pool, max_async_tasks=concurrency, max_prefetch=PREFETCH
        )
        try:
            await receiver.listen(finish)
        finally:
            await asyncio.shield(_broker.shutdown())


async def run_worker_burst(concurrency: int) -> int:
    finish = asyncio.Event()
    listener = asyncio.get_running_loop().create_task(_run(concurrency, finish))
    waiter = asyncio.get_running_loop().create_task(benchrt.wait_all())
    done, _ = await asyncio.wait({listener, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if listener in done:  # the receiver died before the work was done
        waiter.cancel()
        listener.result()
        raise RuntimeError("taskiq receiver exited early")
    finish.set()
    done, _ = await asyncio.wait({listener}, timeout=STOP_TIMEOUT)
    if done:
        listener.result()
        return benchrt.executed
    # Seen with taskiq 0.13.0 / taskiq-redis 1.2.4 / redis-py 8.1.0: after the
    # finish event, Receiver.listen() sometimes never returns (its XREADGROUP read
    # keeps waiting on the socket). Cancel it; the child's exit watchdog does the rest.
    print(
        f"taskiq: Receiver.listen() still running {STOP_TIMEOUT:g}s after finish", file=sys.stderr
    )
    listener.cancel()
    done, _ = await asyncio.wait({listener}, timeout=3)
    WARNINGS.append(
        f"Receiver.listen() did not return within {STOP_TIMEOUT:g}s of its finish event "
        f"(all {benchrt.executed} tasks already done); "
        + ("cancelled it" if done else "it ignored cancellation too")
    )
    return benchrt.executed


async def run_worker(concurrency: int) -> None:
    await _run(concurrency, asyncio.Event())


async def roundtrip(i: int) -> Any:
    task = await _tasks["noop"].kiq(i)
    res = await task.wait_result(check_interval=benchrt.poll_interval, timeout=30)
    if res.is_err:
        raise RuntimeError(f"taskiq task failed: {res.error}")
    return res.return_value


async def teardown() -> None:
    global _broker
    if _broker is not None and not _broker.is_worker_process:
        await _broker.shutdown()
    _broker = None
