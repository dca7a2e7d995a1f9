"""The Redis key schema: the only place where relayq names keys and channels.

Every key of a queue shares the Redis Cluster hash tag ``{<queue_name>}``, so a Lua
script only ever touches one slot::

    relayq:{q}:task:<id>         hash, one live task (queued, scheduled or running):
                                 its envelope and its state; see sdk/_envelope.py.
                                 Deleted when the task ends, so nothing of it outlives it
    relayq:{q}:result:<id>       string, the encoded outcome, with the task's result TTL
    relayq:{q}:items:<id>        stream, the items a streaming task yielded, entry id
                                 ``<try>-<seq>`` (see sdk/_live.py); capped, and kept
                                 as long as the outcome
    relayq:{q}:stream            stream of ready task ids of the "default" priority
                                 (consumer group ``workers``); an entry's id is the
                                 task's generation: an entry the task hash no longer
                                 names is stale and is dropped unrun
    relayq:{q}:stream:<prio>     the same for another named priority
    relayq:{q}:delayed           zset  task id -> due time (ms since the epoch)
    relayq:{q}:wake              short stream poked when a task is scheduled, so idle
                                 workers blocked on the streams wake up to take it in time
    relayq:{q}:inbox:<client>    pub/sub channel of one client: the outcomes of every task
                                 one of its callers waits for, and the progress and
                                 items of those it watches
    relayq:{q}:control           pub/sub channel workers listen on (abort requests)
    relayq:{q}:crons             hash  cron job name -> last tick (ms) enqueued for it
    relayq:{q}:dead              stream of dead-lettered tasks (bad input), capped
    relayq:{q}:dead:bytes        string, the bytes the dead-letter stream holds (its cap)
    relayq:{q}:worker:<wid>      string, a worker's last health record (expires)

Lua scripts receive ``KEYS[1] = Keys.base`` (which routes the call to the queue's
slot) and build the names they need with the functions :func:`lua_prelude`
renders from the same suffixes, so this module stays the one definition: a
script such as ``fetch.lua`` only learns task ids from a stream, inside Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["DEFAULT_PRIORITY", "GROUP", "PREFIX", "Keys", "lua_prelude"]

PREFIX: Final = "relayq"
#: Name of the consumer group every worker of a queue reads through.
GROUP: Final = "workers"
#: The priority whose stream has no suffix.
DEFAULT_PRIORITY: Final = "default"

_TASK: Final = "task:"
_RESULT: Final = "result:"
_ITEMS: Final = "items:"
_STREAM: Final = "stream"
_INBOX: Final = "inbox:"
_WORKER: Final = "worker:"
_DELAYED: Final = "delayed"
_WAKE: Final = "wake"
_DEAD: Final = "dead"
_DEAD_BYTES: Final = "dead:bytes"
_CRONS: Final = "crons"
_CONTROL: Final = "control"


@dataclass(frozen=True, slots=True)
class Keys:
    """All key and channel names of one queue.

    :param queue_name: the queue's name; any string without ``{`` or ``}``.
    """

    queue_name: str
    base: str = field(init=False)
    stream: str = field(init=False)
    delayed: str = field(init=False)
    wake: str = field(init=False)
    crons: str = field(init=False)
    dead: str = field(init=False)
    dead_bytes: str = field(init=False)
    control: str = field(init=False)
    tasks_pattern: str = field(init=False)
    workers_pattern: str = field(init=False)

    def __post_init__(self) -> None:
        if not self.queue_name or "{" in self.queue_name or "}" in self.queue_name:
            raise ValueError(
                f"queue_name must be non-empty and contain no '{{' or '}}', got {self.queue_name!r}"
            )
        base = f"{PREFIX}:{{{self.queue_name}}}:"
        # frozen dataclass: derived names are set once through object.__setattr__
        for name, value in (
            ("base", base),
            ("stream", base + _STREAM),
            ("delayed", base + _DELAYED),
            ("wake", base + _WAKE),
            ("crons", base + _CRONS),
            ("dead", base + _DEAD),
            ("dead_bytes", base + _DEAD_BYTES),
            ("control", base + _CONTROL),
            ("tasks_pattern", base + _TASK + "*"),
            ("workers_pattern", base + _WORKER + "*"),
        ):
            object.__setattr__(self, name, value)

    def stream_for(self, priority: str) -> str:
        """The ready stream of the named priority (``"default"`` is :attr:`stream`)."""
        if priority == DEFAULT_PRIORITY:
            return self.stream
        return f"{self.stream}:{priority}"

    def task(self, task_id: str) -> str:
        """The hash holding the live task ``task_id``."""
        return self.base + _TASK + task_id

    def result(self, task_id: str) -> str:
        """Key holding the stored outcome of ``task_id``."""
        return self.base + _RESULT + task_id

    def items(self, task_id: str) -> str:
        """The stream of the items a streaming task ``task_id`` yielded."""
        return self.base + _ITEMS + task_id

    def inbox(self, client_id: str) -> str:
        """Pub/sub channel on which a client receives the outcomes its callers await."""
        return self.base + _INBOX + client_id

    def worker(self, worker_id: str) -> str:
        """Key holding the last health record of worker ``worker_id``."""
        return self.base + _WORKER + worker_id

    def task_id_of(self, task_key: str) -> str:
        """The task id in a key returned by a scan of :attr:`tasks_pattern`."""
        return task_key[len(self.base) + len(_TASK) :]


def lua_prelude() -> str:
    """Lua that defines the key names for a script whose ``KEYS[1]`` is :attr:`Keys.base`.

    Rendered from this module's suffixes, so Lua and Python cannot disagree.
    """
    # one definition per paragraph: the loader keeps only those a script uses
    return f"""\
local BASE = KEYS[1]

local GROUP = '{GROUP}'

local DELAYED = BASE .. '{_DELAYED}'

local WAKE = BASE .. '{_WAKE}'

local DEAD = BASE .. '{_DEAD}'

local DEAD_BYTES = BASE .. '{_DEAD_BYTES}'

local CRONS = BASE .. '{_CRONS}'

local CONTROL = BASE .. '{_CONTROL}'

local function task_key(id) return BASE .. '{_TASK}' .. id end

local function result_key(id) return BASE .. '{_RESULT}' .. id end

local function items_key(id) return BASE .. '{_ITEMS}' .. id end

local function inbox_channel(client) return BASE .. '{_INBOX}' .. client end

local function stream_key(priority)
    if not priority or priority == '' or priority == '{DEFAULT_PRIORITY}' then
        return BASE .. '{_STREAM}'
    end
    return BASE .. '{_STREAM}:' .. priority
end
"""
