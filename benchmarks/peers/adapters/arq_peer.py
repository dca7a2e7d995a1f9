"""arq adapter (https://github.com/python-arq/arq); runs in the arq venv.

arq's worker sleeps ``poll_delay`` seconds (library default 0.5) between polls
of its queue; that sleep, not Redis, sets its throughput and latency.
``compare.py --arq-poll-delay`` passes another value through the environment.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import benchrt
from arq import create_pool  # type: ignore[import-not-found]
from arq.connections import RedisSettings  # type: ignore[import-not-found]
from arq.worker import Worker  # type: ignore[import-not-found]

POLL_DELAY = float(os.environ.get("PEERS_ARQ_POLL_DELAY", "0.5"))
ENQUEUE_INFLIGHT = 32

NAME = "arq"
DIST = "arq"
NOTES = {
    "enqueue": f"pool.enqueue_job('noop', i) x n, {ENQUEUE_INFLIGHT} in flight "
    "(no bulk enqueue; each call is its own WATCH/MULTI/EXEC pipeline)",
    "worker": f"Worker(max_jobs=32, burst=True, poll_delay={POLL_DELAY:g}s"
    f"{' (default)' if POLL_DELAY == 0.5 else ' (default 0.5s)'}); await worker.async_run()",
    "rtt": "job = await pool.enqueue_job('noop', i); await job.result(poll_delay=POLL) "
    "(client polls every --poll seconds; default 0.5s)",
    "config": "pickle serializer (default), keep_result=3600s (default)",
}

_settings: Any = None
_pool: Any = None
_worker: Any = None


async def noop(ctx: dict[str, Any], i: int) -> int:
    benchrt.task_done(i)
    return i


async def sleep(ctx: dict[str, Any], i: int) -> int:
    await asyncio.sleep(benchrt.sleep_s)
    benchrt.task_done(i)
    return i


async def setup(redis_url: str, role: str) -> None:
    global _settings, _pool
    _settings = RedisSettings.from_dsn(redis_url)
    if role == "client":
        _pool = await create_pool(_settings)


async def enqueue_many(n: int, task: str) -> None:
    sem = asyncio.Semaphore(ENQUEUE_INFLIGHT)

    async def one(i: int) -> None:
        async with sem:
            if await _pool.enqueue_job(task, i) is None:
                raise RuntimeError("arq refused to enqueue (duplicate job id)")

    await asyncio.gather(*(one(i) for i in range(n)))


def _make(concurrency: int, burst: bool) -> Any:
    return Worker(
        functions=[noop, sleep],
        redis_settings=_settings,
        max_jobs=concurrency,
        burst=burst,
        poll_delay=POLL_DELAY,
        handle_signals=False,
    )


async def run_worker_burst(concurrency: int) -> int:
    w = _make(concurrency, burst=True)
    try:
        await w.async_run()
    finally:
        await w.close()
    if w.jobs_failed:
        raise RuntimeError(f"arq: {w.jobs_failed} jobs failed")
    return benchrt.executed


async def run_worker(concurrency: int) -> None:
    w = _make(concurrency, burst=False)
    try:
        await w.async_run()
    finally:
        await asyncio.shield(w.close())


async def roundtrip(i: int) -> Any:
    job = await _pool.enqueue_job("noop", i)
    assert job is not None
    return await job.result(poll_delay=benchrt.poll_interval)


async def teardown() -> None:
    global _pool
    if _pool is not None:
        await _pool.aclose()
    _pool = None
