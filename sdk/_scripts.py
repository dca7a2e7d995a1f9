"""The Lua scripts of a queue as typed async calls: the only code that builds
``KEYS``/``ARGV`` or reads a script's reply (how the sources are loaded and
called is :mod:`sdk._loader`).

:class:`Scripts` binds the scripts to one redis-py client and one queue; see
docs/architecture.md for a table of every script's arguments, reply and
invariants.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

from redis.asyncio import Redis

from ._envelope import NewTask
from ._keys import Keys
from ._loader import (
    ABORT,
    CRON,
    ENQUEUE,
    FETCH,
    FINISH,
    LIVE,
    PROBE,
    PRUNE,
    RECOVER,
    RELEASE,
    RENEW,
    RESCHEDULE,
    STATUS,
    VIEW,
    WATCH,
)
from ._redis import command, translate_errors
from .errors import ConfigurationError

__all__ = [
    "DEAD_LETTER_CAP",
    "DEAD_LETTER_MAX_BYTES",
    "AbortResult",
    "Fetched",
    "FinishAction",
    "Scripts",
    "TaskState",
    "Token",
    "ViewReply",
]

D = TypeVar("D")


# Tasks per enqueue call: large enough to amortise the call, small enough that
# one script does not block Redis for long.
ENQUEUE_CHUNK: Final = 1000
#: Entries kept in the dead-letter stream at most (oldest are dropped first).
DEAD_LETTER_CAP: Final = 10_000
#: Bytes of task data the dead-letter stream keeps at most (oldest dropped first).
DEAD_LETTER_MAX_BYTES: Final = 64 * 1024 * 1024


class Token(Protocol):
    """A delivery as the scripts know it: its fencing token and where it came from."""

    @property
    def priority(self) -> str: ...
    @property
    def entry_id(self) -> bytes: ...
    @property
    def raw_id(self) -> bytes: ...
    @property
    def tries(self) -> int: ...


class FinishAction(str, enum.Enum):
    """What ``finish.lua`` does with a delivery."""

    #: deliver the outcome and forget the task
    DONE = "done"
    #: the same, after copying the task to the dead-letter stream
    DEAD = "dead"
    #: put the task back (delayed set, or its stream when due now)
    RETRY = "retry"


#: A ``ttl_ms`` for :meth:`Scripts.finish` meaning "the ttl stored with the task".
TASK_TTL: Final = -2


class AbortResult(enum.IntEnum):
    """What ``abort.lua`` did."""

    NOT_LIVE = 0
    ABORTED = 1
    REQUESTED = 2  # a worker holds it and will settle it as aborted
    CHANGED = -1  # the task changed since it was read: read it again


@dataclass(frozen=True, slots=True)
class TaskState:
    """What ``status.lua`` read: where a task is, and its header while it is live."""

    state: str  # 'done' | 'scheduled' | 'running' | 'queued' | 'missing'
    fn_name: str | None
    enqueue_ms: int
    tries: int
    due_ms: int
    holder: str | None
    progress: bytes | None = None


@dataclass(frozen=True, slots=True)
class ViewReply:
    """What ``view.lua`` read for a live watcher.

    :ivar state: 1 live (the watcher was added), 2 finished, 0 missing.
    :ivar progress: the last progress report of a live task.
    :ivar tries: its deliveries so far (0 while it has never run).
    :ivar outcome: the stored outcome of a finished task.
    :ivar items: the items stream's entries asked for, as ``(entry id, data)``.
    """

    state: int
    progress: bytes | None
    tries: int
    outcome: bytes | None
    items: list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Fetched(Generic[D]):
    """What ``fetch.lua`` returned.

    :ivar deliveries: the tasks taken, made by the caller's factory.
    :ivar next_due_ms: due time of the earliest scheduled task, or -1.
    :ivar last_ids: when nothing was taken, where a blocking ``XREAD`` of the
        streams and the wake stream starts (else empty).
    :ivar cursors: the reclaim cursor per stream for the next fetch.
    """

    deliveries: list[D]
    next_due_ms: int
    last_ids: list[bytes]
    cursors: Sequence[str]


#: Builds a delivery from what fetch.lua returns for one entry: priority name,
#: entry id, task id, args, fn, enqueue_ms, signature, try, abort pending, ttl_ms.
DeliveryFactory = Callable[[str, bytes, bytes, bytes, bytes, int, bytes, int, bool, int], D]

#: ``watch`` per task: the stored outcome, or whether it is live (route added).
WatchReply = bytes | bool


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Scripts:
    """The scripts of one queue on one redis-py client.

    :param redis: the client to run them on.
    :param keys: the queue's key schema.
    """

    __slots__ = ("_base", "_redis", "keys")

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._base = keys.base
        self.keys: Keys = keys

    # -- the client's scripts --------------------------------------------------------

    async def enqueue(self, tasks: Sequence[NewTask]) -> list[bool]:
        """Create the tasks whose ids are not live (``enqueue.lua``); per task, whether
        it was created (``False``: an id that was live already, which got the route)."""
        if len(tasks) <= ENQUEUE_CHUNK:
            reply = await ENQUEUE.run(self._redis, self._base, self._enqueue_argv(tasks))
            return [bool(created) for created in reply]
        calls = [
            self._enqueue_argv(tasks[lo : lo + ENQUEUE_CHUNK])
            for lo in range(0, len(tasks), ENQUEUE_CHUNK)
        ]
        replies = await ENQUEUE.run_many(self._redis, self._base, calls)
        return [bool(created) for reply in replies for created in reply]

    @staticmethod
    def _enqueue_argv(tasks: Sequence[NewTask]) -> list[Any]:
        argv: list[Any] = [len(tasks)]
        for task in tasks:  # a NewTask is its arguments, in order
            argv.extend(task)
        return argv

    async def watch(self, client_id: str, task_ids: Sequence[str]) -> list[WatchReply]:
        """Wait for tasks sent earlier (``watch.lua``): per task, its stored outcome,
        ``True`` when it is live (its outcome will reach ``client_id``'s inbox) or
        ``False`` when it is nowhere."""
        reply = await WATCH.run(self._redis, self._base, (client_id, *task_ids))
        return [r if isinstance(r, bytes) else r == 1 for r in reply]

    async def status(self, task_id: str) -> TaskState:
        """Where a task is (``status.lua``)."""
        reply = await STATUS.run(self._redis, self._base, (task_id,))
        state, fn, enq, tries, due, holder, progress = reply
        return TaskState(
            state=state.decode(),
            fn_name=_text(fn),
            enqueue_ms=int(enq or 0),
            tries=int(tries or 0),
            due_ms=int(due) if due else -1,
            holder=_text(holder),
            progress=progress,
        )

    async def view(self, client_id: str, task_id: str, after: str, count: int) -> ViewReply:
        """Watch a task live (``view.lua``): add ``client_id`` as a viewer of a live
        task and read what it reported so far; items after the entry ``after``
        (``'-'`` from the start, ``''`` none), at most ``count``."""
        state, progress, tries, outcome, flat = await VIEW.run(
            self._redis, self._base, (client_id, task_id, after, count)
        )
        items = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        return ViewReply(int(state), progress, int(tries), outcome, items)

    async def abort(
        self, task_id: str, *, scheduled_only: bool, outcome: bytes, fn_name: str, enqueue_ms: int
    ) -> AbortResult:
        """Abort a live task (``abort.lua``) with the outcome built from the header
        read before (``fn_name``, ``enqueue_ms``)."""
        mode = "scheduled" if scheduled_only else "any"
        argv = (task_id, mode, outcome, fn_name, enqueue_ms)
        return AbortResult(await ABORT.run(self._redis, self._base, argv))

    async def reschedule(self, task_id: str, due_ms: int) -> bool:
        """Move a scheduled task to ``due_ms`` (``reschedule.lua``); whether it was scheduled."""
        return bool(await RESCHEDULE.run(self._redis, self._base, (task_id, due_ms)))

    async def probe(self, role: str) -> list[tuple[str, str]]:
        """Run every command ``role`` (``"client"`` or ``"worker"``) needs on throwaway
        keys (``probe.lua``); the refused ones as ``(command, Redis' message)``."""
        try:
            reply = await PROBE.run(self._redis, self._base, (os.urandom(6).hex(), role))
        except ConfigurationError as exc:  # not even EVAL/EVALSHA, or no key at all
            return [("evalsha/eval", str(exc))]
        refused = [
            (_text(reply[i]) or "", _text(reply[i + 1]) or "") for i in range(0, len(reply), 2)
        ]
        # EVAL runs only when the server lost its script cache (a restart, SCRIPT
        # FLUSH), so the probe above usually went by EVALSHA alone: check EVAL too
        try:
            with translate_errors():
                await command(self._redis, "EVAL", "return 0", 1, self._base)
        except ConfigurationError as exc:
            refused.append(("eval", str(exc)))
        return refused

    # -- the worker's scripts --------------------------------------------------------

    async def fetch(
        self,
        make: DeliveryFactory[D],
        *,
        consumer: str,
        count: int,
        now_ms: int,
        move_limit: int,
        reclaim_ms: int,
        priorities: Sequence[str],
        cursors: Sequence[str],
        dead_cap: int = DEAD_LETTER_CAP,
        dead_max_bytes: int = DEAD_LETTER_MAX_BYTES,
    ) -> Fetched[D]:
        """Take up to ``count`` deliveries (``fetch.lua``), promoting due tasks and,
        when ``reclaim_ms`` > 0, reclaiming lapsed leases of other consumers."""
        argv = (
            consumer,
            count,
            now_ms,
            move_limit,
            reclaim_ms,
            dead_cap,
            dead_max_bytes,
            len(priorities),
            *priorities,
            *cursors,
        )
        flat, next_due, last_ids, new_cursors = await FETCH.run(self._redis, self._base, argv)
        deliveries = [
            make(
                priorities[flat[i] - 1],
                flat[i + 1],
                flat[i + 2],
                flat[i + 3],
                flat[i + 4],
                flat[i + 5],
                flat[i + 6],
                flat[i + 7],
                flat[i + 8] == 1,
                flat[i + 9],
            )
            for i in range(0, len(flat), 10)
        ]
        if new_cursors:
            cursors = [c.decode() for c in new_cursors]
        return Fetched(deliveries, int(next_due), last_ids, cursors)

    async def finish(
        self,
        settlements: Iterable[tuple[Token, FinishAction, bytes | int, int, str]],
        *,
        now_ms: int,
        dead_cap: int = DEAD_LETTER_CAP,
        dead_max_bytes: int = DEAD_LETTER_MAX_BYTES,
    ) -> list[bool]:
        """Apply settlements (``finish.lua``); per settlement, whether it applied
        (``False``: fenced out, the delivery was no longer the task's current one).

        Each is ``(delivery, action, data, ttl_ms, reason)``: ``data`` is the outcome
        or, for a retry, the due time in ms; ``ttl_ms`` may be :data:`TASK_TTL`.
        """
        argv: list[Any] = [0, now_ms, dead_cap, dead_max_bytes]
        n = 0
        for d, action, data, ttl_ms, reason in settlements:
            argv += (d.priority, d.entry_id, d.raw_id, d.tries, action.value, data, ttl_ms, reason)
            n += 1
        argv[0] = n
        reply = await FINISH.run(self._redis, self._base, argv)
        return [applied == 1 for applied in reply]

    async def renew(self, consumer: str, held: Sequence[Token]) -> tuple[list[int], list[int]]:
        """Renew the leases of ``held`` (``renew.lua``); the indexes (into ``held``)
        of the deliveries that are lost, and of those with an abort pending."""
        argv: list[Any] = [consumer]
        for d in held:
            argv += (d.priority, d.entry_id, d.raw_id, d.tries)
        lost, aborting = await RENEW.run(self._redis, self._base, argv)
        return [i - 1 for i in lost], [i - 1 for i in aborting]

    async def progress(self, d: Token, report: bytes) -> bool:
        """Keep and publish a running task's progress (``live.lua``); ``False`` when
        the delivery is no longer the task's current one."""
        argv = (d.raw_id, d.entry_id, d.tries, "p", report)
        return bool(await LIVE.run(self._redis, self._base, argv))

    async def items(
        self,
        d: Token,
        items: Sequence[bytes],
        *,
        first_seq: int,
        message: bytes,
        keep_ms: int,
        max_items: int,
    ) -> bool:
        """Append a streaming task's items and publish them (``live.lua``); ``first_seq``
        0 restarts the stream for a new try. ``False`` when fenced out."""
        argv = (d.raw_id, d.entry_id, d.tries, "i", keep_ms, max_items, first_seq, message, *items)
        return bool(await LIVE.run(self._redis, self._base, argv))

    async def release(self, deliveries: Sequence[tuple[Token, bool]]) -> int:
        """Hand deliveries back to the queue (``release.lua``); each with whether it
        started (a started one keeps its try). Returns how many went back."""
        argv: list[Any] = []
        for d, started in deliveries:
            argv += (d.priority, d.entry_id, d.raw_id, d.tries, 1 if started else 0)
        return int(await RELEASE.run(self._redis, self._base, argv))

    async def cron(self, job: str, tick_ms: int, catchup: bool, task: NewTask) -> int:
        """Claim a cron tick and enqueue its run (``cron.lua``): 1 enqueued, 0 already
        claimed (or the first tick recorded), -1 skipped (a unique run still live)."""
        argv = (job, tick_ms, "catchup" if catchup else "run", *task[:9])
        return int(await CRON.run(self._redis, self._base, argv))

    async def prune(
        self, consumer: str, *, own: bool, stale_ms: int, priorities: Sequence[str]
    ) -> int:
        """Remove consumer-group members holding nothing (``prune.lua``): ``own`` this
        one, else those idle over ``stale_ms``. Returns how many went."""
        argv = (consumer, "own" if own else "stale", stale_ms, *priorities)
        return int(await PRUNE.run(self._redis, self._base, argv))

    async def recover(self, consumer: str, limit: int, priorities: Sequence[str]) -> int:
        """Hand back what an earlier process under ``consumer`` left pending (``recover.lua``)."""
        return int(await RECOVER.run(self._redis, self._base, (consumer, limit, *priorities)))
