"""Fixtures of the worker feature tests (retries, scheduling, cron, ...), built on
the session ``redis-server`` and the fixtures of ``tests/conftest.py``."""

from __future__ import annotations

import pytest

from sdk._keys import Keys


@pytest.fixture
def keys(queue_name: str) -> Keys:
    """The key schema of the test's queue."""
    return Keys(queue_name)
