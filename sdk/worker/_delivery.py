"""What a worker holds: one delivery per task it has taken, and its lease settings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["Delivery", "LeaseConfig", "Stats"]


class Delivery:
    """One delivery of one task to this worker (one try), as ``fetch.lua`` returned it.

    ``(entry_id, tries)`` is its fencing token: the task hash names the stream
    entry standing for the task and the try it is on, and every script that
    settles, renews or releases a delivery first checks that both still match.

    :ivar raw_id: the task id exactly as Redis holds it; ``task_id`` is its text.
        An id that is not UTF-8 (written by something other than relayq) must not
        stop the worker: it decodes with ``surrogateescape``, and everything
        written back uses ``raw_id``.
    :ivar started: its execution began (a hand-back keeps the try it used).
    :ivar lost: our lease lapsed and another worker took the task over.
    :ivar aborted: an abort was asked for while we held it.
    """

    __slots__ = (
        "aborted",
        "args",
        "enqueue_ms",
        "entry_id",
        "fn_name",
        "key",
        "lost",
        "priority",
        "raw_id",
        "signature",
        "started",
        "task",
        "task_id",
        "tries",
        "ttl_ms",
    )

    def __init__(
        self,
        priority: str,
        entry_id: bytes,
        raw_id: bytes,
        args: bytes,
        fn_name: bytes,
        enqueue_ms: int,
        signature: bytes,
        tries: int,
        aborted: bool,
        ttl_ms: int,
    ) -> None:
        self.priority = priority
        self.entry_id = entry_id
        self.raw_id = raw_id
        self.task_id = raw_id.decode("utf-8", "surrogateescape")
        self.args = args
        self.fn_name = fn_name.decode("utf-8", "surrogateescape")
        self.enqueue_ms = enqueue_ms
        self.signature = signature
        self.tries = tries
        self.aborted = aborted
        self.ttl_ms = ttl_ms
        #: Where the worker files it. Entry ids are unique within one stream only (two
        #: priorities' streams hand out the same id in the same millisecond), and one
        #: entry may come back to us on a later try.
        self.key = (priority, entry_id, tries)
        self.started = False
        self.lost = False
        self.task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Delivery {self.fn_name}[{self.task_id}] try {self.tries}>"


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

    @classmethod
    def of(cls, lease_s: float) -> LeaseConfig:
        """Renew every third of the lease; look for lapsed ones every tenth (0.1 to 5 s)."""
        return cls(lease_s, lease_s / 3, min(max(lease_s / 10, 0.1), 5.0))


@dataclass(slots=True)
class Stats:
    """Counters a worker reports in its health record."""

    done: int = 0
    failed: int = 0
    retried: int = 0
    fenced: int = 0
    reclaimed: int = 0
