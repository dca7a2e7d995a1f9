"""What a worker holds: one delivery per task it has taken, and its lease settings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["Delivery", "LeaseConfig", "Stats"]


class Delivery:
    """One delivery of one task to this worker (one try).

    :ivar raw_id: the task id exactly as Redis holds it; ``task_id`` is its text.
        An id that is not UTF-8 (written by something other than relayq) must not
        stop the worker: it decodes with ``surrogateescape``, its payload fails as
        bad input, and everything written back uses ``raw_id``.
    """

    __slots__ = (
        "aborted",
        "enqueue_ms",
        "entry_id",
        "fn_name",
        "lost",
        "payload",
        "raw_id",
        "reply_to",
        "stream_index",
        "task",
        "task_id",
        "tries",
    )

    def __init__(
        self,
        stream_index: int,
        entry_id: bytes,
        raw_id: bytes,
        payload: bytes,
        tries: int,
        aborted: bool,
    ) -> None:
        self.stream_index = stream_index  # 1-based, highest priority first
        self.entry_id = entry_id
        self.raw_id = raw_id
        self.task_id = raw_id.decode("utf-8", "surrogateescape")
        self.payload = payload
        self.tries = tries
        self.fn_name = "?"
        self.enqueue_ms = 0
        self.reply_to = ""  # the inbox of a client awaiting the outcome, once decoded
        self.lost = False  # our lease lapsed and another worker took the task over
        self.aborted = aborted  # handle.abort() asked for it while it was running
        self.task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    """Lease timing, in seconds.

    :ivar lease_s: how long a delivery stays ours without renewal.
    :ivar renew_s: how often held leases are renewed.
    :ivar reclaim_s: how often a fetch also looks for lapsed leases of others.
    """

    lease_s: float
    renew_s: float
    reclaim_s: float


@dataclass(slots=True)
class Stats:
    """Counters a worker reports in its health record."""

    done: int = 0
    failed: int = 0
    retried: int = 0
    fenced: int = 0
