"""Time to recover a SIGKILLed worker's task: from the kill until another worker
has finished it and the waiting caller has the result.

Starts a private ``redis-server`` on a free port (never 6379), then per run:

1. worker **A** (a child process of this script, ``Worker(...)`` with the lease
   under test) takes a long task (``hold_s`` on its first try; later tries return
   at once, so the figure is pure recovery time, not task time);
2. this process holds a waiter on that task (``await handle.result()``);
3. A is SIGKILLed **just after it renewed its lease** (this script watches the
   delivery's idle time in ``XPENDING`` and kills A the moment it drops): the
   worst case, since the lease then has its full length left to run;
4. worker **B** is started at once (its start-up is part of the figure) and
   reclaims the delivery once it has been idle for a lease;
5. recovery time = the waiter's result arrival - the kill.

A worker reclaims leases that lapsed every ``lease / 10`` (clipped to 0.1..5 s),
so the expected worst case is about ``lease + lease / 10 + B's start-up``.

Scenarios: default settings (``Worker()``: 30 s lease; goal under 35 s, streaq's
default is 60 s) and a short lease (``lease=1.0``; goal under 3 s)::

    python benchmarks/recovery.py                    # both; the default one takes ~45 s
    python benchmarks/recovery.py --short-only --runs 5
    python benchmarks/recovery.py --lease 2.5        # one more scenario
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench_support import RedisServer, machine_info, markdown_table, median

from sdk import Worker, WrappedContext
from sdk.worker import Task

SELF = Path(__file__).resolve()
DEFAULT_GOAL_S = 35.0
SHORT_LEASE_S = 1.0
SHORT_GOAL_S = 3.0
HOLD_S = 3600.0


def build(
    redis_url: str, queue: str, lease: float | None
) -> tuple[Worker[None], Task[[float], str]]:
    """The benchmark's worker (default settings unless ``lease``) and its long task."""
    worker = (
        Worker(redis_url, queue_name=queue)
        if lease is None
        else Worker(redis_url, queue_name=queue, lease=lease)
    )

    @worker.task(max_tries=5)
    async def long_task(ctx: WrappedContext[None], hold_s: float) -> str:
        await ctx.redis.rpush(f"bench:{queue}:starts", f"{ctx.tries} {ctx.worker_id}")
        if ctx.tries == 1:
            await asyncio.sleep(hold_s)
        return f"try {ctx.tries} by {ctx.worker_id}"

    return worker, long_task


async def worker_main(redis_url: str, queue: str, lease: float | None) -> None:
    worker, _ = build(redis_url, queue, lease)
    runner = asyncio.get_running_loop().create_task(worker.run())
    ready = asyncio.get_running_loop().create_task(worker.ready.wait())
    await asyncio.wait((runner, ready), return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        print("ready", worker.id, flush=True)
    await runner


def start_worker(redis_url: str, queue: str, lease: float | None) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(SELF), "_worker", "--redis-url", redis_url, "--queue", queue]
    if lease is not None:
        cmd += ["--lease", str(lease)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


async def wait_ready(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    """The worker id the child prints once it consumes."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout)
    if not line.startswith("ready "):
        raise SystemExit(f"worker child exited ({proc.wait()}) before it was ready")
    return line.split()[1]


async def poll(what: str, check: Any, timeout: float, interval: float = 0.002) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class Run:
    recovery_s: float
    reclaim_s: float  # kill -> B started the task again
    b_ready_s: float  # kill -> B consuming
    idle_at_kill_ms: int
    value: str


async def one_run(redis_url: str, lease: float | None) -> Run:
    queue = "recovery-" + uuid.uuid4().hex[:8]
    client_side, long_task = build(redis_url, queue, lease)
    lease_s = client_side.lease.lease_s
    a = start_worker(redis_url, queue, lease)
    b: subprocess.Popen[str] | None = None
    try:
        a_id = await wait_ready(a)
        async with client_side:
            redis = client_side.redis
            keys = client_side.client.keys
            starts = f"bench:{queue}:starts"
            handle = await long_task.enqueue(HOLD_S)
            waiter = asyncio.ensure_future(handle.result(timeout=lease_s * 3 + 60))

            async def started(n: int) -> bool:
                return int(await redis.llen(starts)) >= n

            await poll("worker A to start the task", lambda: started(1), 30)

            async def idle_ms() -> int:
                pending = await redis.xpending_range(keys.stream, "workers", "-", "+", 1)
                return int(pending[0]["time_since_delivered"]) if pending else -1

            # wait for a renewal: the idle time drops back to ~0
            last = await idle_ms()

            async def renewed() -> int | None:
                nonlocal last
                now = await idle_ms()
                dropped = now < last
                last = now
                return now + 1 if dropped else None

            idle_at_kill = await poll("a lease renewal", renewed, lease_s + 10, 0.001) - 1
            killed = time.monotonic()
            a.send_signal(signal.SIGKILL)
            b = start_worker(redis_url, queue, lease)
            await wait_ready(b)
            b_ready = time.monotonic() - killed
            reclaimed_at: list[float] = []

            async def restarted() -> bool:
                if not reclaimed_at and await started(2):
                    reclaimed_at.append(time.monotonic() - killed)
                return bool(reclaimed_at)

            reclaim_watch = asyncio.ensure_future(
                poll("worker B to reclaim the task", lambda: restarted(), lease_s * 3 + 60, 0.005)
            )
            value = await waiter
            recovery = time.monotonic() - killed
            await reclaim_watch
            if a_id in value or not value.startswith("try 2 "):
                raise SystemExit(f"unexpected outcome {value!r}")
            return Run(recovery, reclaimed_at[0], b_ready, idle_at_kill, value)
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


@dataclass
class Scenario:
    name: str
    lease: float | None
    goal_s: float | None
    runs: int


async def client_main(scenarios: list[Scenario], as_json: Path | None) -> int:
    rows: list[list[str]] = []
    results: list[dict[str, Any]] = []
    failed = False
    with RedisServer() as server:
        for sc in scenarios:
            probe = Worker(server.url) if sc.lease is None else Worker(server.url, lease=sc.lease)
            cfg = probe.lease
            runs = []
            for i in range(sc.runs):
                run = await one_run(server.url, sc.lease)
                runs.append(run)
                print(
                    f"{sc.name} run {i + 1}/{sc.runs}: recovered in {run.recovery_s:.2f} s "
                    f"(B ready after {run.b_ready_s:.2f} s, task restarted after "
                    f"{run.reclaim_s:.2f} s; lease idle {run.idle_at_kill_ms} ms at the kill)",
                    flush=True,
                )
            worst = max(r.recovery_s for r in runs)
            ok = sc.goal_s is None or worst < sc.goal_s
            failed |= not ok
            rows.append(
                [
                    sc.name,
                    f"{cfg.lease_s:g} s",
                    f"{cfg.renew_s:.3g} s / {cfg.reclaim_s:.3g} s",
                    str(sc.runs),
                    f"{median([r.recovery_s for r in runs]):.2f} s",
                    f"{worst:.2f} s",
                    "-" if sc.goal_s is None else f"< {sc.goal_s:g} s",
                    "ok" if ok else "MISSED",
                ]
            )
            results.append(
                {
                    "scenario": sc.name,
                    "lease_s": cfg.lease_s,
                    "renew_s": cfg.renew_s,
                    "reclaim_check_s": cfg.reclaim_s,
                    "goal_s": sc.goal_s,
                    "runs": [vars(r) for r in runs],
                }
            )
        redis_version = server.version
    header = ["scenario", "lease", "renew / reclaim check", "runs", "median", "worst", "goal", ""]
    print()
    print("Recovery of a SIGKILLed worker's task (killed right after a lease renewal):")
    print(markdown_table(header, rows))
    info = machine_info()
    print(f"\nredis {redis_version}; {info.get('cpu', '?')}, {info.get('nproc', '?')} cores")
    if as_json is not None:
        write_json(as_json, {"machine": info, "results": results})
    return 1 if failed else 0


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        p.add_argument("--redis-url", required=True)
        p.add_argument("--queue", required=True)
        p.add_argument("--lease", type=float)
        w = p.parse_args(sys.argv[2:])
        asyncio.run(worker_main(w.redis_url, w.queue, w.lease))
        return
    p.add_argument("--runs", type=int, default=3, help="runs of each short-lease scenario (3)")
    p.add_argument("--default-runs", type=int, default=1, help="runs with default settings (1)")
    p.add_argument("--short-only", action="store_true", help="skip the default-settings run")
    p.add_argument("--lease", type=float, action="append", default=[], help="extra lease (s)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    a = p.parse_args()
    scenarios = [Scenario(f"short lease {SHORT_LEASE_S:g} s", SHORT_LEASE_S, SHORT_GOAL_S, a.runs)]
    scenarios += [Scenario(f"lease {x:g} s", x, None, a.runs) for x in a.lease]
    if not a.short_only:
        scenarios.insert(0, Scenario("default settings", None, DEFAULT_GOAL_S, a.default_runs))
    raise SystemExit(asyncio.run(client_main(scenarios, a.json)))


if __name__ == "__main__":
    main()
