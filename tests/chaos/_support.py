"""Worker subprocesses for the chaos tests, and the app module they run.

Every chaos test that needs a real process boundary (SIGKILL, SIGTERM, a task
that calls ``os._exit``, an event loop blocked by ``time.sleep``) runs
``python -m sdk.worker._cli run chaosapp:worker`` in the test's ``tmp_path``.
``chaosapp`` reads its settings from ``RQ_*`` environment variables, so one
module serves every test; each task records what it did under the test's own
key namespace (``RQ_NS``), never under relayq's keys.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from sdk.client import Client, TaskRef

__all__ = ["APP_MODULE", "ChaosStubs", "Spawner", "WorkerProcess", "app_env"]

#: Written to ``<tmp_path>/chaosapp.py``.
APP_MODULE = '''\
"""Worker of the chaos tests; configured by RQ_* environment variables."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from sdk import Worker, WrappedContext

_env = os.environ.get
NS = _env("RQ_NS", "chaos")
_fetch_limit = _env("RQ_FETCH_LIMIT")

worker = Worker(
    _env("RQ_REDIS_URL"),
    queue_name=_env("RQ_QUEUE", "default"),
    lease=float(_env("RQ_LEASE", "30")),
    concurrency=int(_env("RQ_CONCURRENCY", "16")),
    queue_fetch_limit=int(_fetch_limit) if _fetch_limit else None,
    grace_period=float(_env("RQ_GRACE", "30")),
    signing_key=_env("RQ_SIGNING_KEY") or None,
    worker_id=_env("RQ_WORKER_ID") or None,
)


@worker.task(max_tries=int(_env("RQ_MAX_TRIES", "3")))
async def record(ctx: WrappedContext[None], i: int, sleep: float) -> int:
    """Count this execution of task i, take `sleep` seconds, return 2 * i."""
    await ctx.redis.hincrby(NS + ":execs", str(i), 1)
    if sleep:
        await asyncio.sleep(sleep)
    await ctx.redis.hincrby(NS + ":finished", str(i), 1)
    return i * 2


@worker.task(max_tries=2)
async def crash(ctx: WrappedContext[None], i: int) -> None:
    """A poison pill: takes its worker down on every try."""
    await ctx.redis.hincrby(NS + ":execs", str(i), 1)
    os._exit(3)


@worker.task()
async def stall(ctx: WrappedContext[None], block_s: float, hold_s: float) -> str:
    """Try 1 blocks the event loop (no lease renewal: a zombie); later tries hold_s."""
    await ctx.redis.rpush(NS + ":stall", f"start {ctx.tries} {ctx.worker_id}")
    if ctx.tries == 1:
        time.sleep(block_s)
    else:
        await asyncio.sleep(hold_s)
    await ctx.redis.rpush(NS + ":stall", f"end {ctx.tries} {ctx.worker_id}")
    return f"try {ctx.tries} by {ctx.worker_id}"


@worker.task()
async def add(ctx: WrappedContext[None], a: int, b: int) -> int:
    return a + b


@worker.task()
async def exits(ctx: WrappedContext[None], code: int) -> None:
    """Calls sys.exit(code): it must fail this task, not stop the worker."""
    await ctx.redis.hincrby(NS + ":execs", "exits", 1)
    sys.exit(code)
'''

_START_TIMEOUT_S = 20.0


class ChaosStubs:
    """Typed stubs of ``chaosapp``'s tasks on ``client``."""

    def __init__(self, client: Client) -> None:
        @client.stub()
        async def record(i: int, sleep: float) -> int:
            raise NotImplementedError

        @client.stub()
        async def crash(i: int) -> None:
            raise NotImplementedError

        @client.stub()
        async def stall(block_s: float, hold_s: float) -> str:
            raise NotImplementedError

        @client.stub()
        async def add(a: int, b: int) -> int:
            raise NotImplementedError

        @client.stub()
        async def exits(code: int) -> None:
            raise NotImplementedError

        self.record: TaskRef[[int, float], int] = record
        self.crash: TaskRef[[int], None] = crash
        self.stall: TaskRef[[float, float], str] = stall
        self.add: TaskRef[[int, int], int] = add
        self.exits: TaskRef[[int], None] = exits


class WorkerProcess:
    """One worker slot: a ``relayq run chaosapp:worker`` process that can be
    killed and started again. Each start logs to its own file in ``app_dir``.
    """

    def __init__(self, name: str, app_dir: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.app_dir = app_dir
        self.env = dict(env)
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    def __repr__(self) -> str:
        return f"<WorkerProcess {self.name} pid={self.pid} starts={self.starts}>"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start a new process in this slot (the previous one must have exited)."""
        if self.alive:
            raise RuntimeError(f"{self!r} is still running")
        log = self.app_dir / f"{self.name}.{self.starts}.log"
        self.starts += 1
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sdk.worker._cli", "run", "chaosapp:worker"],
                cwd=self.app_dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log(self) -> str:
        """The log of the current (last started) process."""
        return self.logs[-1].read_text(errors="replace") if self.logs else ""

    def all_logs(self) -> str:
        """The logs of every process this slot ran, oldest first."""
        return "".join(
            f"----- {p.name}\n" + p.read_text(errors="replace") for p in self.logs if p.exists()
        )

    async def wait_for_log(
        self, *texts: str, count: int = 1, timeout: float = _START_TIMEOUT_S
    ) -> None:
        """Wait until the current process has logged one of ``texts`` ``count`` times."""
        deadline = time.monotonic() + timeout
        wanted = " or ".join(map(repr, texts))
        while max(self.log().count(text) for text in texts) < count:
            if not self.alive:
                raise AssertionError(
                    f"{self!r} exited ({self.returncode()}) before logging {wanted}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self!r} did not log {wanted} in {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.02)

    async def ready(self, timeout: float = _START_TIMEOUT_S) -> None:
        """Wait until the worker consumes."""
        await self.wait_for_log(" consuming ", timeout=timeout)

    async def wait_exit(self, timeout: float) -> int:
        """Wait for the process to exit; return its exit code."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while (code := self.proc.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self!r} did not exit within {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.005)
        return code


class Spawner:
    """Makes :class:`WorkerProcess` slots for one test; kills them all at teardown."""

    def __init__(self, app_dir: Path, env: Mapping[str, str], redis_url: str, queue: str) -> None:
        self.app_dir = app_dir
        self.env = dict(env)
        self.redis_url = redis_url
        self.queue = queue
        #: The test's own key namespace (``chaosapp`` writes under it).
        self.ns = f"chaos:{queue}"
        self.slots: list[WorkerProcess] = []

    def __call__(
        self,
        name: str,
        *,
        redis_url: str | None = None,
        lease: float | None = None,
        concurrency: int | None = None,
        fetch_limit: int | None = None,
        grace: float | None = None,
        max_tries: int | None = None,
        signing_key: str | None = None,
        worker_id: str | None = None,
        start: bool = True,
    ) -> WorkerProcess:
        env = dict(self.env)
        env.pop("REDIS_URL", None)
        settings = {
            "RQ_REDIS_URL": redis_url or self.redis_url,
            "RQ_QUEUE": self.queue,
            "RQ_NS": self.ns,
            "RQ_LEASE": lease,
            "RQ_CONCURRENCY": concurrency,
            "RQ_FETCH_LIMIT": fetch_limit,
            "RQ_GRACE": grace,
            "RQ_MAX_TRIES": max_tries,
            "RQ_SIGNING_KEY": signing_key,
            "RQ_WORKER_ID": worker_id,
        }
        env.update({k: str(v) for k, v in settings.items() if v is not None})
        slot = WorkerProcess(name, self.app_dir, env)
        self.slots.append(slot)
        if start:
            slot.start()
        return slot

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass


def app_env(base: Mapping[str, str], app_dir: Path) -> dict[str, str]:
    """``base`` with ``app_dir`` first on ``PYTHONPATH``."""
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(app_dir), env.get("PYTHONPATH")) if p)
    return env
