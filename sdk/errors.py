"""Every error relayq raises, under one root.

::

    RelayqError
    ├── ConfigurationError        bad option or argument at the API edge (also a ValueError)
    ├── SerializationError        a value the codec cannot encode or decode (also a TypeError)
    │   └── InvalidSignature      a signed payload failed its HMAC check (tampered or wrong key)
    ├── PayloadTooLarge           an enqueued payload over the configured limit (also a ValueError)
    ├── RedisUnavailable          Redis could not be reached or the connection broke
    ├── RedisCommandError         Redis refused a command (OOM, wrong type, ...)
    ├── NotConnected              a Client/Worker used before ``async with`` connected it
    ├── ResultTimeout             the caller's wait ran out; the task may still finish
    │                             (also a builtin TimeoutError)
    ├── TaskNotFound              the task is nowhere: not queued, scheduled or running, and
    │                             no outcome is stored (it expired, or Redis lost it)
    ├── StreamRestarted           a streaming task started a new try after this consumer
    │                             received items of an earlier one
    ├── StreamGap                 streamed items were trimmed or expired before being read
    └── TaskFailed                the task ran and raised; carries the remote type, message
        │                         and traceback text
        ├── TaskTimedOut          the task exceeded its ``timeout``
        └── TaskAborted           the task was aborted before it finished

:class:`Retry` is deliberately *not* a :class:`RelayqError`: it is a control-flow
signal that task code raises, and ``except RelayqError`` in that code must not
swallow it.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "ConfigurationError",
    "InvalidSignature",
    "NotConnected",
    "PayloadTooLarge",
    "RedisCommandError",
    "RedisUnavailable",
    "RelayqError",
    "ResultTimeout",
    "Retry",
    "SerializationError",
    "StreamGap",
    "StreamRestarted",
    "TaskAborted",
    "TaskFailed",
    "TaskNotFound",
    "TaskTimedOut",
]


class RelayqError(Exception):
    """Root of every error relayq raises."""


class ConfigurationError(RelayqError, ValueError):
    """An option or argument is invalid (raised where it is passed, not later)."""


class SerializationError(RelayqError, TypeError):
    """A value could not be serialized or a payload could not be deserialized."""


class InvalidSignature(SerializationError):
    """A task payload's HMAC signature did not verify (tampered, unsigned, or another key)."""


class PayloadTooLarge(RelayqError, ValueError):
    """An enqueued task's encoded payload exceeds the configured size limit."""


class RedisUnavailable(RelayqError):
    """Redis could not be reached, or a command failed at the connection level.

    The original redis-py exception is chained as ``__cause__``.
    """


class RedisCommandError(RelayqError):
    """Redis answered a command with an error (out of memory, wrong key type, ...).

    The original redis-py exception is chained as ``__cause__``.
    """


class NotConnected(RelayqError):
    """A client or worker was used for Redis work before it was connected.

    Use ``async with client:`` / ``async with worker:`` (or ``worker.run()``).
    """


class ResultTimeout(RelayqError, TimeoutError):
    """Waiting for a task's outcome ran out of time; the task itself may still finish."""


class TaskNotFound(RelayqError):
    """The task is neither queued, scheduled nor running, and no outcome of it is stored.

    Its outcome expired (``ttl``), it never existed under this id, or it was lost
    with a Redis that kept no data. A wait for such a task ends with this at once
    instead of waiting for an outcome that can never come.

    :param task_id: the id that was looked up.
    """

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(
            f"task {task_id} not found: it is not queued, scheduled or running, and no "
            "outcome of it is stored (its result expired, or Redis lost it)"
        )

    def __reduce__(self) -> tuple[type[TaskNotFound], tuple[str]]:
        return (type(self), (self.task_id,))


class StreamRestarted(RelayqError):
    """A streaming task started again (a retry, or a recovery after its worker died)
    after this consumer had received items of an earlier try.

    The items already received belong to a try that did not finish; the new try
    yields its items from the first one again. Call ``handle.stream()`` again to
    follow it from its start.

    :param task_id: the streaming task.
    :param tries: the try that restarted the stream.
    """

    def __init__(self, task_id: str, tries: int) -> None:
        self.task_id = task_id
        self.tries = tries
        super().__init__(
            f"task {task_id} restarted its stream on try {tries}; the items received "
            "so far came from an earlier try (call stream() again to follow the new one)"
        )

    def __reduce__(self) -> tuple[type[StreamRestarted], tuple[str, int]]:
        return (type(self), (self.task_id, self.tries))


class StreamGap(RelayqError):
    """Items of a streaming task are gone before this consumer read them: they were
    trimmed (more than the task's ``max_items``) or expired with the task's ``ttl``.

    :param task_id: the streaming task.
    :param seq: the first missing item (1 is the first item of a try).
    """

    def __init__(self, task_id: str, seq: int) -> None:
        self.task_id = task_id
        self.seq = seq
        super().__init__(
            f"items of task {task_id} from item {seq} on are no longer stored (trimmed "
            "past the task's max_items, or expired) and could not be read"
        )

    def __reduce__(self) -> tuple[type[StreamGap], tuple[str, int]]:
        return (type(self), (self.task_id, self.seq))


class TaskFailed(RelayqError):
    """The task raised an exception in the worker.

    The exception object is never transported (nothing is unpickled); the caller
    gets its type name, message and formatted traceback as text.

    :param task_id: id of the failed task.
    :param exc_type: qualified name of the remote exception type, e.g. ``"ValueError"``.
    :param message: ``str()`` of the remote exception.
    :param traceback: the remote formatted traceback (may be empty).
    """

    def __init__(self, task_id: str, exc_type: str, message: str, traceback: str = "") -> None:
        self.task_id = task_id
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        super().__init__(f"task {task_id} failed: {exc_type}: {message}")

    def __reduce__(self) -> tuple[type[TaskFailed], tuple[str, str, str, str]]:
        return (type(self), (self.task_id, self.exc_type, self.message, self.traceback))


class TaskTimedOut(TaskFailed):
    """The task ran longer than its ``timeout`` and was cancelled (or abandoned, if sync)."""


class TaskAborted(TaskFailed):
    """The task was aborted (``handle.abort()``) before it finished."""


class Retry(Exception):  # a signal, not an error: the name reads as an instruction
    """Raise inside a task to run it again later, while ``ctx.tries < max_tries``.

    :param delay: seconds (or a ``timedelta``) before the next try; ``None`` uses the
        default backoff of ``tries ** 2`` seconds.
    """

    def __init__(self, delay: float | timedelta | None = None) -> None:
        if isinstance(delay, timedelta):
            delay = delay.total_seconds()
        if delay is not None and delay < 0:
            raise ConfigurationError(f"Retry(delay=...) must be >= 0, got {delay!r}")
        self.delay: float | None = delay
        super().__init__(f"retry requested (delay={delay!r})")
