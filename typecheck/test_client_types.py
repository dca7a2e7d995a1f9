"""Client side: ``TaskResult[T]``, outcomes, status, stubs, batches, enqueue options.

Fixtures mypy reads and nothing executes (see ``typecheck/__init__.py``): every line
here must type-check, and ``assert_type`` pins the exact inferred type.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import datetime, timedelta, timezone
from typing import Any

from typing_extensions import assert_type

from sdk import TaskFailed
from sdk.client import Client, TaskInfo, TaskOutcome, TaskRef, TaskResult, TaskStatus

from ._app import add, client, crunch, fetch, greet, ping, remote_fetch, remote_greet, worker


async def check_handles() -> None:
    h = fetch.enqueue("https://a")  # nothing sent yet
    assert_type(h, TaskResult[int])
    assert_type(await h, TaskResult[int])  # awaiting sends it, returns the same handle
    assert_type(await h.result(), int)
    assert_type(await h.result(timeout=5), int)
    assert_type(await h.result(timedelta(seconds=5)), int)
    assert_type(await h.outcome(), TaskOutcome[int])
    assert_type(await h.outcome(timeout=timedelta(seconds=10)), TaskOutcome[int])
    assert_type(await h.status(), TaskStatus)
    assert_type(await h.info(), TaskInfo | None)
    assert_type(h.id, str)
    assert_type(h.fn_name, str)
    assert_type(h.sent, bool)
    n: int = await fetch.enqueue("https://b").result(timeout=5)
    assert_type(n, int)
    # `fetch.enqueue(url=...)` is checked against the task's own parameter names
    assert_type(await fetch.enqueue(url="https://c").result(), int)
    assert_type(await greet.enqueue("ada", excited=True).result(), str)
    assert_type(await ping.enqueue().result(), None)
    assert_type(await crunch.enqueue(2).result(), float)
    assert_type(await add.enqueue(1, b=2).result(), int)
    assert_type(h.__await__(), Generator[Any, None, TaskResult[int]])


async def check_start_options() -> None:
    assert_type(await fetch.enqueue("a").start(), TaskResult[int])
    assert_type(await fetch.enqueue("a").start(delay=3), TaskResult[int])
    assert_type(await fetch.enqueue("a").start(delay=0.25), TaskResult[int])
    assert_type(await fetch.enqueue("a").start(delay=timedelta(seconds=3)), TaskResult[int])
    later = await fetch.enqueue("a").start(schedule=datetime.now(timezone.utc))
    assert_type(later, TaskResult[int])
    keyed = await fetch.enqueue("a").start(key="fetch:a", delay=None, schedule=None)
    assert_type(keyed, TaskResult[int])
    assert_type(await later.outcome(timeout=10), TaskOutcome[int])


async def check_outcome_and_info() -> None:
    outcome = await fetch.enqueue("a").outcome()
    assert_type(outcome.success, bool)
    assert_type(outcome.value, int | None)
    assert_type(outcome.error, TaskFailed | None)
    assert_type(outcome.unwrap(), int)
    assert_type(outcome.tries, int)
    assert_type(outcome.task_id, str)
    assert_type(outcome.enqueue_time, datetime)
    assert_type(outcome.start_time, datetime)
    assert_type(outcome.finish_time, datetime)
    assert_type(outcome.worker_id, str)
    assert_type(outcome.fn_name, str)
    if outcome.error is not None:
        assert_type(outcome.error.exc_type, str)
        assert_type(outcome.error.traceback, str)

    info = await fetch.enqueue("a").info()
    if info is not None:
        assert_type(info.status, TaskStatus)
        assert_type(info.tries, int)
        assert_type(info.task_id, str)
        assert_type(info.fn_name, str)
        assert_type(info.enqueue_time, datetime)
        assert_type(info.scheduled_time, datetime | None)
        assert_type(info.worker_id, str | None)

    status = await fetch.enqueue("a").status()
    done: bool = status is TaskStatus.DONE
    assert_type(done, bool)
    # assignments, not assert_type: pyright infers the members' literal types here
    _value: str = status.value
    for state in (TaskStatus.NOT_FOUND, TaskStatus.SCHEDULED, TaskStatus.QUEUED):
        _state: TaskStatus = state
    assert_type(TaskStatus.RUNNING == status, bool)


async def check_stubs() -> None:
    # a service declares the signature; the stub has no ctx and keeps the return type
    assert_type(remote_fetch.enqueue("https://a"), TaskResult[int])
    assert_type(await remote_fetch.enqueue(url="https://a").result(), int)
    assert_type(remote_greet.enqueue("ada", excited=True), TaskResult[str])
    assert_type(remote_fetch.name, str)
    # the assignment is the check (pyright narrows `ref` to the stub's own type,
    # which also names the parameter: TaskRef[(url: str), int])
    _ref: TaskRef[[str], int] = remote_fetch

    @client.stub()
    async def no_args() -> None:
        raise NotImplementedError

    @client.stub(name="fetch")
    async def with_list(urls: list[str], *, timeout: float | None = None) -> dict[str, int]:
        raise NotImplementedError

    assert_type(no_args, TaskRef[[], None])
    assert_type(no_args.enqueue(), TaskResult[None])
    assert_type(with_list.enqueue(["a"], timeout=1.0), TaskResult[dict[str, int]])
    async with client as connected:
        assert_type(connected, Client)
        assert_type(await remote_fetch.enqueue("https://a").result(timeout=5), int)


async def check_enqueue_unsafe() -> None:
    # by name, for dynamic callers: nothing is checked and the value is Any
    assert_type(client.enqueue_unsafe("fetch", "https://a"), TaskResult[Any])
    assert_type(client.enqueue_unsafe("fetch", url="https://a", extra=1), TaskResult[Any])
    assert_type(worker.client.enqueue_unsafe("ping"), TaskResult[Any])
    assert_type(await client.enqueue_unsafe("fetch", "https://a").result(), Any)


async def check_enqueue_many() -> None:
    urls = ["https://a", "https://b"]
    many = await worker.enqueue_many([fetch.enqueue(u) for u in urls])
    assert_type(many, list[TaskResult[int]])
    assert_type(await client.enqueue_many(fetch.enqueue(u) for u in urls), list[TaskResult[int]])
    assert_type(await client.enqueue_many([remote_fetch.enqueue("a")]), list[TaskResult[int]])
    # a batch of different tasks: say so with TaskResult[Any] (or a common type)
    mixed: list[TaskResult[Any]] = [fetch.enqueue("a"), greet.enqueue("b")]
    assert_type(await worker.enqueue_many(mixed), list[TaskResult[Any]])
    # TaskResult is covariant, so an unannotated mixed batch type-checks too; its
    # element type differs by checker: mypy joins int and str to object, pyright
    # keeps the union. One pin per checker, each ignored by the other:
    batch = await worker.enqueue_many([fetch.enqueue("a"), greet.enqueue("b")])
    assert_type(batch, list[TaskResult[object]])  # pyright: ignore[reportAssertTypeFailure]
    assert_type(batch, list[TaskResult[int | str]])  # type: ignore[assert-type]


def check_client_construction() -> None:
    assert_type(Client(), Client)
    assert_type(Client("redis://localhost:6379", "default"), Client)
    assert_type(
        Client(
            redis_url=None,
            queue_name="q",
            serializer=json.dumps,
            deserializer=json.loads,
            max_payload_bytes=4096,
        ),
        Client,
    )
    assert_type(worker.client, Client)
    assert_type(client.connected, bool)
    assert_type(client.queue_name, str)
