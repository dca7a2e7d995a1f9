"""Looking at a queue from outside: the model behind ``relayq status``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .._keys import GROUP
from .._redis import translate_errors
from ..client import Client
from ._health import decode_health

__all__ = ["QueueStatus", "format_status", "read_status"]

logger = logging.getLogger("relayq.cli")


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """A snapshot of one queue for ``relayq status``.

    :ivar depth: entries in the queue's ready streams (ready tasks, including those a
        worker has taken and not settled yet).
    :ivar depth_by_priority: ``depth`` per named priority, highest first.
    :ivar scheduled: delayed tasks not due yet.
    :ivar running: deliveries workers hold (running or prefetched).
    :ivar workers: the live workers' health records, sorted by worker id.
    """

    queue_name: str
    depth: int
    depth_by_priority: dict[str, int]
    scheduled: int
    running: int
    workers: list[dict[str, Any]]


async def read_status(client: Client) -> QueueStatus:
    """Read a queue's counters and its workers' health records (``client`` connected)."""
    keys, redis = client.keys, client.redis
    streams = [keys.stream_for(p) for p in client.priorities]
    with translate_errors():
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.delayed)
            for stream in streams:  # one per priority, highest first
                pipe.xlen(stream)
            for stream in streams:
                pipe.xpending(stream, GROUP)
            replies = await pipe.execute(raise_on_error=False)
        names = [name async for name in redis.scan_iter(match=keys.workers_pattern, count=500)]
        raws = await redis.mget(names) if names else []
    scheduled, depths, pending = (
        replies[0],
        replies[1 : 1 + len(streams)],
        replies[1 + len(streams) :],
    )
    running = sum(int(p["pending"]) for p in pending if isinstance(p, dict))
    workers = []
    for raw in raws:
        if not isinstance(raw, bytes):  # None: expired between SCAN and MGET
            continue
        try:
            workers.append(decode_health(raw))
        except Exception as exc:  # a record from another version must not hide the rest
            logger.debug("skipping an undecodable health record: %s", exc)
    workers.sort(key=lambda record: str(record.get("worker_id", "")))
    by_priority = {
        name: int(n) if isinstance(n, int) else 0
        for name, n in zip(client.priorities, depths, strict=True)
    }
    return QueueStatus(
        client.queue_name,
        sum(by_priority.values()),
        by_priority,
        int(scheduled),
        running,
        workers,
    )


def format_status(status: QueueStatus, now: float) -> str:
    """Render a :class:`QueueStatus`: the queue line, then one line per live worker."""
    per_priority = ""
    if len(status.depth_by_priority) > 1:
        per_priority = (
            " (" + " ".join(f"{p}={n}" for p, n in status.depth_by_priority.items()) + ")"
        )
    lines = [
        f"queue {status.queue_name}: depth={status.depth}{per_priority} "
        f"scheduled={status.scheduled} running={status.running} workers={len(status.workers)}"
    ]
    for w in status.workers:
        age = max(0, round(now - float(w.get("heartbeat", now))))
        lines.append(
            f"  worker {w.get('worker_id', '?')}  host={w.get('host', '?')} pid={w.get('pid', '?')}"
            f"  done={w.get('done', 0)} failed={w.get('failed', 0)} retried={w.get('retried', 0)}"
            f" running={w.get('running', 0)}  heartbeat {age}s ago"
        )
    return "\n".join(lines)
