"""The outcome format: how a task's result or failure is stored and published.
Defined here only.

An outcome (value of ``result:<id>``, and the body of an inbox message) is a
msgpack array whose first element is a format version, so a later release can
read what an older one wrote::

    [1, kind, body, tries, enqueue_ms, start_ms, finish_ms, worker_id, fn_name]
        kind 0 = success, body = serializer(return value)
        kind 1/2/3 = failed/timed out/aborted, body = [exc_type, message, traceback]

With a signing key it is sealed (see sdk/_signing.py). Lua publishes it to the
clients waiting for it in an inbox message (see sdk/_live.py).
"""

from __future__ import annotations

from typing import Any, Final

import msgpack

from ._codec import Deserializer, Serializer
from ._models import TaskOutcome
from ._signing import Signer, open_outcome
from ._time import from_ms
from .errors import SerializationError, TaskAborted, TaskFailed, TaskTimedOut

__all__ = [
    "KIND_ABORTED",
    "KIND_FAILED",
    "KIND_OK",
    "KIND_TIMED_OUT",
    "decode_outcome",
    "encode_failure",
    "encode_success",
]

_VERSION: Final = 1
KIND_OK: Final = 0
KIND_FAILED: Final = 1
KIND_TIMED_OUT: Final = 2
KIND_ABORTED: Final = 3
_ERROR_TYPES: Final[dict[int, type[TaskFailed]]] = {
    KIND_FAILED: TaskFailed,
    KIND_TIMED_OUT: TaskTimedOut,
    KIND_ABORTED: TaskAborted,
}

_packb = msgpack.Packer(use_bin_type=True).pack


def encode_success(
    serializer: Serializer,
    value: Any,
    tries: int,
    enqueue_ms: int,
    start_ms: int,
    finish_ms: int,
    worker_id: str,
    fn_name: str,
) -> bytes:
    """Encode a successful outcome.

    :raises SerializationError: the return value cannot be serialized.
    """
    try:
        body = serializer(value)
    except Exception as exc:
        raise SerializationError(
            f"cannot serialize the return value of task {fn_name!r}: {exc}"
        ) from exc
    if isinstance(body, str):
        body = body.encode()
    return _packb(
        [_VERSION, KIND_OK, body, tries, enqueue_ms, start_ms, finish_ms, worker_id, fn_name]
    )


def encode_failure(
    kind: int,
    exc_type: str,
    message: str,
    traceback: str,
    tries: int,
    enqueue_ms: int,
    start_ms: int,
    finish_ms: int,
    worker_id: str,
    fn_name: str,
) -> bytes:
    """Encode a failed outcome. Only strings are stored: nothing is ever unpickled."""
    body = [exc_type, message, traceback]
    return _packb(
        [_VERSION, kind, body, tries, enqueue_ms, start_ms, finish_ms, worker_id, fn_name]
    )


def decode_outcome(
    deserializer: Deserializer, task_id: str, stored: bytes, signer: Signer | None = None
) -> TaskOutcome[Any]:
    """Decode a stored or published outcome into a :class:`TaskOutcome`.

    :raises InvalidSignature: a key is configured and the seal does not verify.
    :raises SerializationError: the outcome or its value cannot be decoded.
    """
    raw = open_outcome(signer, task_id, stored)
    try:
        _v, kind, body, tries, enq, start, finish, worker_id, fn_name = msgpack.unpackb(
            raw, raw=False
        )
    except Exception as exc:
        raise SerializationError(f"undecodable outcome of task {task_id}: {exc}") from exc
    if kind == KIND_OK:
        try:
            value = deserializer(body)
        except Exception as exc:
            raise SerializationError(f"cannot deserialize the result of {task_id}: {exc}") from exc
        error: TaskFailed | None = None
    else:
        value = None
        try:
            exc_type, message, traceback = body
            error = _ERROR_TYPES.get(kind, TaskFailed)(
                task_id, str(exc_type), str(message), str(traceback)
            )
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"malformed failure of task {task_id}: {exc}") from exc
    try:
        return TaskOutcome(
            task_id=task_id,
            success=error is None,
            value=value,
            error=error,
            tries=int(tries),
            enqueue_time=from_ms(int(enq)),
            start_time=from_ms(int(start)),
            finish_time=from_ms(int(finish)),
            worker_id=str(worker_id),
            fn_name=str(fn_name),
        )
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        # a well-framed message with nonsense in it (written by someone else)
        raise SerializationError(f"malformed outcome of task {task_id}: {exc}") from exc
