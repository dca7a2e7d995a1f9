"""``relayq demo``: the first thing a new user runs.

Starts a throwaway ``redis-server`` on a free loopback port (no persistence; or
uses ``$REDIS_URL``), runs the worker of the example app that ships in the
package (``sdk/examples/app.py``) in this process, makes a few typed calls,
measures no-op throughput and shuts everything down. It works from any
directory and any installed copy, a wheel included.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

import click

from .._redact import redact_url
from .._redis import require_supported_server
from .._redis_server import INSTALL_REDIS, RedisServerMissing, throwaway
from ..errors import RelayqError, TaskFailed
from ._logging import setup_logging
from ._task import Task
from ._worker import Worker

__all__ = ["DemoError", "run_demo"]


class DemoError(Exception):
    """Something the demo needs is missing; the message says what to do."""


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


_APP = "sdk.examples.app"


def _import_app() -> ModuleType:
    """Import the packaged example app, fresh: its ``Worker`` reads ``$REDIS_URL``
    when the module runs, so an import made for another Redis is never reused."""
    sys.modules.pop(_APP, None)
    return importlib.import_module(_APP)


def _attr(app: ModuleType, name: str, kind: type[Any]) -> Any:
    value = getattr(app, name, None)
    if not isinstance(value, kind):
        raise DemoError(f"{_APP} has no {kind.__name__} named {name!r}")
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
        await require_supported_server(worker.redis)
        version = str((await worker.redis.info("server")).get("redis_version", "0"))
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
    try:
        server = stack.enter_context(throwaway("relayq-demo-"))
    except RedisServerMissing:
        raise DemoError(
            "relayq demo needs redis-server, which is not installed. Install it with:\n"
            f"\n    {INSTALL_REDIS}\n\n"
            "or point the demo at a running Redis: REDIS_URL=redis://HOST:6379 relayq demo"
        ) from None
    except RuntimeError as exc:  # it did not start: the message has its log
        raise DemoError(str(exc)) from None
    url = server.url
    # the example's Worker reads $REDIS_URL when the app is imported
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
                stack.enter_context(_log_level(_APP, logging.WARNING))
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
    say(
        "next: README.md's quickstart, or `relayq run sdk.examples.app:worker` "
        "against your own Redis"
    )
    return 0
