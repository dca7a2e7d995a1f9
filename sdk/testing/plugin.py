"""relayq's pytest plugin (registered through the ``pytest11`` entry point, so it
is active wherever relayq is installed): fixtures for testing code that uses relayq.

- ``relayq_redis_url`` (session): the URL of a throwaway ``redis-server`` started
  once per test session on a free port, stopped at the end; or of the server in
  ``$RELAYQ_TEST_REDIS_URL`` when that is set (it must be one whose data may be
  thrown away). A missing ``redis-server`` fails the test with the command that
  installs it.
- ``relayq_queue_name``: a queue name no other test uses (each test gets its own
  keys, so tests never see each other's tasks).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from .._redis_server import RedisServerMissing
from ._helpers import redis_server

__all__ = ["relayq_queue_name", "relayq_redis_url"]


@pytest.fixture(scope="session")
def relayq_redis_url() -> Iterator[str]:
    """URL of a Redis for this test session (see the module docstring)."""
    url = os.environ.get("RELAYQ_TEST_REDIS_URL")
    if url:
        yield url
        return
    try:
        with redis_server() as started:
            yield started
    except RedisServerMissing as exc:
        pytest.fail(f"relayq_redis_url needs a real redis-server: {exc}", pytrace=False)


@pytest.fixture
def relayq_queue_name() -> str:
    """A queue name of this test alone."""
    return f"test-{uuid.uuid4().hex}"
