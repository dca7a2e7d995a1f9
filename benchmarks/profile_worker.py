"""Profile one relayq worker process draining N no-op tasks (py-spy and/or pyinstrument).

    python benchmarks/profile_worker.py                        # py-spy, N=20000, uvloop
    python benchmarks/profile_worker.py --tool pyinstrument --no-uvloop
    python benchmarks/profile_worker.py --tool py-spy --native --out-dir /tmp/prof

Starts a private ``redis-server``, enqueues N no-ops with ``enqueue_many``, then
runs the burst worker of ``roundtrip.py`` (the same process the figure is taken
from) under the profiler and checks it executed exactly N tasks.

- **py-spy** samples the process from outside (``--rate`` per second, by
  function, only samples holding the GIL; it pauses the process per sample unless
  ``--nonblocking``, whose stacks proved unreliable here); the collapsed
  stacks go to ``pyspy-<loop>.collapsed`` and a summary of the hottest functions
  (self and inclusive share of the samples in which the worker was on CPU) to
  ``pyspy-<loop>.txt``;
- **pyinstrument** runs inside the process and samples wall-clock time; its call
  tree (text, ``--show-all`` for library frames) goes to ``pyinstrument-<loop>.txt``.

Profiling slows the worker down; read shares, not times.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
from collections import Counter

import roundtrip
from bench_child import MARK
from bench_support import RedisServer

HERE = Path(__file__).resolve().parent
_LINE = re.compile(r":\d+\)$")


def enqueue(url: str, queue: str, n: int) -> None:
    async def go() -> None:
        client, noop = roundtrip.build(url, queue, 32)
        async with client:
            await client.enqueue_many([noop.enqueue(i) for i in range(n)])

    asyncio.run(go())


def worker_cmd(url: str, queue: str, a: argparse.Namespace) -> list[str]:
    return [
        sys.executable, str(HERE / "roundtrip.py"), "_worker",
        "--redis-url", url, "--queue", queue, "--concurrency", "32", "--n", str(a.n),
        "--burst", "--uvloop" if a.uvloop else "--no-uvloop",
    ]  # fmt: skip


def check(out: str, n: int) -> dict[str, object]:
    for ln in out.splitlines():
        if ln.startswith(MARK):
            res: dict[str, object] = json.loads(ln[len(MARK) :])
            if res.get("executed") != n or res.get("distinct") != n:
                raise SystemExit(f"worker executed {res.get('executed')}, expected {n}")
            return res
    raise SystemExit(f"no result from the worker:\n{out[-2000:]}")


def summarize(collapsed: Path, top: int) -> str:
    """Self and inclusive sample shares per function from py-spy's raw output.

    Only samples inside the event loop count (``Runner.run``: the burst itself,
    every task of it included, but not interpreter start-up and imports); shares
    are of the samples in which the process held the GIL there.
    """
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    total = everything = 0
    for ln in collapsed.read_text().splitlines():
        stack, _, count = ln.rpartition(" ")
        if not stack:
            continue
        k = int(count)
        everything += k
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        if not any(f.startswith("Runner.run (") for f in frames) or any(
            f.startswith("_find_and_load (") for f in frames
        ):
            continue
        total += k
        self_c[frames[-1]] += k
        for f in set(frames):
            incl_c[f] += k
    lines = [
        f"{total} GIL-holding samples in the event loop (of {everything} in the whole process)",
        "",
        "self %  function (file)",
    ]
    lines += [f"{c / total:6.1%}  {f}" for f, c in self_c.most_common(top)]
    lines += ["", "incl %  function (file)"]
    lines += [f"{c / total:6.1%}  {f}" for f, c in incl_c.most_common(top * 2)]
    return "\n".join(lines)


def run_pyspy(url: str, queue: str, a: argparse.Namespace, loop: str) -> None:
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("py-spy not found (pip install py-spy)")
    out = a.out_dir / f"pyspy-{loop}.collapsed"
    # --gil: only samples holding the GIL, i.e. running Python or C code under it;
    # uvloop waits in epoll (and does socket I/O) without the GIL, which py-spy's
    # idle detection otherwise miscounts as on-CPU time of Runner.run
    cmd = [exe, "record", "--rate", str(a.rate), "--function", "--gil", "--format", "raw"]
    if a.nonblocking:
        cmd.append("--nonblocking")
    if a.native:
        cmd.append("--native")
    p = subprocess.run(
        [*cmd, "-o", str(out), "--", *worker_cmd(url, queue, a)], capture_output=True, text=True
    )
    res = check(p.stdout, a.n)
    text = f"# py-spy, N={a.n}, {loop}, worker under profiling: {res}\n" + summarize(out, a.top)
    (a.out_dir / f"pyspy-{loop}.txt").write_text(text + "\n")
    print(text)


def run_pyinstrument(url: str, queue: str, a: argparse.Namespace, loop: str) -> None:
    out = a.out_dir / f"pyinstrument-{loop}.txt"
    cmd = worker_cmd(url, queue, a)
    prof = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out)]
    if a.show_all:
        prof.append("--show-all")
    p = subprocess.run([*prof, *cmd[1:]], capture_output=True, text=True)
    res = check(p.stdout, a.n)
    print(f"# pyinstrument, N={a.n}, {loop}: {res}; call tree in {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--tool", choices=["py-spy", "pyinstrument", "both"], default="py-spy")
    p.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--rate", type=int, default=1000, help="py-spy samples per second (1000)")
    p.add_argument("--native", action="store_true", help="py-spy: include C extension frames")
    p.add_argument(
        "--nonblocking", action="store_true", help="py-spy: sample without pausing (less exact)"
    )
    p.add_argument("--show-all", action="store_true", help="pyinstrument: library frames too")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out-dir", type=Path, default=HERE / "results" / "profile")
    a = p.parse_args()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    loop = ("uvloop" if a.uvloop else "asyncio") + ("-native" if a.native else "")
    tools = ["py-spy", "pyinstrument"] if a.tool == "both" else [a.tool]
    with RedisServer() as redis:
        for tool in tools:
            redis.client.flush()
            queue = f"prof-{os.urandom(3).hex()}"
            enqueue(redis.url, queue, a.n)
            if tool == "py-spy":
                run_pyspy(redis.url, queue, a, loop)
            else:
                run_pyinstrument(redis.url, queue, a, loop)


if __name__ == "__main__":
    main()
