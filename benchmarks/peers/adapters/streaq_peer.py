"""streaq adapter (https://github.com/tastyware/streaq); runs in the streaq venv."""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from typing import Any

# The switch streaq's own benchmarks/bench_streaq.py flips: no runtime type
# validation in coredis. It must be set before streaq/coredis build clients.
os.environ.setdefault("COREDIS_OPTIMIZED", "1")

import benchrt
import coredis  # type: ignore[import-not-found]
from streaq import Worker  # type: ignore[import-not-found]

coredis.Config.optimized = True

NAME = "streaq"
DIST = "streaq"
NOTES = {
    "enqueue": "worker.enqueue_many([noop.enqueue(i) for i in range(n)]): "
    "one non-transactional pipeline of the streaq Lua publish_task function",
    "worker": "Worker(concurrency=32, prefetch=default 2x32); worker.burst=True; "
    "await worker.run_async()  (what `streaq run --burst` does)",
    "rtt": "t = await noop.enqueue(i); await t.result()  (pub/sub, no polling; each call opens "
    "a coredis PubSub whose exit waits its 0.1 s unsubscription_timeout)",
    "config": "coredis.Config.optimized=True (as streaq's benchmarks/bench_streaq.py); "
    "pickle serializer (default)",
}

_url = ""
_stack: AsyncExitStack | None = None
_client: tuple[Any, Any, Any] | None = None
_running: Any = None


async def _noop(i: int) -> int:
    benchrt.task_done(i)
    return i


async def _sleep(i: int) -> int:
    await asyncio.sleep(benchrt.sleep_s)
    benchrt.task_done(i)
    return i


def _make(concurrency: int = 32) -> tuple[Any, Any, Any]:
    w = Worker(redis_url=_url, concurrency=concurrency, handle_signals=False)
    return w, w.task(name="noop")(_noop), w.task(name="sleep")(_sleep)


async def setup(redis_url: str, role: str) -> None:
    global _url, _stack, _client
    _url = redis_url
    if role == "client":  # a Worker object used as a client: connected, Lua library loaded
        _stack = AsyncExitStack()
        _client = _make()
        await _stack.enter_async_context(_client[0])


async def enqueue_many(n: int, task: str) -> None:
    assert _client is not None
    w, noop, sleep = _client
    fn = sleep if task == "sleep" else noop
    await w.enqueue_many([fn.enqueue(i) for i in range(n)])


async def run_worker_burst(concurrency: int) -> int:
    w, _, _ = _make(concurrency)
    w.burst = True
    await w.run_async()
    return benchrt.executed


async def run_worker(concurrency: int) -> None:
    w, _, _ = _make(concurrency)
    await w.run_async()


async def roundtrip(i: int) -> Any:
    assert _client is not None
    task = await _client[1].enqueue(i)
    res = await task.result()
    return res.result


async def teardown() -> None:
    global _stack, _client
    if _stack is not None:
        await _stack.aclose()
    _stack = _client = None
