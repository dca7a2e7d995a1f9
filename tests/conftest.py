"""Shared fixtures: a real ``redis-server`` for the session, a fresh queue per test.

The session starts its own ``redis-server`` on a free loopback port (never 6379,
never a fake) with persistence off and a temporary ``--dir``. Tests that need to
restart Redis (persistence, outages) use :meth:`RedisServer.restart`, which keeps
the port and the data directory, so clients reconnect to the same URL;
:func:`redis_server` starts it empty with the default configuration again after
any test that stopped it or turned AOF on.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import Worker
from sdk._redis_server import RedisServer, RedisServerMissing, throwaway
from sdk.client import Client

__all__ = ["RedisServer", "WorkerFactory", "private_redis_server"]


def pytest_configure(config: pytest.Config) -> None:
    """``RELAYQ_TEST_UVLOOP=1`` runs every test on uvloop (scripts/check runs the suite
    once that way), so relayq is tested on both event loops."""
    if os.environ.get("RELAYQ_TEST_UVLOOP") == "1":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed",
        type=int,
        default=None,
        help="replay one seed of the fault-injection checker (tests/chaos/test_checker.py)",
    )


@contextmanager
def private_redis_server(prefix: str, *, appendonly: bool = False) -> Iterator[RedisServer]:
    """Start a ``redis-server`` of our own on a free loopback port, in a temporary
    directory (relayq's one throwaway launcher); stopped and removed afterwards.

    Fails the test with the install command when ``redis-server`` is missing.
    """
    try:
        with throwaway(prefix, appendonly=appendonly) as server:
            yield server
    except RedisServerMissing as exc:
        pytest.fail(f"the tests need a real redis-server: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def _redis_session_server() -> Iterator[RedisServer]:
    with private_redis_server("relayq-test-redis-") as server:
        yield server


@pytest.fixture
def redis_server(_redis_session_server: RedisServer) -> Iterator[RedisServer]:
    """The session's ``redis-server``; a test may stop or restart it.

    After the test it is running again with the default configuration.
    """
    server = _redis_session_server
    yield server
    if not server.running or server.appendonly:
        server.reset()


@pytest.fixture
def redis_url(_redis_session_server: RedisServer) -> str:
    """URL of the session's ``redis-server``."""
    return _redis_session_server.url


@pytest.fixture
def queue_name() -> str:
    """A queue name no other test uses."""
    return uuid.uuid4().hex


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A plain redis-py client for inspecting server state (bytes replies)."""
    client = Redis.from_url(redis_url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


class WorkerFactory:
    """Builds ``Worker[None]`` objects bound to the test's Redis and queue.

    Defaults suit tests (a short grace period so a failing test does not hang);
    keyword arguments override them.
    """

    def __init__(self, redis_url: str, queue_name: str) -> None:
        self.redis_url = redis_url
        self.queue_name = queue_name

    def __call__(self, **options: Any) -> Worker[None]:
        options.setdefault("queue_name", self.queue_name)
        options.setdefault("grace_period", 5.0)
        return Worker(self.redis_url, **options)


@pytest.fixture
def make_worker(redis_url: str, queue_name: str) -> WorkerFactory:
    """``make_worker(**options)``: a new ``Worker[None]`` on the test's queue."""
    return WorkerFactory(redis_url, queue_name)


@pytest.fixture
def worker(make_worker: WorkerFactory) -> Worker[None]:
    """A ``Worker[None]`` on the test's queue; register tasks, then ``async with
    worker.running():`` (or ``async with worker:`` to enqueue without consuming)."""
    return make_worker()


@pytest.fixture
def client(redis_url: str, queue_name: str) -> Client:
    """A :class:`Client` on the test's queue (not connected yet: ``async with client:``)."""
    return Client(redis_url, queue_name)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (for subprocess tests)."""
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def subprocess_env(repo_root: Path) -> dict[str, str]:
    """Environment for a child Python that imports ``sdk`` from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root), env.get("PYTHONPATH", "")) if p)
    return env
