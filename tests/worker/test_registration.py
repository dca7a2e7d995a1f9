"""Building a worker and registering tasks: names, options and their validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sdk import Task, Worker, WrappedContext
from sdk.errors import ConfigurationError


def test_tasks_are_registered_by_name() -> None:
    worker = Worker("redis://127.0.0.1:1", queue_name="reg")

    @worker.task()
    async def first(ctx: WrappedContext[None]) -> int:
        return 1

    @worker.task(name="custom.name", max_tries=5, timeout=timedelta(seconds=2), ttl=None)
    def second(ctx: WrappedContext[None], x: int) -> int:
        return x

    assert isinstance(first, Task)
    assert first.name == "first"
    assert second.name == "custom.name"
    assert set(worker.tasks) == {"first", "custom.name"}
    assert worker.tasks["first"] is first
    assert first.is_async and not second.is_async
    assert second.options.max_tries == 5
    assert second.options.timeout_s == 2.0
    assert second.options.ttl_ms == -1  # None keeps the outcome forever
    assert first.options.max_tries == 3  # the documented defaults
    assert first.options.timeout_s is None
    assert first.options.ttl_ms == 5 * 60 * 1000
    with pytest.raises(TypeError):
        worker.tasks["x"] = first  # type: ignore[index]


def test_duplicate_task_name_is_refused() -> None:
    worker = Worker("redis://127.0.0.1:1", queue_name="reg")

    @worker.task()
    async def job(ctx: WrappedContext[None]) -> None:
        return None

    with pytest.raises(ConfigurationError, match="job"):

        @worker.task(name="job")
        async def other(ctx: WrappedContext[None]) -> None:
            return None


@pytest.mark.parametrize(
    "options",
    [{"max_tries": 0}, {"timeout": 0}, {"timeout": -1}, {"ttl": -5}],
    ids=["max_tries", "timeout-zero", "timeout-negative", "ttl-negative"],
)
def test_bad_task_options_are_refused(options: dict[str, Any]) -> None:
    worker = Worker("redis://127.0.0.1:1", queue_name="reg")
    with pytest.raises(ConfigurationError):
        worker.task(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 0},
        {"concurrency": 4, "queue_fetch_limit": 3},
        {"lease": 0.1},
        {"queue_name": "has{brace}"},
    ],
    ids=["concurrency", "fetch-limit-below-concurrency", "lease", "queue-name"],
)
def test_bad_worker_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Worker("redis://127.0.0.1:1", **options)


def test_worker_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://from-env:6390")
    worker = Worker(concurrency=5)
    assert worker.client.redis_url == "redis://from-env:6390"
    assert worker.queue_name == "default"
    assert worker.queue_fetch_limit == 10  # concurrency * 2
    monkeypatch.delenv("REDIS_URL")
    assert Worker().client.redis_url == "redis://localhost:6379"
