"""The worker app the checker drives (:data:`APP_MODULE`), the clients' typed stubs
of its tasks, and :class:`CheckerWorker`, a worker process running it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from sdk.client import Client, TaskRef
from tests.chaos._support import WorkerProcess

#: Written to ``<app_dir>/checkerapp.py``: the worker the checker drives.
APP_MODULE = '''\
"""Worker of the fault-injection checker; configured by RQ_* environment variables.

Every execution appends "start <t> <worker> <try> <enqueue ms> <token>" and
"end <t> <worker> <try> <enqueue ms> <token> <how>" to RQ_NS:runs:<task id>; every
time the event loop could not run for RQ_STALL seconds or more (CPU starvation, a
long GC), "<worker> <from> <to>" goes to RQ_NS:stalls: a stall past the lease is
an unplanned SIGSTOP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import redis

from sdk import Retry, Worker, WrappedContext

_env = os.environ.get
NS = _env("RQ_NS", "checker")
URL = _env("RQ_REDIS_URL")
MAX_TRIES = int(_env("RQ_MAX_TRIES", "10"))
STALL_S = float(_env("RQ_STALL", "0.2"))


async def _watch_loop(w):
    step = 0.05
    while True:
        before = time.monotonic()
        await asyncio.sleep(step)
        lag = time.monotonic() - before - step
        if lag >= STALL_S:
            now = time.time()
            line = f"{w.id} {now - lag:.6f} {now:.6f}"
            for _ in range(100):
                try:
                    await w.redis.rpush(f"{NS}:stalls", line)
                    break
                except Exception:
                    await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _lifespan(w):
    watcher = asyncio.ensure_future(_watch_loop(w))
    try:
        yield None
    finally:
        watcher.cancel()


worker = Worker(
    URL,
    worker_lifespan=_lifespan,
    queue_name=_env("RQ_QUEUE", "default"),
    lease=float(_env("RQ_LEASE", "1")),
    concurrency=int(_env("RQ_CONCURRENCY", "4")),
    grace_period=float(_env("RQ_GRACE", "2")),
    worker_id=_env("RQ_WORKER_ID") or None,
    priorities=("high", "default"),
    health_check_interval=float(_env("RQ_HEALTH", "2")),
)
_sync = redis.Redis.from_url(URL, socket_timeout=5, socket_connect_timeout=5)


def _line(event, ctx, token, how=""):
    enq = round(ctx.enqueue_time.timestamp() * 1000)
    return f"{event} {time.time():.6f} {ctx.worker_id} {ctx.tries} {enq} {token} {how}".rstrip()


async def _note(ctx, line):
    # Redis may be restarting: keep trying (the record is the checker's evidence)
    for _ in range(600):
        try:
            await ctx.redis.rpush(f"{NS}:runs:{ctx.task_id}", line)
            return
        except Exception:
            await asyncio.sleep(0.05)


def _note_sync(ctx, line):
    for _ in range(600):
        try:
            _sync.rpush(f"{NS}:runs:{ctx.task_id}", line)
            return
        except Exception:
            time.sleep(0.05)


async def _run(ctx, token, body):
    await _note(ctx, _line("start", ctx, token))
    how = "cancelled"
    try:
        value = await body()
        how = "ok"
        return value
    except Retry:
        how = "retry"
        raise
    except Exception:
        how = "raise"
        raise
    finally:
        # a second cancel (shutdown) must not lose the record
        await asyncio.shield(_note(ctx, _line("end", ctx, token, how)))


@worker.task(max_tries=MAX_TRIES, ttl=None)
async def quick(ctx: WrappedContext[None], token: int) -> int:
    async def body():
        await asyncio.sleep((token % 5) / 100)
        return token

    return await _run(ctx, token, body)


@worker.task(max_tries=MAX_TRIES, ttl=600)
async def nap(ctx: WrappedContext[None], token: int, s: float) -> int:
    async def body():
        await asyncio.sleep(s)
        return token

    return await _run(ctx, token, body)


@worker.task(max_tries=MAX_TRIES, ttl=None)
def blocking(ctx: WrappedContext[None], token: int, s: float) -> int:
    _note_sync(ctx, _line("start", ctx, token))
    how = "raise"
    try:
        time.sleep(s)
        how = "ok"
        return token
    finally:
        _note_sync(ctx, _line("end", ctx, token, how))


@worker.task(max_tries=MAX_TRIES, ttl=600)
async def boom(ctx: WrappedContext[None], token: int) -> int:
    async def body():
        await asyncio.sleep(0.01)
        raise ValueError(f"boom {token}")

    return await _run(ctx, token, body)


@worker.task(max_tries=MAX_TRIES, ttl=None)
async def flaky(ctx: WrappedContext[None], token: int, fails: int) -> int:
    async def body():
        await asyncio.sleep(0.02)
        if ctx.tries <= fails:
            raise Retry(delay=0.1)
        return token

    return await _run(ctx, token, body)


@worker.task(max_tries=MAX_TRIES, ttl=600, unique=True)
async def uniq(ctx: WrappedContext[None], k: int) -> int:
    async def body():
        await asyncio.sleep(0.3)
        return k

    return await _run(ctx, k, body)
'''

#: The clients' ``ttl`` (outcomes written for a task before a worker ran it: aborts).
STUB_TTL_S: Final = 600.0
#: Worker ``ttl`` per task in ms (-1: kept forever), as APP_MODULE registers them.
WORKER_TTL_MS: Final = {
    "quick": -1,
    "nap": 600_000,
    "blocking": -1,
    "boom": 600_000,
    "flaky": -1,
    "uniq": 600_000,
}


def checker_stubs(client: Client) -> dict[str, TaskRef[..., int]]:
    """The checker's typed stubs on ``client`` (APP_MODULE's tasks)."""

    @client.stub(ttl=STUB_TTL_S)
    async def quick(token: int) -> int:
        raise NotImplementedError

    @client.stub(ttl=STUB_TTL_S)
    async def nap(token: int, s: float) -> int:
        raise NotImplementedError

    @client.stub(ttl=STUB_TTL_S)
    async def blocking(token: int, s: float) -> int:
        raise NotImplementedError

    @client.stub(ttl=STUB_TTL_S)
    async def boom(token: int) -> int:
        raise NotImplementedError

    @client.stub(ttl=STUB_TTL_S)
    async def flaky(token: int, fails: int) -> int:
        raise NotImplementedError

    @client.stub(ttl=STUB_TTL_S, unique=True)
    async def uniq(k: int) -> int:
        raise NotImplementedError

    return {
        "quick": quick,
        "nap": nap,
        "blocking": blocking,
        "boom": boom,
        "flaky": flaky,
        "uniq": uniq,
    }


class CheckerWorker(WorkerProcess):
    """A worker slot running ``checkerapp:worker``; names its process by ``worker_id``
    (the same name on every start with ``fixed_id``, so a restart recovers what the
    killed process held; a new one per start otherwise)."""

    def __init__(self, name: str, app_dir: Path, env: Mapping[str, str], fixed_id: bool) -> None:
        super().__init__(name, app_dir, env)
        self.fixed_id = fixed_id
        self.worker_id = name
        self.expected_exit = False  # we killed or stopped it
        self.stopped = False  # SIGSTOPped right now
        self.busy = True  # starting, or a fault is under way
        self.reported = False

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self!r} is still running")
        self.worker_id = self.name if self.fixed_id else f"{self.name}.{self.starts}"
        self.env["RQ_WORKER_ID"] = self.worker_id
        log = self.app_dir / f"{self.name}.{self.starts}.log"
        self.starts += 1
        self.logs.append(log)
        self.expected_exit = False
        self.reported = False
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sdk.worker._cli", "run", "checkerapp:worker"],
                cwd=self.app_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def tail(self, lines: int = 12) -> str:
        return " | ".join(self.log().strip().splitlines()[-lines:])
