"""Fixtures of the chaos tests: worker subprocesses and a private, restartable Redis.

``chaos_long`` tests are skipped unless selected (``pytest -m chaos_long``, or
``RELAYQ_CHAOS_LONG=1``); the default run has their short versions. ``soak``
tests (the fault-injection checker over many seeds) are skipped unless selected
with ``pytest -m soak``. ``--seed N`` replays one seed of the checker
(``pytest tests/chaos/test_checker.py --seed N``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sdk.client import Client
from tests.chaos._support import APP_MODULE, ChaosStubs, Spawner, app_env
from tests.conftest import RedisServer, private_redis_server


def _skip_unselected(
    config: pytest.Config, items: list[pytest.Item], marker: str, selected: bool
) -> None:
    if selected or marker in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason=f"long chaos run: select it with -m {marker}")
    for item in items:
        if item.get_closest_marker(marker) is not None:
            item.add_marker(skip)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _skip_unselected(config, items, "chaos_long", os.environ.get("RELAYQ_CHAOS_LONG") == "1")
    _skip_unselected(config, items, "soak", False)


@pytest.fixture
def aof_redis() -> Iterator[RedisServer]:
    """A private ``redis-server`` with ``appendonly yes`` / ``appendfsync always``
    that the test may kill and restart (same port, same data directory)."""
    with private_redis_server("relayq-chaos-redis-", appendonly=True) as server:
        yield server


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
