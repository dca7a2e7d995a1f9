"""The ``relayq`` command line, run as a real subprocess against the test Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from sdk import TaskFailed
from sdk.client import Client

MODULE = """\
from __future__ import annotations

from sdk import Worker, WrappedContext

worker = Worker({redis_url!r}, queue_name={queue_name!r}, grace_period=5.0)


@worker.task()
async def add(ctx: WrappedContext[None], a: int, b: int) -> int:
    return a + b


@worker.task(max_tries=1)
async def fail(ctx: WrappedContext[None], message: str) -> None:
    raise ValueError(message)
"""

RELAYQ = [sys.executable, "-m", "sdk.worker._cli"]
# the subprocess tests start interpreters that import redis-py: allow some slack
START_TIMEOUT_S = 20.0


@pytest.fixture
def app_dir(tmp_path: Path, redis_url: str, queue_name: str) -> Path:
    """A directory holding ``climod.py``: a worker on the test's Redis and queue."""
    (tmp_path / "climod.py").write_text(MODULE.format(redis_url=redis_url, queue_name=queue_name))
    return tmp_path


@pytest.fixture
def env(subprocess_env: dict[str, str], app_dir: Path) -> dict[str, str]:
    """Environment for ``relayq`` subprocesses: this checkout's ``sdk`` and ``climod``."""
    env = dict(subprocess_env)
    env["PYTHONPATH"] = os.pathsep.join((str(app_dir), env["PYTHONPATH"]))
    env.pop("REDIS_URL", None)
    return env


async def _relayq(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 30
) -> tuple[int, str]:
    """Run ``relayq <args>`` to completion; return its exit code and stdout + stderr."""
    proc = await asyncio.create_subprocess_exec(
        *RELAYQ, *args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:  # timed out: leave no process behind
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


class Running:
    """A ``relayq`` subprocess whose log (stderr) is read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def wait_for_line(self, text: str, *, count: int = 1) -> None:
        """Read the log until ``count`` lines containing ``text`` have appeared."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while sum(text in line for line in self.lines) < count:
            remaining = deadline - time.monotonic()
            try:
                line = await asyncio.wait_for(self.proc.stderr.readline(), max(remaining, 0.01))
            except asyncio.TimeoutError:
                line = b""
            if not line:
                log = "".join(self.lines)
                raise AssertionError(f"no {count} x {text!r} in the log of relayq:\n{log}")
            self.lines.append(line.decode(errors="replace"))

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig``, wait for the exit and return the exit code."""
        self.proc.send_signal(sig)
        _, rest = await asyncio.wait_for(self.proc.communicate(), timeout)
        self.lines += rest.decode(errors="replace").splitlines(keepends=True)
        assert self.proc.returncode is not None
        return self.proc.returncode


@asynccontextmanager
async def running(*args: str, cwd: Path, env: dict[str, str]) -> AsyncIterator[Running]:
    """Start ``relayq <args>``; kill it on the way out if the test did not stop it."""
    proc = await asyncio.create_subprocess_exec(
        *RELAYQ, *args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield Running(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()


# -- run --burst -------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
async def test_burst_runs_queued_tasks_and_exits_0(
    client: Client, app_dir: Path, env: dict[str, str], workers: int
) -> None:
    async with client:
        adds = [await client.enqueue_unsafe("add", i, 10) for i in range(5)]
        failing = await client.enqueue_unsafe("fail", "boom")

        code, log = await _relayq(
            "run", "climod:worker", "--burst", "--workers", str(workers), cwd=app_dir, env=env
        )

        assert code == 0, log
        assert [await h.result(timeout=5) for h in adds] == [10, 11, 12, 13, 14]
        with pytest.raises(TaskFailed) as info:
            await failing.result(timeout=5)
        assert (info.value.exc_type, info.value.message) == ("ValueError", "boom")
    # one readable log line per task, from relayq.worker at INFO
    assert log.count("relayq.worker: task add[") == 5, log


# -- bad targets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:worker", "cannot import module 'no_such_module_xyz'"),
        ("climod:missing", "module 'climod' has no attribute 'missing'"),
        ("climod:add", "'climod:add' is a Task, not a relayq Worker"),
        ("climod", "expected MODULE:ATTR"),
    ],
)
async def test_bad_target_is_a_clear_error(
    app_dir: Path, env: dict[str, str], target: str, message: str
) -> None:
    code, out = await _relayq("run", target, cwd=app_dir, env=env)

    assert code != 0
    assert message in out
    assert "Traceback" not in out


async def test_exception_while_importing_shows_the_users_traceback(
    app_dir: Path, env: dict[str, str]
) -> None:
    (app_dir / "broken.py").write_text("import os\n\nraise RuntimeError('bad config')\n")

    code, out = await _relayq("run", "broken:worker", cwd=app_dir, env=env)

    assert code == 1
    assert "importing 'broken' raised an exception" in out
    assert 'broken.py", line 3' in out
    assert "RuntimeError: bad config" in out
    assert "importlib" not in out


async def test_unreachable_redis_exits_1(app_dir: Path, env: dict[str, str]) -> None:
    (app_dir / "nowhere.py").write_text(
        "from sdk import Worker\nworker = Worker('redis://127.0.0.1:1')\n"
    )

    code, out = await _relayq("run", "nowhere:worker", cwd=app_dir, env=env)

    assert code == 1
    assert "cannot connect to Redis at redis://127.0.0.1:1" in out


# -- signals -----------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_a_worker_gracefully_with_exit_0(
    app_dir: Path, env: dict[str, str], sig: int
) -> None:
    async with running("run", "climod:worker", cwd=app_dir, env=env) as worker:
        await worker.wait_for_line("consuming")

        code = await worker.stop(sig)

    assert code == 0, "".join(worker.lines)


async def test_workers_forwards_sigterm_and_exits_0(app_dir: Path, env: dict[str, str]) -> None:
    async with running("run", "climod:worker", "--workers", "2", cwd=app_dir, env=env) as sup:
        await sup.wait_for_line("consuming", count=2)

        code = await sup.stop(signal.SIGTERM)

    log = "".join(sup.lines)  # the children log to the supervisor's stderr
    assert code == 0, log
    assert log.count("SIGTERM: forwarding to the worker processes") == 1, log
    # each child got the signal exactly once: a second one would cancel running tasks
    assert log.count("SIGTERM: shutting down gracefully") == 2, log
    assert "cancelling running tasks" not in log


async def test_workers_exits_non_zero_when_a_child_fails(
    app_dir: Path, env: dict[str, str]
) -> None:
    (app_dir / "nowhere.py").write_text(
        "from sdk import Worker\nworker = Worker('redis://127.0.0.1:1')\n"
    )

    code, out = await _relayq("run", "nowhere:worker", "--workers", "2", cwd=app_dir, env=env)

    assert code == 1
    assert "failed with exit status 1" in out


async def test_reload_restarts_the_worker_when_a_py_file_changes(
    app_dir: Path, env: dict[str, str]
) -> None:
    async with running("run", "climod:worker", "--reload", cwd=app_dir, env=env) as sup:
        await sup.wait_for_line("consuming")
        # the watcher starts right after the first child; touch until it notices
        for attempt in range(5):
            with (app_dir / "climod.py").open("a") as f:
                f.write(f"# change {attempt}\n")
            try:
                await sup.wait_for_line("consuming", count=2)
                break
            except AssertionError:
                if attempt == 4:
                    raise
        assert any("climod.py changed: restarting the worker" in line for line in sup.lines)

        code = await sup.stop(signal.SIGTERM)

    assert code == 0, "".join(sup.lines)


# -- status ------------------------------------------------------------------------


async def test_status_prints_the_queue_line(
    client: Client, app_dir: Path, env: dict[str, str], queue_name: str
) -> None:
    async with client:
        await client.enqueue_unsafe("add", 1, 2)
        await client.enqueue_unsafe("add", 3, 4).start(delay=60)

        code, out = await _relayq("status", "climod:worker", cwd=app_dir, env=env)

    assert code == 0, out
    assert out.splitlines()[0] == f"queue {queue_name}: depth=1 scheduled=1 running=0 workers=0"


async def test_status_shows_the_depth_of_each_priority(
    redis_url: str, queue_name: str, app_dir: Path, env: dict[str, str]
) -> None:
    (app_dir / "prio.py").write_text(
        "from sdk import Worker\n"
        f"worker = Worker({redis_url!r}, queue_name={queue_name!r}, priorities=['high', 'low'])\n"
    )
    client = Client(redis_url, queue_name, priorities=["high", "low"])
    async with client:
        await client.enqueue_unsafe("add", 1, 2).start(priority="high")
        await client.enqueue_unsafe("add", 1, 2)
        await client.enqueue_unsafe("add", 1, 2)

        code, out = await _relayq("status", "prio:worker", cwd=app_dir, env=env)

    assert code == 0, out
    assert out.startswith(f"queue {queue_name}: depth=3 (high=1 low=2) scheduled=0 running=0")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_status_watch_refreshes_until_interrupted(
    app_dir: Path, env: dict[str, str], queue_name: str, sig: signal.Signals
) -> None:
    args = ("status", "climod:worker", "--watch", "--interval", "0.1")
    proc = await asyncio.create_subprocess_exec(
        *RELAYQ, *args, cwd=app_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert proc.stdout is not None
        seen = 0
        while seen < 3:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
            assert line, "relayq status --watch ended early"
            seen += line.startswith(f"queue {queue_name}: depth=0".encode())
        proc.send_signal(sig)
        await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 0


async def test_status_lists_live_workers(app_dir: Path, env: dict[str, str]) -> None:
    async with running("run", "climod:worker", cwd=app_dir, env=env) as worker:
        await worker.wait_for_line("consuming")
        await worker.wait_for_line("relayq.health")  # the first record is stored at start

        code, out = await _relayq("status", "climod:worker", cwd=app_dir, env=env)

        assert code == 0, out
        assert "workers=1" in out.splitlines()[0]
        line = out.splitlines()[1]
        assert f"pid={worker.proc.pid}" in line
        assert "done=0 failed=0 retried=0 running=0" in line
        assert line.endswith("s ago")
        assert await worker.stop() == 0


# -- demo --------------------------------------------------------------------------


async def test_demo_runs_end_to_end_on_a_throwaway_redis(
    subprocess_env: dict[str, str], repo_root: Path
) -> None:
    env = dict(subprocess_env)
    env.pop("REDIS_URL", None)

    code, out = await _relayq("demo", "--tasks", "300", cwd=repo_root, env=env, timeout=60)

    assert code == 0, out
    assert 'fetch("https://example.com")       -> 10 (int)' in out
    assert "add(2, 3)" in out and "-> 5 (int)" in out
    assert "TaskFailed: ZeroDivisionError: division by zero" in out
    assert "throughput: 300 no-op tasks" in out
    assert "the throwaway Redis is gone" in out
