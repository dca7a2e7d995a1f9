"""Live tasks: streaming throughput, yield-to-consumer latency, and what progress costs.

Starts a private ``redis-server`` on a free port (never 6379), then for each
repeat starts ONE worker process of this script (``concurrency=32``, a normal
``worker.run()``) and, from this process as the caller, runs one task at a time
(after one unrecorded warm-up stream that connects both sides):

1. **stream throughput**: a task yields ``--n`` (100,000) small ints as fast as it
   can; this process iterates ``handle.stream()``. items/s = N / (the first
   ``anext`` of the stream, which sends the task, to the receipt of the N-th
   item). Fails unless exactly the items 0..N-1 arrived, each once, in order.
   Alongside: the worker's CPU per item and how long its generator ran, this
   process's CPU per item, and the Redis writes (EVALSHA, i.e. ``live.lua``
   batches) the items took;
2. **yield-to-consumer latency**: a task yields ``--m`` (2,000) items, sleeping
   ``--pace-ms`` (1 ms, ``asyncio.sleep``) before each; every item is
   ``time.monotonic_ns()`` taken right before its ``yield``, and this process
   takes ``monotonic_ns()`` on receipt (CLOCK_MONOTONIC is system-wide on Linux,
   so both processes read the same clock). p50 / p99 / max are nearest-rank.
   The same again without the sleep ("full speed"), where an item waits for the
   batches ahead of it;
3. **progress at 1 kHz**: a task calls ``await ctx.progress(i / K, "msg")`` and
   then ``await asyncio.sleep(0.001)``, ``--k`` (3,000) times; a control task runs
   the same loop without the progress call, once before and once after it (their
   mean is the control, so a drift of the machine's speed cancels). The worker
   process reads its own ``time.process_time()`` (all its threads) at the start
   and end of each task body and reports it; CPU per progress call = (progress
   task CPU - control CPU) / K, which includes the coalesced Redis writes made
   in the background. Both loops also time the slot of the call
   (``perf_counter_ns`` before and after it): the wall time spent inside
   ``ctx.progress`` per call, what the task itself waits. Redis ``INFO
   commandstats`` is read (from this process) right before each task is sent
   and right after it ended: EVALSHA calls and all calls (commands run inside
   Lua included) per second of the task's run, the idle worker's polling and
   lease renewal included, which the control shows. A watcher here (``async for
   p in handle.progress()``, which sends the task) counts the reports it
   receives: the worker writes at most one per ``PROGRESS_INTERVAL_S`` (0.1 s),
   so ~10/s; it must receive the last one, ``(K-1)/K``, and the controls none;
4. **abort on cancellation**: ``--aborts`` (20) times, a caller awaits
   ``result()`` of a task that sleeps 10 s, and cancels that wait once the worker
   reported the body started; the worker reports the ``monotonic_ns()`` at which
   the body saw its ``CancelledError``. Latency = that minus the caller's clock
   right after ``cancel()``: the background abort, the control message and the
   worker's reaction. p50 and max.

With ``--repeat`` > 1 the table shows every run and the median.

::

    python benchmarks/live.py                           # N=100000, M=2000, K=3000
    python benchmarks/live.py --repeat 3 --json benchmarks/results/live.json
    python benchmarks/live.py --n 20000 --k 1000 --no-uvloop

It benchmarks the checkout it lives in (the repository root goes first on
``sys.path``), on uvloop when it is installed (``--no-uvloop`` for plain asyncio;
note that uvloop rounds timers to whole milliseconds, so a 1 ms sleep takes longer
there than the pacing suggests: the table shows the rates achieved).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from bench_child import Child, emit, package_versions, run_loop, runs_table, uvloop_available
from bench_support import (
    MiniRedis,
    RedisServer,
    machine_info,
    median,
    percentile,
    source_info,
)

from sdk.worker import StreamTask, Task, Worker, WrappedContext
from sdk.worker._live import PROGRESS_INTERVAL_S

SELF = Path(__file__).resolve()
ROOT = SELF.parents[1]
T = TypeVar("T")

# the tasks of one repeat, by the tag each reports its CPU under (the warm-up included)
TASK_TAGS = ("warmup", "items", "paced", "burst", "control1", "progress", "control2")


# -- the tasks (registered in both processes) --------------------------------------


class Ran:
    """Task bodies that ran in this (worker) process."""

    count = 0


@contextmanager
def measured(tag: str) -> Iterator[dict[str, Any]]:
    """Report this process's CPU and the wall time of the block (a task body), with
    whatever the block adds to the dict it gets."""
    Ran.count += 1
    extra: dict[str, Any] = {}
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        yield extra
    finally:
        cpu_s, wall_s = time.process_time() - c0, time.perf_counter() - t0
        emit(f"task-{tag}", cpu_s=cpu_s, wall_s=wall_s, **extra)


@dataclass(frozen=True)
class Tasks:
    items: StreamTask[[int, str], int]
    stamps: StreamTask[[int, float, str], int]
    progress: Task[[int, str], int]
    control: Task[[int, str], int]
    sleeper: Task[[str], int]


def _sleeper(worker: Worker[None]) -> Task[[str], int]:
    """A 10 s task: cancelling the caller's wait aborts it, and the worker reports
    when its body sees that."""

    @worker.task(max_tries=1)
    async def sleeper(ctx: WrappedContext[None], tag: str) -> int:
        Ran.count += 1
        emit(f"started-{tag}")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            emit(f"cancelled-{tag}", at_ns=time.monotonic_ns())
            raise
        return 0

    return sleeper


def build(redis_url: str, queue: str, concurrency: int) -> tuple[Worker[None], Tasks]:
    """The benchmark's worker and its tasks (used by the caller side too)."""
    worker = Worker(redis_url, queue_name=queue, concurrency=concurrency)

    @worker.task(max_tries=1)
    async def items(ctx: WrappedContext[None], n: int, tag: str) -> AsyncIterator[int]:
        with measured(tag):
            for i in range(n):
                yield i

    @worker.task(max_tries=1)
    async def stamps(
        ctx: WrappedContext[None], m: int, pace_s: float, tag: str
    ) -> AsyncIterator[int]:
        with measured(tag):
            for _ in range(m):
                if pace_s > 0:
                    await asyncio.sleep(pace_s)
                yield time.monotonic_ns()

    # the two loops differ only in the progress call (both time its slot)
    @worker.task(max_tries=1)
    async def progress_loop(ctx: WrappedContext[None], k: int, tag: str) -> int:
        with measured(tag) as extra:
            in_call = 0
            for i in range(k):
                t0 = time.perf_counter_ns()
                await ctx.progress(i / k, "msg")
                in_call += time.perf_counter_ns() - t0
                await asyncio.sleep(0.001)
            extra["in_call_s"] = in_call / 1e9
        return k

    @worker.task(max_tries=1)
    async def control_loop(ctx: WrappedContext[None], k: int, tag: str) -> int:
        with measured(tag) as extra:
            in_call = 0
            for _ in range(k):
                t0 = time.perf_counter_ns()
                in_call += time.perf_counter_ns() - t0
                await asyncio.sleep(0.001)
            extra["in_call_s"] = in_call / 1e9
        return k

    return worker, Tasks(items, stamps, progress_loop, control_loop, _sleeper(worker))


# -- worker side (a child process) -------------------------------------------------


async def worker_main(a: argparse.Namespace) -> None:
    worker, _ = build(a.redis_url, a.queue, a.concurrency)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    runner = loop.create_task(worker.run(handle_signals=False))
    ready = loop.create_task(worker.ready.wait())
    await asyncio.wait((runner, ready), return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        emit("ready")
    await runner
    emit("result", executed=Ran.count)


# -- caller side -------------------------------------------------------------------


class Commands:
    """Redis ``INFO commandstats`` between two points: calls by command."""

    def __init__(self, mini: MiniRedis) -> None:
        self.mini = mini
        self.before = self._read()

    def _read(self) -> dict[str, int]:
        out = {}
        for key, value in self.mini.info("commandstats").items():
            if key.startswith("cmdstat_"):
                out[key[len("cmdstat_") :]] = int(value.split(",", 1)[0].split("=", 1)[1])
        return out

    def delta(self) -> tuple[int, int]:
        """``(EVALSHA calls, all calls)`` since this was made (both INFO calls excluded)."""
        after = self._read()
        evalsha = after.get("evalsha", 0) - self.before.get("evalsha", 0)
        total = sum(after.values()) - sum(self.before.values()) - 1  # the first INFO
        return evalsha, total


async def stream_phase(a: argparse.Namespace, t: Tasks, mini: MiniRedis) -> dict[str, Any]:
    """1. one consumer iterates N items; counted, checked in order."""
    handle = t.items.enqueue(a.n, "items")
    count = wrong = 0
    first_wrong = ""
    t_first = t_last = None
    cmds = Commands(mini)
    c0, t0 = time.process_time(), time.perf_counter()
    async for item in handle.stream():
        if item != count:
            wrong += 1
            first_wrong = first_wrong or f"position {count} held {item!r}"
        count += 1
        if count == 1:
            t_first = time.perf_counter()
        if count == a.n:
            t_last = time.perf_counter()
    t_end, cpu = time.perf_counter(), time.process_time() - c0
    evalsha, total = cmds.delta()
    if count != a.n or wrong or t_last is None or t_first is None:
        raise SystemExit(
            f"stream: received {count} items, expected {a.n}; {wrong} out of place "
            f"(the first: {first_wrong or 'none'})"
        )
    return {
        "stream_items_per_s": a.n / (t_last - t0),
        "stream_first_item_ms": (t_first - t0) * 1000,
        "stream_s": t_last - t0,
        "stream_end_s": t_end - t0,
        "stream_consumer_cpu_us_per_item": cpu / a.n * 1e6,
        "stream_writes": evalsha,
        "stream_items_per_write": a.n / max(evalsha, 1),
        "stream_redis_cmds": total,
    }


async def latency_phase(t: Tasks, m: int, pace_s: float, tag: str) -> dict[str, Any]:
    """2. yield-to-receipt latency of M time-stamped items."""
    lat: list[float] = []
    last = 0
    t0 = time.perf_counter()
    async for stamp in t.stamps.enqueue(m, pace_s, tag).stream():
        lat.append((time.monotonic_ns() - stamp) / 1e6)
        if stamp < last:
            raise SystemExit(f"latency ({tag}): item {len(lat)} out of order")
        last = stamp
    wall = time.perf_counter() - t0
    if len(lat) != m:
        raise SystemExit(f"latency ({tag}): received {len(lat)} items, expected {m}")
    return {
        f"{tag}_p50_ms": percentile(lat, 50),
        f"{tag}_p99_ms": percentile(lat, 99),
        f"{tag}_max_ms": max(lat),
        f"{tag}_items_per_s": m / wall,
    }


async def watch_task(
    ref: Task[[int, str], int], k: int, tag: str, mini: MiniRedis
) -> dict[str, Any]:
    """Send one progress-loop task, watching its progress; what it cost Redis."""
    cmds = Commands(mini)
    t0 = time.perf_counter()
    reports = [p async for p in ref.enqueue(k, tag).progress()]
    wall = time.perf_counter() - t0
    evalsha, total = cmds.delta()
    fractions = [p.fraction for p in reports]
    if fractions != sorted(fractions) or any(p.message != "msg" for p in reports):
        raise SystemExit(f"progress ({tag}): reports out of order or garbled: {reports[:5]}")
    return {
        "wall_s": wall,
        "reports": len(reports),
        "last": fractions[-1] if fractions else None,
        "evalsha": evalsha,
        "cmds": total,
    }


async def progress_phase(
    a: argparse.Namespace, t: Tasks, mini: MiniRedis, child: Child
) -> dict[str, Any]:
    """3. K progress calls at ~1 kHz, between two runs of the same loop without them."""
    ctl1 = await watch_task(t.control, a.k, "control1", mini)
    prg = await watch_task(t.progress, a.k, "progress", mini)
    ctl2 = await watch_task(t.control, a.k, "control2", mini)
    if ctl1["reports"] or ctl2["reports"]:
        raise SystemExit("progress: a control task's watcher got reports")
    if prg["last"] != (a.k - 1) / a.k:
        raise SystemExit(f"progress: the last report was {prg['last']}, not {(a.k - 1) / a.k}")
    wc1, wc2 = [await child.read_until(f"task-{tag}", 30) for tag in ("control1", "control2")]
    wp = await child.read_until("task-progress", 30)
    ctl_cpu_s = (wc1["cpu_s"] + wc2["cpu_s"]) / 2
    ctl_in_call_s = (wc1["in_call_s"] + wc2["in_call_s"]) / 2
    ctl_wall_s = ctl1["wall_s"] + ctl2["wall_s"]
    return {
        "progress_calls_per_s": a.k / wp["wall_s"],
        "progress_cpu_us_per_call": (wp["cpu_s"] - ctl_cpu_s) / a.k * 1e6,
        "progress_in_call_us": (wp["in_call_s"] - ctl_in_call_s) / a.k * 1e6,
        "progress_cpu_us_per_iter": wp["cpu_s"] / a.k * 1e6,
        "control_cpu_us_per_iter": ctl_cpu_s / a.k * 1e6,
        "progress_evalsha_per_s": prg["evalsha"] / prg["wall_s"],
        "control_evalsha_per_s": (ctl1["evalsha"] + ctl2["evalsha"]) / ctl_wall_s,
        "progress_cmds_per_s": prg["cmds"] / prg["wall_s"],
        "control_cmds_per_s": (ctl1["cmds"] + ctl2["cmds"]) / ctl_wall_s,
        "progress_reports": prg["reports"],
        "progress_reports_per_s": prg["reports"] / wp["wall_s"],
        "progress_task_s": wp["wall_s"],
        "control_task_s": (wc1["wall_s"] + wc2["wall_s"]) / 2,
    }


async def abort_phase(t: Tasks, child: Child, samples: int) -> dict[str, Any]:
    """4. from cancelling a caller's ``result()`` of a running 10 s task to the task's
    body seeing its ``CancelledError`` (RPC semantics: the cancellation aborts it)."""
    lat: list[float] = []
    for j in range(samples):
        tag = f"abort{j}"
        handle = t.sleeper.enqueue(tag)
        waiter = asyncio.ensure_future(handle.result())
        await child.read_until(f"started-{tag}", 10)
        waiter.cancel()
        at = time.monotonic_ns()
        try:
            await waiter
        except asyncio.CancelledError:
            pass
        else:
            raise SystemExit(f"abort {j}: the cancelled wait returned")
        seen = await child.read_until(f"cancelled-{tag}", 10)
        lat.append((seen["at_ns"] - at) / 1e6)
    return {
        "abort_p50_ms": percentile(lat, 50),
        "abort_max_ms": max(lat),
    }


async def one_run(a: argparse.Namespace, redis: RedisServer, run: int) -> dict[str, Any]:
    redis.client.flush()
    queue = f"bench-{os.urandom(4).hex()}"
    client, t = build(redis.url, queue, a.concurrency)
    child = await Child.start(
        SELF, redis.url, queue, uvloop=a.uvloop, args=["--concurrency", str(a.concurrency)]
    )
    out: dict[str, Any] = {"run": run}
    try:
        await child.read_until("ready", timeout=60)
        async with client:
            # warm-up: the caller's listener and both sides' scripts
            if await t.items.enqueue(10, "warmup").result(timeout=30) != list(range(10)):
                raise SystemExit("warm-up stream returned the wrong items")
            out.update(await stream_phase(a, t, redis.client))
            w = await child.read_until("task-items", 30)
            out["stream_worker_s"] = w["wall_s"]
            out["stream_worker_cpu_us_per_item"] = w["cpu_s"] / a.n * 1e6
            out.update(await latency_phase(t, a.m, a.pace_ms / 1000, "paced"))
            out.update(await latency_phase(t, a.m, 0.0, "burst"))
            out.update(await progress_phase(a, t, redis.client, child))
            out.update(await abort_phase(t, child, a.aborts))
        wres = await child.stop(timeout=60)
    finally:
        child.kill()
    expected = len(TASK_TAGS) + a.aborts
    if wres["executed"] != expected:
        raise SystemExit(f"worker ran {wres['executed']} task bodies, expected {expected}")
    return out


ROWS: list[tuple[str, str, str]] = [
    # (label, key, format)
    ("stream: items/s (consumer)", "stream_items_per_s", "{:,.0f}"),
    ("stream: N items (s)", "stream_s", "{:.3f}"),
    ("stream: first item (ms)", "stream_first_item_ms", "{:.2f}"),
    ("stream: worker generator ran (s)", "stream_worker_s", "{:.3f}"),
    ("stream: worker CPU us / item", "stream_worker_cpu_us_per_item", "{:.1f}"),
    ("stream: consumer CPU us / item", "stream_consumer_cpu_us_per_item", "{:.1f}"),
    ("stream: EVALSHA calls (~writes)", "stream_writes", "{:,.0f}"),
    ("stream: items / EVALSHA", "stream_items_per_write", "{:.0f}"),
    ("latency 1 ms pacing: p50 (ms)", "paced_p50_ms", "{:.3f}"),
    ("latency 1 ms pacing: p99 (ms)", "paced_p99_ms", "{:.3f}"),
    ("latency 1 ms pacing: max (ms)", "paced_max_ms", "{:.3f}"),
    ("latency 1 ms pacing: items/s", "paced_items_per_s", "{:,.0f}"),
    ("latency full speed: p50 (ms)", "burst_p50_ms", "{:.3f}"),
    ("latency full speed: p99 (ms)", "burst_p99_ms", "{:.3f}"),
    ("latency full speed: max (ms)", "burst_max_ms", "{:.3f}"),
    ("progress: calls/s achieved", "progress_calls_per_s", "{:,.0f}"),
    ("progress: worker CPU us / call", "progress_cpu_us_per_call", "{:.1f}"),
    ("progress: wall us in the call", "progress_in_call_us", "{:.1f}"),
    ("progress: worker CPU us / iter", "progress_cpu_us_per_iter", "{:.1f}"),
    ("control: worker CPU us / iter", "control_cpu_us_per_iter", "{:.1f}"),
    ("progress: EVALSHA/s", "progress_evalsha_per_s", "{:.1f}"),
    ("control: EVALSHA/s", "control_evalsha_per_s", "{:.1f}"),
    ("progress: Redis cmds/s", "progress_cmds_per_s", "{:.1f}"),
    ("control: Redis cmds/s", "control_cmds_per_s", "{:.1f}"),
    ("progress: reports received", "progress_reports", "{:.0f}"),
    ("progress: reports received /s", "progress_reports_per_s", "{:.1f}"),
    ("abort: cancel to task body (p50 ms)", "abort_p50_ms", "{:.2f}"),
    ("abort: cancel to task body (max ms)", "abort_max_ms", "{:.2f}"),
]


def write_json(a: argparse.Namespace, runs: list[dict[str, Any]], med: dict[str, float]) -> None:
    doc = {
        "benchmark": "live",
        "machine": {**machine_info(), "redis_version": a.redis_version},
        "source": source_info(ROOT),
        "versions": package_versions(),
        "config": {
            "n": a.n,
            "m": a.m,
            "pace_ms": a.pace_ms,
            "k": a.k,
            "progress_interval_s": PROGRESS_INTERVAL_S,
            "concurrency": a.concurrency,
            "repeat": a.repeat,
            "loop": "uvloop" if a.uvloop else "asyncio",
            "argv": sys.argv,
        },
        "runs": runs,
        "median": med,
    }
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"# wrote {a.json}")


async def client_main(a: argparse.Namespace) -> int:
    with RedisServer(a.redis_server) as redis:
        m = machine_info()
        print(
            f"# relayq live: N={a.n} M={a.m} (pace {a.pace_ms:g} ms) K={a.k} "
            f"concurrency={a.concurrency} repeat={a.repeat} "
            f"loop={'uvloop' if a.uvloop else 'asyncio'}; redis {redis.version} "
            f"on port {redis.port}; {m['nproc']} x {m['cpu']}, load {m['loadavg_1m_at_start']:.2f}",
            flush=True,
        )
        runs = []
        for run in range(1, a.repeat + 1):
            r = await one_run(a, redis, run)
            runs.append(r)
            print(
                f"#   run {run}: stream {r['stream_items_per_s']:,.0f} items/s, latency p50 "
                f"{r['paced_p50_ms']:.3f} ms p99 {r['paced_p99_ms']:.3f} ms, progress "
                f"{r['progress_cpu_us_per_call']:.1f} us/call, "
                f"{r['progress_reports']} reports",
                flush=True,
            )
        a.redis_version = redis.version
    med = {key: median([r[key] for r in runs]) for _, key, _ in ROWS}
    print()
    print(runs_table(ROWS, runs, med))
    print("\nverification: ok (every stream complete and in order, every progress run checked)")
    if a.json:
        write_json(a, runs, med)
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000, help="items of the stream (100000)")
    p.add_argument("--m", type=int, default=2000, help="time-stamped items (2000)")
    p.add_argument("--pace-ms", type=float, default=1.0, help="sleep before each (1 ms)")
    p.add_argument("--k", type=int, default=3000, help="progress calls, one per ms (3000)")
    p.add_argument("--aborts", type=int, default=20, help="cancelled 10 s tasks (20)")
    p.add_argument("--concurrency", type=int, default=32, help="worker concurrency (32)")
    p.add_argument("--repeat", type=int, default=1, help="runs; the table adds the median")
    p.add_argument(
        "--uvloop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run every process on uvloop (default: when installed)",
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--redis-server", help="redis-server executable (default: from PATH)")
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        p.add_argument("--redis-url", required=True)
        p.add_argument("--queue", required=True)
        a = p.parse_args(sys.argv[2:])
        run_loop(worker_main(a), bool(a.uvloop))
        return
    a = p.parse_args()
    if a.uvloop is None:
        a.uvloop = uvloop_available()
    elif a.uvloop and not uvloop_available():
        p.error("--uvloop: uvloop is not installed (pip install -e '.[uvloop]')")
    if min(a.n, a.m, a.k, a.repeat) < 1 or a.pace_ms < 0:
        p.error("--n, --m, --k and --repeat must be >= 1, --pace-ms >= 0")
    sys.exit(run_loop(client_main(a), a.uvloop))


if __name__ == "__main__":
    main()
