"""Fixtures of the chaos tests: worker subprocesses and a private, restartable Redis.

``chaos_long`` tests are skipped unless selected (``pytest -m chaos_long``, or
``RELAYQ_CHAOS_LONG=1``); the default run has their short versions.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sdk.client import Client
from tests.chaos._support import APP_MODULE, ChaosStubs, Spawner, app_env
from tests.conftest import RedisServer


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "chaos_long" in (config.getoption("markexpr") or "")
    if selected or os.environ.get("RELAYQ_CHAOS_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long chaos run: select it with -m chaos_long")
    for item in items:
        if item.get_closest_marker("chaos_long") is not None:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def aof_redis() -> Iterator[RedisServer]:
    """A private ``redis-server`` with ``appendonly yes`` / ``appendfsync always``
    that the test may kill and restart (same port, same data directory)."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not on PATH", pytrace=False)
    directory = Path(tempfile.mkdtemp(prefix="relayq-chaos-redis-"))
    server: RedisServer | None = None
    try:
        for attempt in range(3):  # a free port can be taken between probing and binding
            server = RedisServer(executable, _free_port(), directory)
            try:
                server.start(appendonly=True)
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


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """``tmp_path`` holding ``chaosapp.py``, the worker module of the chaos tests."""
    (tmp_path / "chaosapp.py").write_text(APP_MODULE)
    return tmp_path


@pytest.fixture
def spawn(
    app_dir: Path, subprocess_env: dict[str, str], redis_url: str, queue_name: str
) -> Iterator[Spawner]:
    """``spawn(name, lease=..., ...)``: a ``chaosapp`` worker process on the test's queue
    (the session Redis unless ``redis_url=`` says otherwise); all killed at teardown."""
    spawner = Spawner(app_dir, app_env(subprocess_env, app_dir), redis_url, queue_name)
    try:
        yield spawner
    finally:
        spawner.close()


@pytest.fixture
async def stubs(client: Client) -> AsyncIterator[ChaosStubs]:
    """Typed stubs of ``chaosapp``'s tasks on the connected test client."""
    async with client:
        yield ChaosStubs(client)
