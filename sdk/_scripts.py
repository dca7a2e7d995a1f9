"""The Lua scripts of a queue as typed async calls: the only code that builds
``KEYS``/``ARGV`` or reads a script's reply.

Each script of ``sdk/_lua`` is loaded as one source: the key and field names
rendered by :mod:`sdk._keys` and :mod:`sdk._envelope`, the shared helpers of
``_prelude.lua``, then the script. It is called by SHA (``EVALSHA``); a server
that lost its script cache (a restart, ``SCRIPT FLUSH``) gets the source again
through ``EVAL`` on the first ``NOSCRIPT``, in pipelines too. Every call
translates redis-py errors (:func:`sdk._redis.translate_errors`).

:class:`Scripts` binds the scripts to one redis-py client and one queue; see
docs/architecture.md for a table of every script's arguments, reply and
invariants.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Generic, Protocol, TypeVar

from redis import exceptions as rexc
from redis.asyncio import Redis

from . import _envelope, _keys
from ._envelope import NewTask
from ._keys import Keys
from ._redis import ACL_DOCS, command, translate_errors
from .errors import ConfigurationError

__all__ = [
    "AbortResult",
    "Fetched",
    "FinishAction",
    "Script",
    "Scripts",
    "TaskState",
    "Token",
]

D = TypeVar("D")


class Script:
    """One Lua script with the shared prelude in front, called by SHA.

    :param name: the file name in ``sdk/_lua`` without ``.lua``.
    """

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str) -> None:
        lua = resources.files("sdk").joinpath("_lua")
        body = lua.joinpath(f"{name}.lua").read_text()
        prelude = lua.joinpath("_prelude.lua").read_text()
        self.name = name
        self.source = "\n".join(
            (_keys.lua_prelude(), _envelope.lua_prelude(), prelude, body)
        ).encode()
        self.sha = hashlib.sha1(self.source).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"

    async def run(self, redis: Redis, base: str, argv: Sequence[Any]) -> Any:
        """Run the script for the queue at ``base`` and return its raw reply."""
        with translate_errors():
            try:
                return await command(redis, "EVALSHA", self.sha, 1, base, *argv)
            except rexc.NoScriptError:
                return await command(redis, "EVAL", self.source, 1, base, *argv)

    async def run_many(self, redis: Redis, base: str, calls: Sequence[Sequence[Any]]) -> list[Any]:
        """Run the script once per ``argv`` of ``calls`` in one pipeline; the replies in order.

        A call refused with ``NOSCRIPT`` never ran, so it alone is sent again with
        its source; any other error is raised after the pipeline completed.
        """
        with translate_errors():
            async with redis.pipeline(transaction=False) as pipe:
                for argv in calls:
                    pipe.execute_command("EVALSHA", self.sha, 1, base, *argv)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            for i, reply in enumerate(replies):
                if isinstance(reply, rexc.NoScriptError):
                    replies[i] = await command(redis, "EVAL", self.source, 1, base, *calls[i])
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies


ABORT: Final = Script("abort")
CRON: Final = Script("cron")
ENQUEUE: Final = Script("enqueue")
FETCH: Final = Script("fetch")
FINISH: Final = Script("finish")
PROBE: Final = Script("probe")
PRUNE: Final = Script("prune")
RECOVER: Final = Script("recover")
RELEASE: Final = Script("release")
RENEW: Final = Script("renew")
RESCHEDULE: Final = Script("reschedule")
STATUS: Final = Script("status")
WATCH: Final = Script("watch")
ALL: Final = (
    ABORT,
    CRON,
    ENQUEUE,
    FETCH,
    FINISH,
    PROBE,
    PRUNE,
    RECOVER,
    RELEASE,
    RENEW,
    RESCHEDULE,
    STATUS,
    WATCH,
)

# Tasks per enqueue call: large enough to amortise the call, small enough that
# one script does not block Redis for long.
ENQUEUE_CHUNK: Final = 1000


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
    cursors: list[str]


#: Builds a delivery from what fetch.lua returns for one entry: priority name,
#: entry id, task id, args, fn, enqueue_ms, signature, try, abort pending, ttl_ms.
DeliveryFactory = Callable[[str, bytes, bytes, bytes, bytes, int, bytes, int, bool, int], D]

#: ``watch`` per task: the stored outcome, or whether it is live (route added).
WatchReply = bytes | bool


def _task_argv(task: NewTask) -> tuple[Any, ...]:
    return (
        task.task_id,
        task.args,
        task.fn_name,
        task.enqueue_ms,
        task.signature,
        task.due_ms,
        "" if task.priority == _keys.DEFAULT_PRIORITY else task.priority,
        task.ttl_ms,
        task.route,
    )


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
        self.keys = keys

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
        for task in tasks:
            argv += _task_argv(task)
            argv.append(1 if task.fresh else 0)
        return argv

    async def watch(self, client_id: str, task_ids: Sequence[str]) -> list[WatchReply]:
        """Wait for tasks sent earlier (``watch.lua``): per task, its stored outcome,
        ``True`` when it is live (its outcome will reach ``client_id``'s inbox) or
        ``False`` when it is nowhere."""
        reply = await WATCH.run(self._redis, self._base, (client_id, *task_ids))
        return [r if isinstance(r, bytes) else r == 1 for r in reply]

    async def status(self, task_id: str) -> TaskState:
        """Where a task is (``status.lua``)."""
        state, fn, enq, tries, due, holder = await STATUS.run(self._redis, self._base, (task_id,))
        return TaskState(
            state=state.decode(),
            fn_name=_text(fn),
            enqueue_ms=int(enq or 0),
            tries=int(tries or 0),
            due_ms=int(due) if due else -1,
            holder=_text(holder),
        )

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
        return [(_text(reply[i]) or "", _text(reply[i + 1]) or "") for i in range(0, len(reply), 2)]

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
    ) -> Fetched[D]:
        """Take up to ``count`` deliveries (``fetch.lua``), promoting due tasks and,
        when ``reclaim_ms`` > 0, reclaiming lapsed leases of other consumers."""
        argv = (
            consumer,
            count,
            now_ms,
            move_limit,
            reclaim_ms,
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
        return Fetched(deliveries, int(next_due), last_ids, [c.decode() for c in new_cursors])

    async def finish(
        self,
        settlements: Iterable[tuple[Token, FinishAction, bytes | int, int, str]],
        *,
        now_ms: int,
        dead_cap: int,
        dead_max_bytes: int,
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
        argv = (job, tick_ms, "catchup" if catchup else "run", *_task_argv(task))
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

    # -- checks at connect -------------------------------------------------------------

    async def require_permissions(self, role: str, user_hint: str) -> None:
        """Raise a clear error when this Redis user may not do what ``role`` needs.

        :raises ConfigurationError: naming each refused command, and the key and
            channel patterns relayq uses, and where the ACL rules are documented.
        """
        refused = await self.probe(role)
        if not refused:
            return
        commands = sorted({name for name, _ in refused})
        detail = "; ".join(sorted({message for _, message in refused}))
        raise ConfigurationError(
            f"the Redis user{user_hint} may not run what a relayq {role} needs on queue "
            f"{self.keys.queue_name!r}: refused {', '.join(commands)} ({detail}). relayq needs "
            f"the keys ~{self.keys.base}* and the channels &{self.keys.base}*; see {ACL_DOCS}"
        )
