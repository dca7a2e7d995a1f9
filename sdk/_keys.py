"""The Redis key schema: the only place where relayq builds key and channel names.

Every key of a queue shares the Redis Cluster hash tag ``{<queue_name>}`` so a Lua
script only ever touches one slot::

    relayq:{q}:stream            stream of ready task ids of the "default" priority
                                 (consumer group ``workers``)
    relayq:{q}:stream:<prio>     stream of ready task ids of another named priority
    relayq:{q}:prio              hash  task id -> priority name (non-default ones only)
    relayq:{q}:tasks             hash  task id -> encoded task payload (live tasks only)
    relayq:{q}:tries             hash  task id -> deliveries so far (also the fencing token)
    relayq:{q}:running           hash  task id -> consumer (worker id) holding its lease
    relayq:{q}:delayed           zset  task id -> due time (ms since the epoch)
    relayq:{q}:wake              short stream poked when a task is scheduled, so idle
                                 workers blocked on the streams wake up to take it in time
    relayq:{q}:result:<id>       string, the encoded outcome, with the task's result TTL
    relayq:{q}:done:<id>         pub/sub channel the outcome is published on
    relayq:{q}:inbox:<client>    pub/sub channel of one client: outcomes of the tasks
                                 it sent with a waiter, so it need not subscribe per task
    relayq:{q}:aborting          hash  task id -> 1 while an abort of a running task is pending
    relayq:{q}:crons             hash  cron job name -> last tick (ms) enqueued for it
    relayq:{q}:dead              stream of dead-lettered entries (bad input), capped
    relayq:{q}:control           pub/sub channel workers listen on (abort requests)
    relayq:{q}:worker:<wid>      string, a worker's last health record (expires)

Task ids are chosen by relayq (hex) or by the caller (idempotency keys), so the
per-task names are built here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GROUP", "PREFIX", "Keys"]

PREFIX = "relayq"
#: Name of the consumer group every worker of a queue reads through.
GROUP = "workers"


@dataclass(frozen=True, slots=True)
class Keys:
    """All key and channel names of one queue.

    :param queue_name: the queue's name; any string without ``{`` or ``}``.
    """

    queue_name: str
    base: str = field(init=False)
    stream: str = field(init=False)
    tasks: str = field(init=False)
    tries: str = field(init=False)
    running: str = field(init=False)
    delayed: str = field(init=False)
    prio: str = field(init=False)
    wake: str = field(init=False)
    aborting: str = field(init=False)
    crons: str = field(init=False)
    dead: str = field(init=False)
    control: str = field(init=False)
    workers_pattern: str = field(init=False)
    _result_prefix: str = field(init=False, repr=False)
    _channel_prefix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.queue_name or "{" in self.queue_name or "}" in self.queue_name:
            raise ValueError(
                f"queue_name must be non-empty and contain no '{{' or '}}', got {self.queue_name!r}"
            )
        base = f"{PREFIX}:{{{self.queue_name}}}:"
        # frozen dataclass: derived names are set once through object.__setattr__
        for name, value in (
            ("base", base),
            ("stream", base + "stream"),
            ("tasks", base + "tasks"),
            ("tries", base + "tries"),
            ("running", base + "running"),
            ("delayed", base + "delayed"),
            ("prio", base + "prio"),
            ("wake", base + "wake"),
            ("aborting", base + "aborting"),
            ("crons", base + "crons"),
            ("dead", base + "dead"),
            ("control", base + "control"),
            ("workers_pattern", base + "worker:*"),
            ("_result_prefix", base + "result:"),
            ("_channel_prefix", base + "done:"),
        ):
            object.__setattr__(self, name, value)

    def stream_for(self, priority: str) -> str:
        """The ready stream of the named priority (``"default"`` is :attr:`stream`)."""
        if priority == "default":
            return self.stream
        return self.stream + ":" + priority

    def result(self, task_id: str) -> str:
        """Key holding the stored outcome of ``task_id``."""
        return self._result_prefix + task_id

    def channel(self, task_id: str) -> str:
        """Pub/sub channel on which the outcome of ``task_id`` is published."""
        return self._channel_prefix + task_id

    def inbox(self, client_id: str) -> str:
        """Pub/sub channel on which a client receives the outcomes of tasks it awaits."""
        return self.base + "inbox:" + client_id

    def worker(self, worker_id: str) -> str:
        """Key holding the last health record of worker ``worker_id``."""
        return self.base + "worker:" + worker_id
