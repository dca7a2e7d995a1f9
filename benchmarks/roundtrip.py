"""relayq's own figure: round-trip latency and no-op throughput of one worker.

Starts a private ``redis-server`` on a free port (never 6379), then for each
repeat:

1. **enqueue**: this process builds N no-op calls and sends them with
   ``worker.enqueue_many(...)`` (timed, handles built inside the timing);
2. **throughput**: ONE worker process (``concurrency=32``) starts in burst mode
   (``worker.run(burst=True)``) and runs until the queue is drained. Its time runs
   from just before the ``Worker`` is built until the N-th distinct task body ran;
   tasks/s = N / that time. Every task body records its argument *in the worker
   process*; the run fails unless exactly N bodies ran, each ``i`` once, and
   Redis is left with no queued, pending or running task and N stored outcomes;
3. **round trip**: a normal worker process runs, and this process makes
   ``--rtt-warmup`` unrecorded and then ``--rtt-count`` recorded sequential calls
   ``await noop.enqueue(i).result()``, each checked to return ``i``; p50/p99 are
   nearest-rank percentiles. The worker must have run every one of those calls.

With ``--repeat`` > 1 the table shows every run and the median.

::

    python benchmarks/roundtrip.py                        # N=20000, 1000 round trips
    python benchmarks/roundtrip.py --repeat 3 --json benchmarks/results/roundtrip.json
    python benchmarks/roundtrip.py --n 5000 --rtt-count 200 --no-uvloop

It benchmarks the checkout it lives in (the repository root goes first on
``sys.path``), on uvloop when it is installed (``--no-uvloop`` for plain asyncio).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import os
import resource
import signal
import time
from collections.abc import Awaitable, Callable
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

from sdk.worker import Task, Worker, WrappedContext

SELF = Path(__file__).resolve()
ROOT = SELF.parents[1]
T = TypeVar("T")


# -- worker side (a child process) -------------------------------------------------


class Tally:
    """What ran in this process: the task bodies count themselves here."""

    def __init__(self) -> None:
        self.executed = 0
        self.duplicates = 0
        self.seen: set[int] = set()
        self.expected: int | None = None
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.t_complete: float | None = None

    def hit(self, i: int) -> None:
        now = time.perf_counter()
        self.executed += 1
        if self.t_first is None:
            self.t_first = now
        self.t_last = now
        if i in self.seen:
            self.duplicates += 1
            return
        self.seen.add(i)
        if self.t_complete is None and len(self.seen) == self.expected:
            self.t_complete = now


TALLY = Tally()


def build(redis_url: str, queue: str, concurrency: int) -> tuple[Worker[None], Task[[int], int]]:
    """The benchmark's worker and its no-op task (used by the client side too)."""
    worker = Worker(redis_url, queue_name=queue, concurrency=concurrency)

    @worker.task()
    async def noop(ctx: WrappedContext[None], i: int) -> int:
        TALLY.hit(i)
        return i

    return worker, noop


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    # VmHWM: the peak of this program's own memory. ru_maxrss would also count the
    # memory of the parent this process was forked from before it exec'd (Linux
    # keeps it across exec), i.e. the benchmark driver's, not the worker's.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def worker_main(a: argparse.Namespace) -> None:
    if a.burst:
        TALLY.expected = a.n
        c0, t0 = _cpu_s(), time.perf_counter()
        worker, _ = build(a.redis_url, a.queue, a.concurrency)
        await worker.run(burst=True, handle_signals=False)
        t_exit = time.perf_counter()
        end = TALLY.t_complete or TALLY.t_last or t_exit
        emit(
            "result",
            executed=TALLY.executed,
            distinct=len(TALLY.seen),
            duplicates=TALLY.duplicates,
            process_s=end - t0,
            first_task_s=(TALLY.t_first - t0) if TALLY.t_first else None,
            exit_s=t_exit - t0,
            cpu_s=_cpu_s() - c0,
            peak_rss_mb=_rss_mb(),
        )
        return
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
    emit("result", executed=TALLY.executed, peak_rss_mb=_rss_mb())


# -- client side -------------------------------------------------------------------


async def _start_child(a: argparse.Namespace, url: str, queue: str, *extra: str) -> Child:
    args = ["--concurrency", str(a.concurrency), "--n", str(a.n), *extra]
    return await Child.start(SELF, url, queue, uvloop=a.uvloop, args=args)


async def timed(fn: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    t0 = time.perf_counter()
    value = await fn()
    return value, time.perf_counter() - t0


def check_drained(mini: MiniRedis, queue: str, n: int) -> list[str]:
    """Problems left in Redis after a burst: anything still queued/pending, missing outcomes."""
    base = f"relayq:{{{queue}}}:"
    problems = []
    if (left := mini.cmd("HLEN", base + "tasks")) != 0:
        problems.append(f"{left} tasks still in the tasks hash")
    if (left := mini.cmd("XLEN", base + "stream")) != 0:
        problems.append(f"{left} entries still in the stream")
    pending = mini.cmd("XPENDING", base + "stream", "workers")[0]
    if pending != 0:
        problems.append(f"{pending} entries still pending in the consumer group")
    if (left := mini.cmd("HLEN", base + "running")) != 0:
        problems.append(f"{left} tasks still marked running")
    cursor, results = b"0", 0
    while True:
        cursor, keys = mini.cmd("SCAN", cursor, "MATCH", base + "result:*", "COUNT", 5000)
        results += len(keys)
        if cursor == b"0":
            break
    if results != n:
        problems.append(f"{results} stored outcomes, expected {n}")
    return problems


async def one_run(a: argparse.Namespace, redis: RedisServer, run: int) -> dict[str, Any]:
    out: dict[str, Any] = {"run": run}
    # 1. enqueue_many of N, then 2. one burst worker process
    redis.client.flush()
    queue = f"bench-{os.urandom(4).hex()}"
    client, noop = build(redis.url, queue, a.concurrency)
    async with client:  # connects (and loads the scripts) before the clock starts
        _, enqueue_s = await timed(
            lambda: client.enqueue_many([noop.enqueue(i) for i in range(a.n)])
        )
    out["enqueue_many_s"] = enqueue_s
    out["enqueue_per_s"] = a.n / enqueue_s
    cmds0, rcpu0, _ = redis.client.stats()
    child = await _start_child(a, redis.url, queue, "--burst")
    try:
        res = await child.finish(timeout=600)
    finally:
        child.kill()
    cmds1, rcpu1, _ = redis.client.stats()
    problems = []
    if res["executed"] != a.n or res["distinct"] != a.n or res["duplicates"]:
        problems.append(
            f"worker ran {res['executed']} task bodies ({res['distinct']} distinct, "
            f"{res['duplicates']} duplicates), expected exactly {a.n}"
        )
    problems += check_drained(redis.client, queue, a.n)
    out.update(
        executed=res["executed"],
        process_s=res["process_s"],
        tasks_per_s=a.n / res["process_s"],
        burst_exit_s=res["exit_s"],
        first_task_s=res["first_task_s"],
        worker_cpu_ms_per_1k=res["cpu_s"] * 1000 / a.n * 1000,
        worker_peak_rss_mb=res["peak_rss_mb"],
        redis_cpu_ms_per_1k=(rcpu1 - rcpu0) * 1000 / a.n * 1000,
        redis_cmds_per_task=(cmds1 - cmds0 - 1) / a.n,
    )
    # 3. sequential round trips against a running worker process
    if a.rtt_count > 0:
        redis.client.flush()
        queue = f"bench-{os.urandom(4).hex()}"
        client, noop = build(redis.url, queue, a.concurrency)
        child = await _start_child(a, redis.url, queue)
        try:
            await child.read_until("ready", timeout=60)
            lat: list[float] = []
            async with client:
                for i in range(-a.rtt_warmup, a.rtt_count):
                    t0 = time.perf_counter()
                    value = await noop.enqueue(i).result(timeout=30)
                    if i >= 0:
                        lat.append((time.perf_counter() - t0) * 1000)
                    if value != i:
                        problems.append(f"round trip {i} returned {value!r}")
            assert child.proc.pid is not None
            child.proc.send_signal(signal.SIGTERM)
            wres = await child.finish(timeout=60)
        finally:
            child.kill()
        expected = a.rtt_warmup + a.rtt_count
        if wres["executed"] != expected:
            problems.append(f"rtt worker ran {wres['executed']} bodies, expected {expected}")
        out.update(
            rtt_p50_ms=percentile(lat, 50),
            rtt_p90_ms=percentile(lat, 90),
            rtt_p99_ms=percentile(lat, 99),
            rtt_max_ms=max(lat),
            rtt_mean_ms=sum(lat) / len(lat),
        )
    out["problems"] = problems
    return out


ROWS: list[tuple[str, str, str]] = [
    # (label, key, format)
    ("enqueue_many N (s)", "enqueue_many_s", "{:.3f}"),
    ("enqueued tasks/s", "enqueue_per_s", "{:,.0f}"),
    ("process N, 1 worker (s)", "process_s", "{:.3f}"),
    ("tasks/s, 1 worker", "tasks_per_s", "{:,.0f}"),
    ("worker CPU ms / 1k tasks", "worker_cpu_ms_per_1k", "{:.0f}"),
    ("redis-server CPU ms / 1k tasks", "redis_cpu_ms_per_1k", "{:.0f}"),
    ("redis cmds / task (Lua incl.)", "redis_cmds_per_task", "{:.2f}"),
    ("worker peak RSS (MB)", "worker_peak_rss_mb", "{:.1f}"),
    ("burst exit (s)", "burst_exit_s", "{:.3f}"),
    ("RTT p50 (ms)", "rtt_p50_ms", "{:.3f}"),
    ("RTT p90 (ms)", "rtt_p90_ms", "{:.3f}"),
    ("RTT p99 (ms)", "rtt_p99_ms", "{:.3f}"),
    ("RTT max (ms)", "rtt_max_ms", "{:.3f}"),
]


async def client_main(a: argparse.Namespace) -> int:
    with RedisServer(a.redis_server) as redis:
        print(
            f"# relayq roundtrip: N={a.n} concurrency={a.concurrency} "
            f"rtt={a.rtt_count} (+{a.rtt_warmup} warm-up) repeat={a.repeat} "
            f"loop={'uvloop' if a.uvloop else 'asyncio'}; redis {redis.version} "
            f"on port {redis.port}; nproc={os.cpu_count()}",
            flush=True,
        )
        runs = []
        for run in range(1, a.repeat + 1):
            r = await one_run(a, redis, run)
            runs.append(r)
            print(
                f"#   run {run}: enqueue_many {r['enqueue_many_s']:.2f}s, "
                f"{r['tasks_per_s']:,.0f} tasks/s ({r['executed']} executed), "
                + (
                    f"RTT p50 {r['rtt_p50_ms']:.3f} ms p99 {r['rtt_p99_ms']:.3f} ms"
                    if "rtt_p50_ms" in r
                    else "no RTT"
                ),
                flush=True,
            )
            for p in r["problems"]:
                print(f"#   PROBLEM: {p}", flush=True)
        redis_version = redis.version
    med = {key: median([r[key] for r in runs]) for _, key, _ in ROWS if key in runs[0]}
    print()
    print(runs_table(ROWS, runs, med))
    failed = any(r["problems"] for r in runs)
    print(f"\nverification: {'FAILED' if failed else 'ok'} (every run executed exactly N tasks)")
    if a.json:
        doc = {
            "benchmark": "roundtrip",
            "machine": {**machine_info(), "redis_version": redis_version},
            "source": source_info(ROOT),
            "versions": package_versions(),
            "config": {
                "n": a.n,
                "concurrency": a.concurrency,
                "rtt_count": a.rtt_count,
                "rtt_warmup": a.rtt_warmup,
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
    return 1 if failed else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000, help="no-op tasks for throughput (20000)")
    p.add_argument("--rtt-count", type=int, default=1000, help="recorded round trips (1000)")
    p.add_argument("--rtt-warmup", type=int, default=50, help="unrecorded round trips (50)")
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
        p.add_argument("--burst", action="store_true")
        a = p.parse_args(sys.argv[2:])
        run_loop(worker_main(a), bool(a.uvloop))
        return
    a = p.parse_args()
    if a.uvloop is None:
        a.uvloop = uvloop_available()
    elif a.uvloop and not uvloop_available():
        p.error("--uvloop: uvloop is not installed (pip install -e '.[uvloop]')")
    if a.n < 1 or a.repeat < 1 or a.rtt_count < 0:
        p.error("--n and --repeat must be >= 1, --rtt-count >= 0")
    sys.exit(run_loop(client_main(a), a.uvloop))


if __name__ == "__main__":
    main()
