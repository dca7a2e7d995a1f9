"""Shared fixtures: a real ``redis-server`` for the session, a fresh queue per test.

The session starts its own ``redis-server`` on a free loopback port (never 6379,
never a fake) with persistence off and a temporary ``--dir``. Tests that need to
restart Redis (persistence, outages) use :meth:`RedisServer.restart`, which keeps
the port and the data directory, so clients reconnect to the same URL;
:func:`redis_server` starts it empty with the default configuration again after
any test that stopped it or turned AOF on.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import Worker
from sdk.client import Client

_START_TIMEOUT_S = 10.0


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


class RedisServer:
    """A ``redis-server`` subprocess owned by the test session.

    :ivar port: the loopback port it listens on (kept across restarts).
    :ivar dir: its working directory (``--dir``: AOF and RDB files go here).
    """

    def __init__(self, executable: str, port: int, directory: Path) -> None:
        self.executable = executable
        self.port = port
        self.dir = directory
        self.appendonly = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = directory / "redis.log"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>``."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, appendonly: bool = False) -> None:
        """Start the server and return once it answers PING."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        self.appendonly = appendonly
        cmd = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self._log),
        ]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if _ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        log = self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""
        raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}")

    def stop(self) -> None:
        """Kill the server (like a crash: nothing is saved beyond what AOF already has)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()

    def restart(self, *, appendonly: bool | None = None) -> None:
        """Stop and start again on the same port (``appendonly=None`` keeps the setting)."""
        self.stop()
        self.start(appendonly=self.appendonly if appendonly is None else appendonly)

    def reset(self) -> None:
        """Restart empty, with the default configuration (persistence files deleted)."""
        self.stop()
        for path in self.dir.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif path != self._log:
                path.unlink()
        self.start()


@contextmanager
def private_redis_server(prefix: str, *, appendonly: bool = False) -> Iterator[RedisServer]:
    """Start a ``redis-server`` of our own on a free loopback port, in a temporary
    directory; stop it and remove the directory afterwards.

    Fails the test with the install command when ``redis-server`` is missing.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail(
            "redis-server is not on PATH; the tests need a real one. "
            "Install it with: sudo apt-get install -y redis-server",
            pytrace=False,
        )
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    server: RedisServer | None = None
    try:
        for attempt in range(3):  # a free port can be taken between probing and binding
            server = RedisServer(executable, _free_port(), directory)
            try:
                server.start(appendonly=appendonly)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        assert server is not None
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


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
