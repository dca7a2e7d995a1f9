"""Throughput regression guard for CI: relayq relative to a raw-Redis floor, same run.

    python benchmarks/smoke.py            # exit 0 = fine, 1 = regression (or lost tasks)

Absolute times mean nothing on a shared CI runner, so the guard compares two
measurements taken in the same process, on the same private ``redis-server``
(free port, never 6379), a moment apart:

- **floor**: the raw-Redis floor of ``peers/adapters/floor_peer.py`` (XADD /
  XREADGROUP / XACK / SET / PUBLISH by a minimal hand-written pipeline);
- **relayq**: a ``Worker(concurrency=32)`` in burst mode.

Each enqueues no-op tasks (not timed), then runs one burst worker in this
process until the queue is drained (timed): relayq ``--n`` (3,000) tasks, the
floor ``--floor-n`` (12,000), about four times as many because it is about four
times as fast, so both measurements last about as long (~0.2 s) and are equally
exposed to whatever else the machine does. Every task body counts itself, and a
run that does not execute exactly its N tasks fails. The two are measured
``--repeat`` (5) times, interleaved (floor, relayq, floor, ...).

**Rule**: ``ratio`` = best relayq tasks/s / best floor tasks/s (the best run
of each is the one least disturbed by the rest of the machine; on a loaded
2-core box the floor varied by +-6 %, relayq by up to 2x, the best by +-15 %).
The run fails when ``ratio < BASELINE_RATIO / FACTOR``, i.e. when relayq got
more than ``FACTOR`` (1.5) times slower *relative to the floor* than when the
baseline was recorded. ``BASELINE_RATIO`` below is the typical ratio of several
runs on the reference machine; after a deliberate speed-up, run this a few
times and raise it to the new typical ratio. Plain asyncio (no uvloop), so CI
without the ``uvloop`` extra measures the same thing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers" / "adapters"))  # floor_peer
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))  # benchrt
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's sdk

import argparse
import asyncio
import json
import time

import benchrt
import floor_peer
from bench_support import RedisServer, machine_info, source_info

from sdk.worker import Worker, WrappedContext

_HERE = Path(__file__).resolve().parent
#: best relayq tasks/s / best floor tasks/s: typical of 8 smoke runs on the
#: reference machine (2-core Xeon, Python 3.11, redis 7.0.15, asyncio loop,
#: relayq at commit dff22b5 + working tree; range 0.24-0.33 under load).
BASELINE_RATIO = 0.28
#: how much slower, relative to the floor, counts as a regression.
FACTOR = 1.5


async def measure_floor(url: str, n: int) -> float:
    """Enqueue n no-ops with the floor, then time one in-process burst worker."""
    await floor_peer.setup(url, "client")
    try:
        await floor_peer.enqueue_many(n, "noop")
    finally:
        await floor_peer.teardown()
    benchrt.reset(n)
    await floor_peer.setup(url, "worker")
    try:
        t0 = time.perf_counter()
        await floor_peer.run_worker_burst(32)
        t1 = time.perf_counter()
    finally:
        await floor_peer.teardown()
    _check("floor", n)
    return n / ((benchrt.t_complete or t1) - t0)


async def measure_relayq(url: str, n: int, queue: str) -> float:
    """Enqueue n no-ops with ``enqueue_many``, then time one in-process burst worker."""
    benchrt.reset(n)

    def build() -> Worker[None]:
        worker = Worker(url, queue_name=queue, concurrency=32)

        @worker.task()
        async def noop(ctx: WrappedContext[None], i: int) -> int:
            benchrt.task_done(i)
            return i

        return worker

    client = build()
    noop = client.tasks["noop"]
    async with client:
        await client.enqueue_many([noop.enqueue(i) for i in range(n)])
    t0 = time.perf_counter()
    await build().run(burst=True, handle_signals=False)
    t1 = time.perf_counter()
    _check("relayq", n)
    return n / ((benchrt.t_complete or t1) - t0)


def _check(what: str, n: int) -> None:
    if benchrt.executed != n or len(benchrt.seen) != n:
        raise SystemExit(
            f"FAIL: {what} executed {benchrt.executed} task bodies "
            f"({len(benchrt.seen)} distinct), expected exactly {n}"
        )


async def run(a: argparse.Namespace, redis: RedisServer) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"floor": [], "relayq": []}
    for rep in range(a.repeat):
        redis.client.flush()
        rates["floor"].append(await measure_floor(redis.url, a.floor_n))
        redis.client.flush()
        rates["relayq"].append(await measure_relayq(redis.url, a.n, f"smoke-{rep}"))
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3000, help="no-op tasks per measurement (3000)")
    p.add_argument(
        "--floor-n", type=int, default=12_000, help="tasks per floor measurement (12000)"
    )
    p.add_argument("--repeat", type=int, default=5, help="measurements of each (5)")
    p.add_argument("--baseline", type=float, default=BASELINE_RATIO, help="relayq/floor ratio")
    p.add_argument("--factor", type=float, default=FACTOR, help="allowed slowdown factor (1.5)")
    p.add_argument("--json", type=Path, help="also write the measurements here")
    a = p.parse_args()
    t_start = time.perf_counter()
    with RedisServer() as redis:
        rates = asyncio.run(run(a, redis))
    floor, ours = max(rates["floor"]), max(rates["relayq"])
    ratio = ours / floor
    threshold = a.baseline / a.factor
    ok = ratio >= threshold
    print(
        f"smoke: floor {floor:,.0f} tasks/s (N={a.floor_n}), relayq {ours:,.0f} tasks/s "
        f"(N={a.n}, best of {a.repeat}); ratio {ratio:.3f}, baseline {a.baseline:.3f}, "
        f"fails below {threshold:.3f} "
        f"-> {'ok' if ok else 'REGRESSION'} ({time.perf_counter() - t_start:.1f}s)"
    )
    if a.json:
        doc = {
            "machine": machine_info(),
            "source": source_info(_HERE.parent),
            "n": a.n,
            "floor_n": a.floor_n,
            "tasks_per_s": rates,
            "ratio": ratio,
            "baseline": a.baseline,
            "threshold": threshold,
            "ok": ok,
        }
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(doc, indent=2) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
