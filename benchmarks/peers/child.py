"""One phase of one library, run by ``compare.py`` in that library's interpreter.

    <venv>/bin/python benchmarks/peers/child.py --adapter relayq --phase burst ...

Standard library plus the adapter's own library only: every peer lives in its
own virtualenv (their redis-py pins conflict). It reports on stdout through
lines that start with ``@@PEERS `` followed by JSON (``meta``, ``ready``,
``progress``, ``result``, ``forced_exit``); everything else is the library's
own output and goes to the phase's log.

The adapter contract (``adapters/<name>.py``; see ``adapters/floor.py`` for a
complete minimal one)::

    NAME, DIST (distribution for the version column) or VERSION, NOTES (dict with
    "enqueue", "worker", "rtt", "config"); optional:
    NATIVE_BURST = True   # False: no burst mode; the worker is stopped via benchrt
    WARNINGS: list[str]   # read after each phase

    async def setup(redis_url: str, role: str) -> None        # "client" | "worker"
    async def enqueue_many(n: int, task: str) -> None          # task: "noop" | "sleep"
    async def run_worker_burst(concurrency: int) -> int        # until drained; bodies run
    async def run_worker(concurrency: int) -> None             # until stop()/cancelled
    async def stop() -> None                                   # optional: end run_worker
    async def roundtrip(i: int) -> object                      # enqueue noop(i), await it
    async def teardown() -> None                               # optional

Both tasks take one int ``i`` and call ``benchrt.task_done(i)``; ``noop`` returns
``i``, ``sleep`` first sleeps ``benchrt.sleep_s`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import resource
import signal
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any

import benchrt  # next to this file, so on sys.path when run as a script

HERE = Path(__file__).resolve().parent

MARK = "@@PEERS "
EXIT_GRACE_S = 10.0
_result_sent = False


def emit(kind: str, **data: Any) -> None:
    sys.stdout.write(MARK + json.dumps({"kind": kind, **data}) + "\n")
    sys.stdout.flush()


def _arm_exit_watchdog() -> None:
    """Once the result is out, give the library EXIT_GRACE_S to shut down.

    A library whose shutdown hangs (seen: taskiq's Receiver) must not stall the
    run: the measurement is already out, so exit hard and say so.
    """

    def fire() -> None:
        emit("forced_exit", after_s=EXIT_GRACE_S)
        os._exit(0)

    timer = threading.Timer(EXIT_GRACE_S, fire)
    timer.daemon = True
    timer.start()


def result(mod: ModuleType, **data: Any) -> None:
    global _result_sent
    if _result_sent:
        return
    _result_sent = True
    emit("result", warnings=list(getattr(mod, "WARNINGS", []) or []), **data)
    _arm_exit_watchdog()


def load_adapter(name: str) -> ModuleType:
    path = HERE / "adapters" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"peer_adapter_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"no adapter {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def versions(mod: ModuleType) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    if getattr(mod, "VERSION", None):
        out["version"] = str(mod.VERSION)
    dists = [getattr(mod, "DIST", None), *getattr(mod, "EXTRA_DISTS", [])]
    for d in [*dists, "redis", "coredis", "hiredis", "msgpack", "uvloop", "anyio"]:
        if not d or d in out:
            continue
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            pass
    if "version" not in out:
        dist = getattr(mod, "DIST", None)
        out["version"] = out.get(dist, "?") if dist else "?"
    return out


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
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


async def phase_burst(a: argparse.Namespace, mod: ModuleType) -> None:
    """Run one burst worker; with --procs > 1 it is one of several processes."""
    native = getattr(mod, "NATIVE_BURST", True)
    benchrt.reset(a.n if a.procs == 1 else None)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, benchrt.stop)  # the harness: all N ran

    async def heartbeat() -> None:
        """Progress for the harness (several processes, no burst mode) and the log."""
        every = 0.02 if (a.procs > 1 and not native) else 5.0
        while True:
            await asyncio.sleep(every)
            emit("progress", distinct=len(benchrt.seen), executed=benchrt.executed)

    c0, t0 = cpu_s(), time.perf_counter()
    hb = loop.create_task(heartbeat())
    try:
        returned = await mod.run_worker_burst(a.concurrency)
    finally:
        hb.cancel()
    t_exit = time.perf_counter()
    result(
        mod,
        returned=returned,
        executed=benchrt.executed,
        distinct=len(benchrt.seen),
        duplicates=benchrt.duplicates,
        keys=sorted(benchrt.seen) if a.procs > 1 else None,
        missing=None if a.procs > 1 else sum(1 for i in range(a.n) if i not in benchrt.seen),
        t0=t0,
        t_first=benchrt.t_first,
        t_last=benchrt.t_last,
        t_complete=benchrt.t_complete,
        t_exit=t_exit,
        cpu_s=cpu_s() - c0,
        peak_rss_mb=peak_rss_mb(),
    )


async def phase_worker(a: argparse.Namespace, mod: ModuleType) -> None:
    """A normal worker for the round-trip client, until SIGTERM."""
    benchrt.reset(None)
    loop = asyncio.get_running_loop()
    task = loop.create_task(mod.run_worker(a.concurrency))

    def on_signal() -> None:
        result(mod, executed=benchrt.executed, peak_rss_mb=peak_rss_mb())  # before shutdown
        if hasattr(mod, "stop"):
            loop.create_task(mod.stop())
        else:
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    emit("ready")
    try:
        await task
    except asyncio.CancelledError:
        pass
    result(mod, executed=benchrt.executed, peak_rss_mb=peak_rss_mb())


async def phase_rtt(a: argparse.Namespace, mod: ModuleType) -> None:
    """Sequential round trips: warm-up, then up to --count within --budget-s."""
    for i in range(a.warmup):
        async with benchrt.deadline(30):
            r = await mod.roundtrip(-1 - i)
        if r != -1 - i:
            raise RuntimeError(f"warm-up round trip returned {r!r}, expected {-1 - i}")
    lat: list[float] = []
    stop_at = time.perf_counter() + a.budget_s
    for i in range(a.count):
        t0 = time.perf_counter()
        async with benchrt.deadline(30):
            r = await mod.roundtrip(i)
        t1 = time.perf_counter()
        lat.append((t1 - t0) * 1000.0)
        if r != i:
            raise RuntimeError(f"round trip {i} returned {r!r}")
        if t1 > stop_at:
            break
    result(mod, lat_ms=lat, warmup=a.warmup, calls=a.warmup + len(lat))


async def child_async(a: argparse.Namespace, mod: ModuleType, loop_name: str) -> None:
    benchrt.poll_interval = a.poll
    benchrt.sleep_s = a.sleep_s
    benchrt.variant = a.variant
    emit(
        "meta",
        name=getattr(mod, "NAME", a.adapter),
        versions=versions(mod),
        python=platform.python_version(),
        loop=loop_name,
        notes=getattr(mod, "NOTES", {}),
    )
    t = time.perf_counter()
    await mod.setup(a.redis_url, "worker" if a.phase in ("burst", "worker") else "client")
    setup_s = time.perf_counter() - t
    try:
        if a.phase == "enqueue":
            c0, t0 = cpu_s(), time.perf_counter()
            await mod.enqueue_many(a.n, a.task)
            t1 = time.perf_counter()
            result(mod, enqueue_s=t1 - t0, setup_s=setup_s, cpu_s=cpu_s() - c0)
        elif a.phase == "burst":
            await phase_burst(a, mod)
        elif a.phase == "worker":
            await phase_worker(a, mod)
        elif a.phase == "rtt":
            await phase_rtt(a, mod)
    finally:
        if hasattr(mod, "teardown"):
            try:
                async with benchrt.deadline(10):
                    await mod.teardown()
            except Exception as exc:  # teardown trouble must not hide the results
                print(f"teardown failed: {exc!r}", file=sys.stderr)


def run(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    if use_uvloop:
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def main() -> None:
    p = argparse.ArgumentParser(prog="child.py")
    p.add_argument("--adapter", required=True)
    p.add_argument("--variant", default="")
    p.add_argument("--phase", required=True, choices=["enqueue", "burst", "worker", "rtt"])
    p.add_argument("--redis-url", required=True)
    p.add_argument("--task", default="noop", choices=["noop", "sleep"])
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--budget-s", type=float, default=60.0)
    p.add_argument("--poll", type=float, default=0.001)
    p.add_argument("--sleep-s", type=float, default=1.0)
    p.add_argument("--no-uvloop", action="store_true")
    a = p.parse_args()
    mod = load_adapter(a.adapter)
    loop_name = "asyncio"
    if not a.no_uvloop:
        from importlib.metadata import PackageNotFoundError, version

        try:
            loop_name = f"uvloop {version('uvloop')}"
        except PackageNotFoundError:
            pass
    run(child_async(a, mod, loop_name), loop_name != "asyncio")


if __name__ == "__main__":
    main()
