"""Side by side: relayq, streaq, SAQ, taskiq, arq and a raw-Redis floor, one run.

    python benchmarks/compare.py                      # everything, N=20000 (~8 min on 2 cores)
    python benchmarks/compare.py --n 5000 --only relayq,floor,saq
    python benchmarks/compare.py --json benchmarks/results/compare.json | tee compare.txt

Every library gets its own virtualenv under ``benchmarks/.venvs/<lib>``, created
on first use from the pins in ``benchmarks/peers/requirements/<lib>.txt`` (their
redis-py pins conflict); the relayq venv installs this checkout editable, so it
always measures the working tree. One private ``redis-server`` (free port, never
6379, no persistence) serves the whole run; it is flushed (FLUSHALL, SCRIPT FLUSH,
FUNCTION FLUSH) before every phase and stopped by its PID at the end.

Phases, each in a fresh child process of the library's interpreter
(``peers/child.py`` + ``peers/adapters/<lib>_peer.py``):

enqueue
    a client enqueues N no-op tasks through the library's fastest idiomatic path
    (relayq: ``enqueue_many``; the ``relayq-single`` row: one ``await`` per task,
    32 in flight, the shape peers without a bulk API use). Timed in the client.
1 proc
    ONE worker process, concurrency 32, burst mode: from just before the library
    builds its worker until the N-th distinct task body ran. tasks/s = N / that.
2 procs
    N more tasks, then ``--procs`` burst workers started together: from the
    earliest worker start to the last task body in any of them.
RTT
    a normal worker runs; a client makes ``--rtt-warmup`` unrecorded and then up
    to ``--rtt-count`` recorded sequential enqueue-and-await calls, stopping early
    after ``--rtt-budget-s`` (arq's 0.5 s poll would take 8 min for 1,000).
sleep
    ``--sleep-n`` tasks that each ``asyncio.sleep(1)``, one worker at concurrency
    32; efficiency = theoretical floor (ceil(n / 32) x 1 s) / measured time.

Every task body records its argument in the worker process (``peers/benchrt.py``);
a phase in which any ``i`` never ran is marked LOST, one in which some ran twice
is marked DUP, and both are listed under the table. RSS is the worker process's
peak resident set (``ru_maxrss``). The orchestrator itself uses only the
standard library.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_support import RedisServer, machine_info, markdown_table, percentile, source_info

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
VENVS = HERE / ".venvs"
MARK = "@@PEERS "
EXIT_GRACE_S = 10.0
ALL_PHASES = ("enqueue", "burst", "multi", "rtt", "sleep")


@dataclass(frozen=True)
class Lib:
    """One row: which adapter, in which venv, with which variant and phases."""

    name: str
    adapter: str
    venv: str
    variant: str = ""
    phases: tuple[str, ...] = ALL_PHASES


LIBS = {
    lib.name: lib
    for lib in (
        Lib("relayq", "relayq_peer", "relayq", "batch"),
        Lib("relayq-single", "relayq_peer", "relayq", "single", ("enqueue", "burst")),
        Lib("streaq", "streaq_peer", "streaq"),
        Lib("saq", "saq_peer", "saq"),
        Lib("taskiq", "taskiq_peer", "taskiq"),
        Lib("arq", "arq_peer", "arq"),
        Lib("floor", "floor_peer", "relayq"),
    )
}


class PhaseError(RuntimeError):
    pass


# -- virtualenvs -----------------------------------------------------------------------


def ensure_venv(name: str, base_python: str, setup: bool) -> str:
    """The interpreter of ``.venvs/<name>``, (re)installed when its pins changed."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    req = PEERS / "requirements" / f"{name}.txt"
    extra = ["-e", str(ROOT)] if name == "relayq" else []
    digest = hashlib.sha256(req.read_bytes() + " ".join(extra).encode()).hexdigest()
    stamp = venv / ".bench-stamp"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return str(python)
    if not setup:
        raise SystemExit(f"{venv} is missing or stale; run without --no-setup")
    print(f"# setting up {venv} from {req.relative_to(ROOT)} ...", flush=True)
    if not python.exists():
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(req), *extra], check=True)
    stamp.write_text(digest + "\n")
    return str(python)


# -- children ----------------------------------------------------------------------------


def parse_marks(out: str) -> dict[str, dict[str, Any]]:
    msgs: dict[str, dict[str, Any]] = {}
    # only whole lines: a child that is still running may be half-way through one
    for ln in out.split("\n")[:-1]:
        if ln.startswith(MARK):
            m = json.loads(ln[len(MARK) :])
            msgs[m.pop("kind")] = m
    return msgs


@dataclass
class Runner:
    a: argparse.Namespace
    redis: RedisServer
    logdir: Path
    pythons: dict[str, str] = field(default_factory=dict)

    def cmd(self, lib: Lib, phase: str, **kw: object) -> list[str]:
        cmd = [
            self.pythons[lib.venv], str(PEERS / "child.py"),
            "--adapter", lib.adapter, "--variant", lib.variant, "--phase", phase,
            "--redis-url", self.redis.url, "--concurrency", str(self.a.concurrency),
            "--poll", str(self.a.poll), "--sleep-s", str(self.a.sleep_s),
        ]  # fmt: skip
        if self.a.no_uvloop:
            cmd.append("--no-uvloop")
        for k, v in kw.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        return cmd

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PEERS_ARQ_POLL_DELAY"] = str(self.a.arq_poll_delay)
        env.pop("PYTHONPATH", None)
        return env

    def run_phase(self, lib: Lib, phase: str, tag: str, **kw: object) -> dict[str, Any]:
        """Run one child to completion and return its ``result`` message."""
        log = self.logdir / f"{lib.name}-{tag}.log"
        try:
            p = subprocess.run(
                self.cmd(lib, phase, **kw),
                cwd=PEERS,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=self.a.phase_timeout,
            )
        except subprocess.TimeoutExpired as exc:
            log.write_text(f"{exc.stdout!r}\n--- stderr ---\n{exc.stderr!r}")
            raise PhaseError(
                f"{tag}: timed out after {self.a.phase_timeout:g}s (log {log})"
            ) from None
        log.write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
        return self._result(parse_marks(p.stdout), p.returncode, tag, log, p.stderr)

    def _result(
        self, msgs: dict[str, dict[str, Any]], rc: int | None, tag: str, log: Path, err: str
    ) -> dict[str, Any]:
        if rc != 0 or "result" not in msgs:
            tail = "\n".join(err.strip().splitlines()[-6:])
            raise PhaseError(f"{tag}: child exited {rc} (log {log})\n{tail}")
        res = msgs["result"]
        res["_meta"] = msgs.get("meta", {})
        res["_warnings"] = [f"{tag}: {w}" for w in res.pop("warnings", [])]
        if "forced_exit" in msgs:
            res["_warnings"].append(
                f"{tag}: did not exit within {EXIT_GRACE_S:g}s of reporting "
                "(library shutdown hung); the harness ended it"
            )
        return res

    def spawn(
        self, lib: Lib, phase: str, tag: str, **kw: object
    ) -> tuple[subprocess.Popen[str], Path]:
        out = self.logdir / f"{lib.name}-{tag}.out"
        with open(out, "w") as fo, open(self.logdir / f"{lib.name}-{tag}.log", "w") as fe:
            proc = subprocess.Popen(
                self.cmd(lib, phase, **kw),
                cwd=PEERS,
                env=self.env(),
                stdout=fo,
                stderr=fe,
                text=True,
            )
        return proc, out

    def finish(self, proc: subprocess.Popen[str], out: Path, tag: str, lib: Lib) -> dict[str, Any]:
        try:
            proc.wait(self.a.phase_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise PhaseError(f"{tag}: timed out after {self.a.phase_timeout:g}s") from None
        log = self.logdir / f"{lib.name}-{tag}.log"
        return self._result(
            parse_marks(out.read_text()), proc.returncode, tag, log, log.read_text()
        )

    def multi_burst(self, lib: Lib, n: int, procs: int) -> list[dict[str, Any]]:
        """Start ``procs`` burst workers together; stop them (benchrt.stop via SIGUSR1)
        once together they ran N distinct tasks, for libraries without a burst mode."""
        tags = [f"burst{procs}p-{k}" for k in range(procs)]
        children = [self.spawn(lib, "burst", tag, n=n, procs=procs) for tag in tags]
        signalled = False
        deadline = time.monotonic() + self.a.phase_timeout
        try:
            while any(p.poll() is None for p, _ in children):
                if time.monotonic() > deadline:
                    raise PhaseError(f"burst{procs}p: timed out after {self.a.phase_timeout:g}s")
                if not signalled:
                    done = sum(
                        parse_marks(out.read_text()).get("progress", {}).get("distinct", 0)
                        for _, out in children
                    )
                    if done >= n:
                        signalled = True
                        for p, _ in children:
                            if p.poll() is None:
                                os.kill(p.pid, signal.SIGUSR1)
                time.sleep(0.02)
            return [
                self.finish(p, out, tag, lib) for tag, (p, out) in zip(tags, children, strict=True)
            ]
        finally:
            for p, _ in children:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)

    def rtt(self, lib: Lib) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a worker child, run the round-trip client child, stop the worker."""
        w, wout = self.spawn(lib, "worker", "rtt-worker")
        killed = False
        try:
            deadline = time.monotonic() + 60
            while "ready" not in parse_marks(wout.read_text()):
                if w.poll() is not None:
                    raise PhaseError(f"rtt worker exited {w.returncode} before ready")
                if time.monotonic() > deadline:
                    raise PhaseError("rtt worker not ready after 60s")
                time.sleep(0.02)
            a = self.a
            client = self.run_phase(
                lib, "rtt", "rtt", count=a.rtt_count, warmup=a.rtt_warmup, budget_s=a.rtt_budget_s
            )
        finally:
            if w.poll() is None:
                os.kill(w.pid, signal.SIGTERM)
                try:
                    w.wait(EXIT_GRACE_S + 10)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait(5)
                    killed = True
        wmsgs = parse_marks(wout.read_text())
        wres = wmsgs.get("result", {})
        wres["_warnings"] = [f"rtt worker: {x}" for x in wres.pop("warnings", [])]
        if "forced_exit" in wmsgs:
            wres["_warnings"].append(
                "rtt worker: shutdown hung after SIGTERM; the harness ended it"
            )
        elif killed:
            wres["_warnings"].append("rtt worker: had to be SIGKILLed")
        return client, wres


# -- the benchmark of one library --------------------------------------------------------


def check_burst(res: dict[str, Any], n: int, tag: str, row: dict[str, Any]) -> None:
    """Record lost / duplicated tasks of a single-process burst in the row."""
    if res["returned"] is not None and res["returned"] != res["executed"]:
        row["problems"].append(
            f"{tag}: adapter returned {res['returned']} but {res['executed']} bodies ran"
        )
    if res["missing"] or res["distinct"] != n:
        row["lost"][tag] = res["missing"] or n - res["distinct"]
        row["problems"].append(
            f"{tag}: LOST {row['lost'][tag]} of {n} tasks never ran "
            f"({res['distinct']} distinct, {res['executed']} executions)"
        )
    if res["duplicates"]:
        row["dups"][tag] = res["duplicates"]
        row["problems"].append(
            f"{tag}: DUP {res['duplicates']} task(s) ran more than once "
            f"({res['executed']} executions for {n} tasks)"
        )


def phase_enqueue(r: Runner, lib: Lib, row: dict[str, Any]) -> None:
    a, mini = r.a, r.redis.client
    mini.flush()
    c0, cpu0, mem0 = mini.stats()
    enq = r.run_phase(lib, "enqueue", "enqueue", n=a.n, task="noop")
    c1, cpu1, mem1 = mini.stats()
    meta = enq.pop("_meta")
    row["warnings"] += enq.pop("_warnings")
    row.update(
        version=meta["versions"].get("version", "?"),
        versions=meta["versions"],
        python=meta["python"],
        loop=meta["loop"],
        notes=meta["notes"],
        enqueue_s=enq["enqueue_s"],
        enqueue_client_cpu_s=enq["cpu_s"],
        enqueue_redis_cmds=c1 - c0 - 1,
        enqueue_redis_cpu_s=cpu1 - cpu0,
        redis_queued_bytes=mem1 - mem0,
    )


def phase_burst(r: Runner, lib: Lib, row: dict[str, Any]) -> None:
    a, mini = r.a, r.redis.client
    c1, cpu1, _ = mini.stats()
    res = r.run_phase(lib, "burst", "burst1p", n=a.n, task="noop")
    c2, cpu2, _ = mini.stats()
    res.pop("_meta")
    row["warnings"] += res.pop("_warnings")
    check_burst(res, a.n, "1 proc", row)
    end = res["t_complete"] or res["t_last"] or res["t_exit"]
    row.update(
        executed=res["executed"],
        process_s=end - res["t0"],
        tasks_per_s=a.n / (end - res["t0"]),
        first_task_s=res["t_first"] - res["t0"] if res["t_first"] else None,
        exit_s=res["t_exit"] - res["t0"],
        worker_cpu_s=res["cpu_s"],
        worker_rss_mb=res["peak_rss_mb"],
        process_redis_cmds=c2 - c1 - 1,
        process_redis_cpu_s=cpu2 - cpu1,
    )


def phase_multi(r: Runner, lib: Lib, row: dict[str, Any]) -> None:
    a = r.a
    r.redis.client.flush()
    enq = r.run_phase(lib, "enqueue", f"enqueue-for-{a.procs}p", n=a.n, task="noop")
    row["warnings"] += enq["_warnings"]
    results = r.multi_burst(lib, a.n, a.procs)
    seen: set[int] = set()
    executed = dups = 0
    for res in results:
        row["warnings"] += res["_warnings"]
        executed += res["executed"]
        dups += res["duplicates"] + len(seen.intersection(res["keys"]))
        seen.update(res["keys"])
    tag = f"{a.procs} procs"
    lost = sum(1 for i in range(a.n) if i not in seen)
    if lost:
        row["lost"][tag] = lost
        row["problems"].append(f"{tag}: LOST {lost} of {a.n} tasks never ran")
    if dups:
        row["dups"][tag] = dups
        row["problems"].append(f"{tag}: DUP {dups} task(s) ran more than once")
    t0 = min(res["t0"] for res in results)
    t_end = max(res["t_last"] or res["t_exit"] for res in results)
    row.update(
        multi_procs=a.procs,
        multi_process_s=t_end - t0,
        multi_tasks_per_s=a.n / (t_end - t0),
        multi_split=[res["executed"] for res in results],
        multi_executed=executed,
    )


def phase_rtt(r: Runner, lib: Lib, row: dict[str, Any]) -> None:
    r.redis.client.flush()
    client, wres = r.rtt(lib)
    row["warnings"] += client.pop("_warnings") + wres.pop("_warnings")
    lat = client["lat_ms"]
    if wres.get("executed") is not None and wres["executed"] < client["calls"]:
        row["problems"].append(f"rtt: worker ran {wres['executed']} bodies for {client['calls']}")
    row.update(
        rtt_n=len(lat),
        rtt_p50_ms=percentile(lat, 50),
        rtt_p90_ms=percentile(lat, 90),
        rtt_p99_ms=percentile(lat, 99),
        rtt_max_ms=max(lat),
        rtt_mean_ms=sum(lat) / len(lat),
        rtt_worker_rss_mb=wres.get("peak_rss_mb"),
    )


def phase_sleep(r: Runner, lib: Lib, row: dict[str, Any]) -> None:
    a = r.a
    r.redis.client.flush()
    enq = r.run_phase(lib, "enqueue", "enqueue-sleep", n=a.sleep_n, task="sleep")
    row["warnings"] += enq["_warnings"]
    res = r.run_phase(lib, "burst", "burst-sleep", n=a.sleep_n, task="sleep")
    row["warnings"] += res["_warnings"]
    check_burst(res, a.sleep_n, "sleep", row)
    end = res["t_complete"] or res["t_last"] or res["t_exit"]
    floor = math.ceil(a.sleep_n / a.concurrency) * a.sleep_s
    row.update(
        sleep_n=a.sleep_n,
        sleep_s=end - res["t0"],
        sleep_floor_s=floor,
        sleep_efficiency=floor / (end - res["t0"]),
        sleep_rss_mb=res["peak_rss_mb"],
    )


PHASES = {
    "enqueue": phase_enqueue,
    "burst": phase_burst,
    "multi": phase_multi,
    "rtt": phase_rtt,
    "sleep": phase_sleep,
}


def bench(r: Runner, lib: Lib) -> dict[str, Any]:
    row: dict[str, Any] = {
        "library": lib.name,
        "adapter": lib.adapter,
        "variant": lib.variant,
        "python_exe": r.pythons[lib.venv],
        "warnings": [],
        "problems": [],
        "errors": [],
        "lost": {},
        "dups": {},
    }
    a = r.a
    for phase in lib.phases:
        if (phase == "multi" and a.procs < 2) or (phase == "rtt" and a.rtt_count <= 0):
            continue
        if phase == "sleep" and a.sleep_n <= 0:
            continue
        if phase == "burst" and "enqueue_s" not in row:
            continue  # nothing was enqueued
        try:
            PHASES[phase](r, lib, row)
        except PhaseError as exc:
            row["errors"].append(f"{phase}: {exc}")
            print(f"#   {lib.name}: {phase} FAILED: {exc}", flush=True)
    return row


# -- output ------------------------------------------------------------------------------


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def verified(row: dict[str, Any]) -> str:
    flags = [f"LOST {v} ({k})" for k, v in row["lost"].items()]
    flags += [f"DUP {v} ({k})" for k, v in row["dups"].items()]
    if row["errors"]:
        flags.append("FAILED: " + ", ".join(e.split(":")[0] for e in row["errors"]))
    return "; ".join(flags) or "ok"


def main_table(rows: list[dict[str, Any]], a: argparse.Namespace) -> str:
    header = [
        "library", "version", "enqueue s", "1 proc s", "tasks/s 1p", f"tasks/s {a.procs}p",
        "RTT p50 ms", "RTT p99 ms", "RTT n", f"sleep s (floor {_sleep_floor(a):g})", "sleep eff",
        "RSS MB noop/sleep", "verified",
    ]  # fmt: skip
    out = []
    for r in rows:
        rss = f"{_f(r.get('worker_rss_mb'), '{:.0f}')}/{_f(r.get('sleep_rss_mb'), '{:.0f}')}"
        out.append([
            r["library"], r.get("version", "?"), _f(r.get("enqueue_s"), "{:.2f}"),
            _f(r.get("process_s"), "{:.2f}"), _f(r.get("tasks_per_s"), "{:,.0f}"),
            _f(r.get("multi_tasks_per_s"), "{:,.0f}"), _f(r.get("rtt_p50_ms"), "{:.2f}"),
            _f(r.get("rtt_p99_ms"), "{:.2f}"), _f(r.get("rtt_n"), "{}"),
            _f(r.get("sleep_s"), "{:.2f}"), _f(r.get("sleep_efficiency"), "{:.1%}"),
            rss, verified(r),
        ])  # fmt: skip
    return markdown_table(header, out)


def cost_table(rows: list[dict[str, Any]], a: argparse.Namespace) -> str:
    header = [
        "library", "enq tasks/s", "cmds/task enq", "cmds/task proc", "Redis KB/1k queued",
        "worker CPU ms/1k", "Redis CPU ms/1k", "burst exit s", "1st task s",
    ]  # fmt: skip
    out = []
    n = a.n
    for r in rows:
        if "process_s" not in r:
            continue
        redis_cpu = r["enqueue_redis_cpu_s"] + r["process_redis_cpu_s"]
        out.append([
            r["library"], f"{n / r['enqueue_s']:,.0f}", f"{r['enqueue_redis_cmds'] / n:.2f}",
            f"{r['process_redis_cmds'] / n:.2f}",
            f"{r['redis_queued_bytes'] / 1024 / n * 1000:.0f}",
            f"{r['worker_cpu_s'] * 1e6 / n:.0f}", f"{redis_cpu * 1e6 / n:.0f}",
            f"{r['exit_s']:.2f}", _f(r.get("first_task_s"), "{:.3f}"),
        ])  # fmt: skip
    return markdown_table(header, out)


def _ratio(x: float | None, y: float | None) -> str:
    return "-" if not x or not y else f"{x / y:.2f}x"


def ratio_table(rows: list[dict[str, Any]]) -> str:
    """relayq relative to every other row (> 1 = relayq is better)."""
    ours = next((r for r in rows if r["library"] == "relayq"), None)
    if ours is None:
        return ""
    header = ["relayq vs", "tasks/s 1p", "tasks/s multi", "enqueue speed", "RTT p50", "RTT p99"]
    out = []
    for r in rows:
        if r is ours:
            continue
        out.append([
            r["library"], _ratio(ours.get("tasks_per_s"), r.get("tasks_per_s")),
            _ratio(ours.get("multi_tasks_per_s"), r.get("multi_tasks_per_s")),
            _ratio(r.get("enqueue_s"), ours.get("enqueue_s")),
            _ratio(r.get("rtt_p50_ms"), ours.get("rtt_p50_ms")),
            _ratio(r.get("rtt_p99_ms"), ours.get("rtt_p99_ms")),
        ])  # fmt: skip
    return markdown_table(header, out)


PEER_NAMES = ("streaq", "saq", "taskiq", "arq")


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 5's targets, checked against this run."""
    by = {r["library"]: r for r in rows}
    ours = by.get("relayq")
    if ours is None or "tasks_per_s" not in ours:
        return []
    out = []

    def check(ok: bool | None, text: str) -> None:
        out.append(f"- [{'-' if ok is None else 'PASS' if ok else 'MISS'}] {text}")

    peers = [by[p] for p in PEER_NAMES if p in by and "tasks_per_s" in by[p]]
    if peers:
        best = max(peers, key=lambda r: float(r["tasks_per_s"]))
        x = ours["tasks_per_s"] / best["tasks_per_s"]
        check(x >= 2.5, f"no-op tasks/s >= 2.5x best peer: {x:.2f}x {best['library']}")
    if "streaq" in by and "enqueue_s" in by["streaq"]:
        x = by["streaq"]["enqueue_s"] / ours["enqueue_s"]
        check(x >= 2, f"enqueue_many >= 2x streaq's batch enqueue: {x:.2f}x")
    if "rtt_p50_ms" in ours:
        p50, p99 = ours["rtt_p50_ms"], ours["rtt_p99_ms"]
        check(p50 <= 0.5 and p99 <= 2, f"RTT p50 <= 0.5 ms and p99 <= 2 ms: {p50:.2f} / {p99:.2f}")
    if "sleep_efficiency" in ours:
        e = ours["sleep_efficiency"]
        check(1 / e <= 1.03, f"1 s sleep workload within 3% of floor: {(1 / e - 1):+.1%}")
    if "floor" in by and "tasks_per_s" in by["floor"]:
        x = by["floor"]["tasks_per_s"] / ours["tasks_per_s"]
        check(x <= 3, f"within 3x of the raw-Redis floor: floor is {x:.2f}x relayq")
    if ours.get("sleep_rss_mb"):
        m = ours["sleep_rss_mb"]
        check(m < 60, f"worker RSS < 60 MB with 32 running tasks: {m:.1f} MB")
    return out


def notes(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        for e in r["errors"]:
            out.append(f"- FAILED {r['library']}: {e}")
        for p in r["problems"]:
            out.append(f"- VERIFY {r['library']}: {p}")
        for w in r["warnings"]:
            out.append(f"- WARNING {r['library']}: {w}")
    for r in rows:
        if "versions" not in r:
            continue
        vers = ", ".join(f"{k} {v}" for k, v in r["versions"].items() if k != "version")
        out.append(f"- {r['library']} ({vers}; {r['loop']}; python {r['python']}):")
        for k in ("enqueue", "worker", "rtt", "config"):
            if r["notes"].get(k):
                out.append(f"    {k}: {r['notes'][k]}")
    return out


def render(rows: list[dict[str, Any]], a: argparse.Namespace) -> str:
    parts = [main_table(rows, a), "", cost_table(rows, a)]
    parts.append(
        "(cmds = Redis total_commands_processed per task, Lua-internal calls included; KB = "
        "used_memory growth per 1,000 queued tasks; CPU per 1,000 tasks: the worker process in "
        "the 1-proc burst, redis-server over enqueue + burst)"
    )
    ratios = ratio_table(rows)
    if ratios:
        parts += ["", ratios, "(> 1x: relayq is faster)"]
    t = targets(rows)
    if t:
        parts += ["", "Issue 5 targets (this run):", *t]
    parts += ["", *notes(rows)]
    return "\n".join(parts)


def _sleep_floor(a: argparse.Namespace) -> float:
    return float(math.ceil(a.sleep_n / a.concurrency) * a.sleep_s) if a.sleep_n > 0 else 0.0


# -- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000, help="no-op tasks per phase (20000)")
    p.add_argument("--concurrency", type=int, default=32, help="per worker process (32)")
    p.add_argument("--procs", type=int, default=2, help="worker processes of the multi phase")
    p.add_argument("--only", default="", help=f"comma list of {','.join(LIBS)}")
    p.add_argument("--skip", default="", help="comma list of libraries to leave out")
    p.add_argument("--rtt-count", type=int, default=1000, help="recorded round trips (0: skip)")
    p.add_argument("--rtt-warmup", type=int, default=50, help="unrecorded round trips first")
    p.add_argument("--rtt-budget-s", type=float, default=60, help="stop recording after this")
    p.add_argument("--sleep-n", type=int, default=320, help="1-second tasks (0: skip)")
    p.add_argument("--sleep-s", type=float, default=1.0, help="duration of the sleep task")
    p.add_argument("--poll", type=float, default=0.001, help="result poll of arq/saq/taskiq (s)")
    p.add_argument("--arq-poll-delay", type=float, default=0.5, help="arq worker poll (s)")
    p.add_argument("--no-uvloop", action="store_true", help="plain asyncio in every child")
    p.add_argument("--phase-timeout", type=float, default=300, help="seconds per child")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--log-dir", type=Path, help="keep child logs here (default: temp dir)")
    p.add_argument("--no-setup", action="store_true", help="never create or update venvs")
    p.add_argument("--venv-python", default=sys.executable, help="base interpreter for venvs")
    p.add_argument("--redis-server", help="redis-server executable (default: from PATH)")
    a = p.parse_args()
    names = [x.strip() for x in a.only.split(",") if x.strip()] or list(LIBS)
    skip = {x.strip() for x in a.skip.split(",") if x.strip()}
    bad = [x for x in [*names, *skip] if x not in LIBS]
    if bad:
        p.error(f"unknown libraries {bad}; known: {', '.join(LIBS)}")
    a.libs = [LIBS[x] for x in names if x not in skip]
    return a


def main() -> None:
    a = parse_args()
    pythons = {lib.venv: ensure_venv(lib.venv, a.venv_python, not a.no_setup) for lib in a.libs}
    logdir = a.log_dir or Path(tempfile.mkdtemp(prefix="relayq-compare-"))
    logdir.mkdir(parents=True, exist_ok=True)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through RedisServer.stop

    signal.signal(signal.SIGTERM, on_term)
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    with RedisServer(a.redis_server, logdir / "redis") as redis:
        meta = {**machine_info(), "redis_version": redis.version, "source": source_info(ROOT)}
        print(
            f"# compare: N={a.n} concurrency={a.concurrency} procs={a.procs} "
            f"rtt={a.rtt_count}(+{a.rtt_warmup}, budget {a.rtt_budget_s:g}s) "
            f"sleep={a.sleep_n}x{a.sleep_s:g}s; redis {redis.version} on port {redis.port}; "
            f"nproc={meta['nproc']}; load {meta['loadavg_1m_at_start']:.2f}; "
            f"relayq {meta['source']}; logs {logdir}",
            flush=True,
        )
        runner = Runner(a, redis, logdir, pythons)
        for lib in a.libs:
            t0 = time.perf_counter()
            print(f"# {lib.name}: {pythons[lib.venv]} ...", flush=True)
            row = bench(runner, lib)
            rows.append(row)
            print(
                f"#   {lib.name} done in {time.perf_counter() - t0:.0f}s: {summary(row)}",
                flush=True,
            )
        redis.client.flush()
    total = time.perf_counter() - t_start
    text = render(rows, a)
    print()
    print(text)
    print(f"\n# total wall time {total:.0f}s")
    if a.json:
        doc = {
            "meta": {**meta, "total_wall_s": total, "argv": sys.argv},
            "config": {k: v for k, v in vars(a).items() if k not in ("libs", "json", "log_dir")},
            "results": rows,
            "report": text,
        }
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print(f"# wrote {a.json}")
    if any(r["errors"] or r["lost"] for r in rows):
        sys.exit(1)


def summary(row: dict[str, Any]) -> str:
    return (
        f"enqueue {_f(row.get('enqueue_s'), '{:.2f}')}s, "
        f"{_f(row.get('tasks_per_s'), '{:,.0f}')} tasks/s 1p, "
        f"{_f(row.get('multi_tasks_per_s'), '{:,.0f}')} multi, "
        f"RTT p50 {_f(row.get('rtt_p50_ms'), '{:.2f}')} ms "
        f"p99 {_f(row.get('rtt_p99_ms'), '{:.2f}')} ms, "
        f"sleep {_f(row.get('sleep_efficiency'), '{:.1%}')}; {verified(row)}"
    )


if __name__ == "__main__":
    main()
