"""Small helpers shared by the tests (no fixtures here; see ``conftest.py``)."""

from __future__ import annotations

import asyncio
import time as _time
from collections.abc import Awaitable, Callable
from datetime import datetime, time
from typing import Any

import pytest
from redis.asyncio import Redis

from sdk import ResultTimeout, TaskFailed, TaskResult, TaskStatus
from sdk._keys import Keys

__all__ = [
    "assert_same",
    "client_list",
    "fails_with",
    "live_task_ids",
    "task_field",
    "wait_for_status",
    "wait_until",
]


async def wait_until(
    predicate: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "condition",
) -> None:
    """Poll ``predicate`` (a Redis state check) until it is true; fail after ``timeout``.

    Only for state that has no event to await (where a task's progress shows in Redis).
    """
    deadline = _time.monotonic() + timeout
    while not await predicate():
        if _time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_for_status(
    handle: TaskResult[Any], status: TaskStatus, *, timeout: float = 5.0
) -> None:
    """Wait until ``handle.status()`` is ``status``."""

    async def reached() -> bool:
        return await handle.status() == status

    await wait_until(reached, timeout=timeout, what=f"{handle!r} to be {status.name}")


async def live_task_ids(redis: Redis, keys: Keys) -> set[str]:
    """The ids of a queue's live tasks (a scan of their hashes)."""
    found = [k async for k in redis.scan_iter(match=keys.tasks_pattern, count=1000)]
    return {keys.task_id_of(k.decode() if isinstance(k, bytes) else str(k)) for k in found}


async def task_field(redis: Redis, keys: Keys, task_id: str, field: str) -> bytes | None:
    """One field of a live task's hash (see sdk/_envelope.py), ``None`` if absent."""
    value = await redis.hget(keys.task(task_id), field)
    return value if isinstance(value, bytes) or value is None else str(value).encode()


async def client_list(redis: Redis) -> list[dict[str, str]]:
    """``CLIENT LIST`` parsed into one dict per connection (``id``, ``sub``, ``cmd``...)."""
    raw = await redis.execute_command("CLIENT", "LIST")  # type: ignore[no-untyped-call]
    if isinstance(raw, list):  # redis-py already parsed it
        return [{str(k): str(v) for k, v in entry.items()} for entry in raw]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    clients = []
    for line in text.splitlines():
        fields = dict(part.split("=", 1) for part in line.split(" ") if "=" in part)
        clients.append(fields)
    return clients


def assert_same(actual: Any, expected: Any) -> None:
    """``actual == expected`` with exactly the same types, recursively (a round trip
    that turns a tuple into a list, or an aware datetime into a naive one, fails)."""
    assert type(actual) is type(expected), f"{actual!r} is a {type(actual)}, not {type(expected)}"
    assert actual == expected
    if isinstance(expected, dict):
        for (akey, avalue), (ekey, evalue) in zip(actual.items(), expected.items(), strict=True):
            assert_same(akey, ekey)
            assert_same(avalue, evalue)
    elif isinstance(expected, (list, tuple)):
        for aitem, eitem in zip(actual, expected, strict=True):
            assert_same(aitem, eitem)
    elif isinstance(expected, (set, frozenset)):
        for item in expected:  # equal sets: match each item to its twin by equality
            (twin,) = [a for a in actual if a == item]
            assert_same(twin, item)
    elif isinstance(expected, (datetime, time)):
        assert actual.tzinfo == expected.tzinfo
        assert actual.fold == expected.fold


async def fails_with(handle: TaskResult[Any], exc_type: str, message: str) -> TaskFailed:
    """``handle.result()`` raises a ``TaskFailed`` of remote type ``exc_type`` whose
    message contains ``message``, within 5 s (a stuck task fails the test)."""
    try:
        value = await handle.result(timeout=5)
    except TaskFailed as exc:
        error = exc
    except ResultTimeout:
        # pytrace=False: a traceback through the unprintable exceptions of some tests
        # can crash pytest's own report
        pytest.fail(f"{handle!r}: no outcome within 5 s (the task is stuck)", pytrace=False)
    else:
        pytest.fail(f"{handle!r} succeeded with {value!r}", pytrace=False)
    assert error.exc_type == exc_type, error
    assert message in error.message, error
    return error
