"""The helpers of :mod:`sdk.testing` (no pytest here: any test runner can use them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._envelope import ARGS, decode_args
from .._redis import command
from .._redis_server import throwaway
from ..client import Client, TaskRef, TaskStatus

if TYPE_CHECKING:
    from ..worker import Worker

__all__ = ["Enqueued", "drain", "enqueued", "redis_server"]


@contextmanager
def redis_server(prefix: str = "relayq-test-") -> Iterator[str]:
    """Start a throwaway ``redis-server`` on a free loopback port (never 6379), with
    no persistence, in a temporary directory; yields its URL and removes it all at
    the end.

    :raises RedisServerMissing: ``redis-server`` is not installed (the message
        gives the command that installs it).
    """
    with throwaway(prefix) as server:
        yield server.url


@dataclass(frozen=True, slots=True)
class Enqueued:
    """A task that was sent and has not finished: what :func:`enqueued` returns.

    :ivar args: the positional arguments, as a worker will receive them (after the
        serializer's round trip).
    :ivar status: ``QUEUED``, ``SCHEDULED`` or ``RUNNING``.
    :ivar scheduled_time: when a scheduled task is due.
    """

    task_id: str
    fn_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    status: TaskStatus
    enqueue_time: datetime
    scheduled_time: datetime | None


async def enqueued(client: Client, task: TaskRef[Any, Any] | str | None = None) -> list[Enqueued]:
    """The tasks on ``client``'s queue that have not finished, oldest first (by
    enqueue time in milliseconds: tasks sent in the same millisecond come in no
    particular order); only those of ``task`` (a task, a stub or a name) when given.

    Read from Redis, as a worker would see them: use it to assert what the code
    under test enqueued, with no worker running.
    """
    name = task.name if isinstance(task, TaskRef) else task
    keys, redis = client.keys, client.redis
    found: list[Enqueued] = []
    async for raw in redis.scan_iter(match=keys.tasks_pattern, count=1000):
        task_id = keys.task_id_of(raw.decode() if isinstance(raw, bytes) else raw)
        status, info = await client.status(task_id)
        if info is None or (name is not None and info.fn_name != name):
            continue  # finished meanwhile, or another task
        data = await command(redis, "HGET", keys.task(task_id), ARGS)
        if not isinstance(data, bytes):
            continue  # finished meanwhile
        args, kwargs = decode_args(client.deserializer, info.fn_name, data)
        found.append(
            Enqueued(
                task_id,
                info.fn_name,
                tuple(args),
                kwargs,
                status,
                info.enqueue_time,
                info.scheduled_time,
            )
        )
    found.sort(key=lambda e: (e.enqueue_time, e.task_id))
    return found


async def drain(worker: Worker[Any]) -> None:
    """Run ``worker`` (a :class:`~sdk.Worker`) in this process until nothing is
    queued, running or due, then stop it: what a service enqueued has run when
    this returns (``worker.run(burst=True)``)."""
    await worker.run(burst=True, handle_signals=False)
