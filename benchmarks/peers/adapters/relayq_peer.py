"""relayq adapter (this repository, installed editable in the relayq venv).

Two enqueue variants, chosen by the harness (``benchrt.variant``):

- ``batch`` (default): ``await worker.enqueue_many([noop.enqueue(i) for i in range(n)])``
  (one pipeline of batched Lua calls, 1,000 tasks each);
- ``single``: ``await noop.enqueue(i)`` per task with 32 calls in flight, the
  same shape as the peers without a bulk API (relayq's client group-commits
  calls that arrive while one is in flight into one Lua call).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import benchrt

from sdk.worker import Task, Worker, WrappedContext

NAME = "relayq"
DIST = "relayq"
ENQUEUE_INFLIGHT = 32
QUEUE = "bench"
NOTES = {
    "enqueue": "batch: worker.enqueue_many([noop.enqueue(i) for i in range(n)]); single: "
    f"await noop.enqueue(i) x n, {ENQUEUE_INFLIGHT} in flight",
    "worker": "Worker(url, queue_name=..., concurrency=32) (prefetch default 2x32); "
    "await worker.run(burst=True, handle_signals=False)",
    "rtt": "await noop.enqueue(i).result(timeout=30)  (pub/sub, no polling)",
    "config": "msgpack codec (default), outcome ttl 5 min (default), lease 30 s (default)",
}

_url = ""
_stack: AsyncExitStack | None = None
_client: tuple[Worker[None], Task[[int], int], Task[[int], int]] | None = None
_running: Worker[None] | None = None


def _make(concurrency: int) -> tuple[Worker[None], Task[[int], int], Task[[int], int]]:
    worker = Worker(_url, queue_name=QUEUE, concurrency=concurrency)

    @worker.task()
    async def noop(ctx: WrappedContext[None], i: int) -> int:
        benchrt.task_done(i)
        return i

    @worker.task()
    async def sleep(ctx: WrappedContext[None], i: int) -> int:
        await asyncio.sleep(benchrt.sleep_s)
        benchrt.task_done(i)
        return i

    return worker, noop, sleep


async def setup(redis_url: str, role: str) -> None:
    global _url, _stack, _client
    _url = redis_url
    if role == "client":
        _stack = AsyncExitStack()
        _client = _make(32)
        await _stack.enter_async_context(_client[0])


def _connected() -> tuple[Worker[None], Task[[int], int], Task[[int], int]]:
    assert _client is not None, "setup(role='client') first"
    return _client


async def enqueue_many(n: int, task: str) -> None:
    worker, noop, sleep = _connected()
    fn = sleep if task == "sleep" else noop
    if benchrt.variant != "single":
        await worker.enqueue_many([fn.enqueue(i) for i in range(n)])
        return
    sem = asyncio.Semaphore(ENQUEUE_INFLIGHT)

    async def one(i: int) -> None:
        async with sem:
            await fn.enqueue(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def run_worker_burst(concurrency: int) -> int:
    worker, _, _ = _make(concurrency)
    await worker.run(burst=True, handle_signals=False)
    return benchrt.executed


async def run_worker(concurrency: int) -> None:
    global _running
    _running, _, _ = _make(concurrency)
    await _running.run(handle_signals=False)


async def stop() -> None:
    if _running is not None:
        _running.stop()


async def roundtrip(i: int) -> Any:
    _, noop, _ = _connected()
    return await noop.enqueue(i).result(timeout=30)


async def teardown() -> None:
    global _stack, _client
    if _stack is not None:
        await _stack.aclose()
    _stack = _client = None
