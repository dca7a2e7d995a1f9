"""``relayq demo``: the first thing a new user runs.

Starts a throwaway ``redis-server`` on a free loopback port (no persistence; or
uses ``$REDIS_URL``), runs the worker of ``examples/app.py`` in this process,
makes a few typed calls, measures no-op throughput and shuts everything down.

The example app is imported from the current directory or, for an editable
install, from the checkout this package lives in.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import click

from .._redact import redact_url
from ..errors import RelayqError, TaskFailed
from ._logging import setup_logging
from ._task import Task
from ._worker import Worker

__all__ = ["DemoError", "run_demo", "throwaway_redis"]

INSTALL_REDIS: Final = "sudo apt-get install -y redis-server"
MIN_REDIS: Final = (6, 2)
_START_TIMEOUT_S: Final = 10.0


class DemoError(Exception):
    """Something the demo needs is missing; the message says what to do."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(binary: str, directory: str) -> tuple[subprocess.Popen[bytes], int]:
    log = Path(directory, "redis.log")
    for _attempt in range(3):  # the free port can be taken between probing and binding
        port = _free_port()
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        cmd += ["no", "--daemonize", "no", "--dir", directory, "--logfile", str(log)]
        # its own session: a Ctrl-C must not kill Redis before the worker has stopped
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if _ping(port):
                return proc, port
            time.sleep(0.01)
        _kill(proc)
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise DemoError(f"redis-server did not start:\n{tail}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@contextmanager
def throwaway_redis(binary: str) -> Iterator[str]:
    """Run ``redis-server`` on a free loopback port without persistence; yield its URL.

    The server and its temporary directory are gone when the block exits.
    """
    directory = tempfile.mkdtemp(prefix="relayq-demo-")
    try:
        proc, port = _start_redis(binary, directory)
        try:
            yield f"redis://127.0.0.1:{port}"
        finally:
            _kill(proc)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextmanager
def _log_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C, so the throwaway Redis is always killed."""

    def handler(sig: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _import_app() -> ModuleType:
    """Import ``examples.app`` from the cwd or this package's checkout (fresh each call)."""
    roots = (Path.cwd(), Path(__file__).resolve().parents[2])
    root = next((r for r in roots if (r / "examples" / "app.py").is_file()), None)
    if root is None:
        raise DemoError(
            "relayq demo runs examples/app.py from a relayq checkout; run it from the "
            "repository root (git clone, then ./scripts/demo)"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # the example's Worker reads $REDIS_URL when the module runs, so never reuse an
    # import made for another Redis
    sys.modules.pop("examples.app", None)
    return importlib.import_module("examples.app")


def _attr(app: ModuleType, name: str, kind: type[Any]) -> Any:
    value = getattr(app, name, None)
    if not isinstance(value, kind):
        raise DemoError(f"examples/app.py has no {kind.__name__} named {name!r}")
    return value


Say = Callable[[str], None]


async def _timed_call(say: Say, label: str, handle: Any, note: str = "") -> None:
    started = time.perf_counter()
    try:
        value = await handle.result(timeout=10)
    except TaskFailed as exc:
        say(f"  {label:<34} -> {type(exc).__name__}: {exc.exc_type}: {exc.message}")
        return
    ms = (time.perf_counter() - started) * 1000
    shown = f"{value!r} ({type(value).__name__})"
    say(f"  {label:<34} -> {shown:<26} {ms:5.1f} ms{note}")


async def _session(app: ModuleType, tasks: int, say: Say) -> None:
    worker: Worker[Any] = _attr(app, "worker", Worker)
    fetch, add, crunch, divide, noop = (
        _attr(app, name, Task) for name in ("fetch", "add", "crunch", "divide", "noop")
    )
    async with worker:  # check the server before a worker runs scripts it cannot
        version = str((await worker.redis.info("server")).get("redis_version", "0"))
    if tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) < MIN_REDIS:
        raise DemoError(f"relayq needs Redis >= 6.2 (for XAUTOCLAIM); this one is {version}")
    say(f"Redis {version} at {redact_url(worker.client.redis_url)}")
    async with worker.running():
        say(
            f"worker {worker.id} consuming queue {worker.queue_name!r} in this process "
            f"(concurrency {worker.concurrency}; tasks: {', '.join(sorted(worker.tasks))})"
        )
        say("")
        say("typed calls, each `await task.enqueue(...).result()`; mypy knows every result type:")
        await _timed_call(say, 'fetch("https://example.com")', fetch.enqueue("https://example.com"))
        await _timed_call(say, "add(2, 3)", add.enqueue(2, 3))
        await _timed_call(
            say,
            'crunch("relayq", rounds=20_000)',
            crunch.enqueue("relayq", rounds=20_000),
            "  (sync: ran in a thread)",
        )
        await _timed_call(say, "divide(1, 0)", divide.enqueue(1, 0))
        await _timed_call(
            say, 'fetch("https://nowhere.test")', fetch.enqueue("https://nowhere.test")
        )
        say("")
        started = time.perf_counter()
        handles = await worker.enqueue_many([noop.enqueue(i) for i in range(tasks)])
        sent = time.perf_counter()
        await asyncio.gather(*(h.result(timeout=60) for h in handles))
        elapsed = time.perf_counter() - started
        say(
            f"throughput: {tasks:,} no-op tasks sent with one enqueue_many in "
            f"{sent - started:.2f} s, all results back after {elapsed:.2f} s = "
            f"{tasks / elapsed:,.0f} tasks/s (1 worker process, concurrency {worker.concurrency})"
        )


def _use_redis(stack: ExitStack, say: Say) -> bool:
    """Use $REDIS_URL, or start a throwaway server and point $REDIS_URL at it (until
    ``stack`` closes); return whether the demo started a server."""
    url = os.environ.get("REDIS_URL")
    if url:
        say(f"using $REDIS_URL ({redact_url(url)}), queue 'examples'")
        return False
    binary = shutil.which("redis-server")
    if binary is None:
        raise DemoError(
            "relayq demo needs redis-server, which is not installed. Install it with:\n"
            f"\n    {INSTALL_REDIS}\n\n"
            "or point the demo at a running Redis: REDIS_URL=redis://HOST:6379 relayq demo"
        )
    url = stack.enter_context(throwaway_redis(binary))
    # the example's Worker reads $REDIS_URL when examples.app is imported
    stack.enter_context(_env("REDIS_URL", url))
    say("started a throwaway redis-server (no persistence; stopped at the end)")
    return True


def run_demo(*, tasks: int = 5000, verbose: bool = False, say: Say = click.echo) -> int:
    """Run the demo; return the process exit code (0 when everything worked)."""
    setup_logging(verbose)
    say("relayq demo")
    try:
        with ExitStack() as stack:
            if not verbose:
                # the demo prints its own narrative; the worker's per-task lines (and the
                # tracebacks of the calls that fail on purpose) would drown it
                stack.enter_context(_log_level("relayq", logging.ERROR))
                stack.enter_context(_log_level("examples", logging.WARNING))
            stack.enter_context(_sigterm_as_interrupt())
            own_redis = _use_redis(stack, say)
            app = _import_app()
            asyncio.run(_session(app, tasks, say))
    except (DemoError, RelayqError) as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    say("")
    say(
        "done: the worker stopped cleanly"
        + (" and the throwaway Redis is gone." if own_redis else ".")
    )
    say("next: README.md's quickstart, or `relayq run examples.app:worker` against your own Redis")
    return 0
