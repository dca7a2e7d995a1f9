"""SAQ adapter (https://github.com/tobymao/saq), Redis queue; runs in the saq venv."""

from __future__ import annotations

import asyncio
from typing import Any

import benchrt
from saq import Queue, Worker  # type: ignore[import-not-found]

ENQUEUE_INFLIGHT = 32
DEQUEUE_TIMEOUT = 1.0  # must be > 0 in burst mode; as streaq's benchmarks/bench_saq.py

NAME = "saq"
DIST = "saq"
NOTES = {
    "enqueue": f"queue.enqueue('noop', i=i) x n, {ENQUEUE_INFLIGHT} in flight "
    "(no bulk enqueue; one EVALSHA per job, saq caps in-flight ops at 20)",
    "worker": f"Worker(queue, concurrency=32, burst=True, dequeue_timeout={DEQUEUE_TIMEOUT:g}); "
    "await worker.start()",
    "rtt": "await queue.apply('noop', i=i, poll_interval=POLL) "
    "(apply() polls every --poll seconds; library default 0.5s)",
    "config": "json serializer (default)",
}

_queue: Any = None


async def noop(ctx: dict[str, Any], *, i: int) -> int:
    benchrt.task_done(i)
    return i


async def sleep(ctx: dict[str, Any], *, i: int) -> int:
    await asyncio.sleep(benchrt.sleep_s)
    benchrt.task_done(i)
    return i


async def setup(redis_url: str, role: str) -> None:
    global _queue
    _queue = Queue.from_url(redis_url)
    await _queue.connect()


async def enqueue_many(n: int, task: str) -> None:
    sem = asyncio.Semaphore(ENQUEUE_INFLIGHT)

    async def one(i: int) -> None:
        async with sem:
            if await _queue.enqueue(task, i=i) is None:
                raise RuntimeError("saq refused to enqueue (duplicate key)")

    await asyncio.gather(*(one(i) for i in range(n)))


async def run_worker_burst(concurrency: int) -> int:
    w = Worker(
        _queue,
        functions=[noop, sleep],
        concurrency=concurrency,
        burst=True,
        dequeue_timeout=DEQUEUE_TIMEOUT,
    )
    await w.start()
    return benchrt.executed


async def run_worker(concurrency: int) -> None:
    w = Worker(_queue, functions=[noop, sleep], concurrency=concurrency)
    try:
        await w.start()
    finally:
        await asyncio.shield(w.stop())


async def roundtrip(i: int) -> Any:
    return await _queue.apply("noop", i=i, poll_interval=benchrt.poll_interval)


async def teardown() -> None:
    global _queue
    if _queue is not None:
        await _queue.disconnect()
    _queue = None
