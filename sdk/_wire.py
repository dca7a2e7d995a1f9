"""Wire formats: how a task and an outcome are laid out in Redis. Defined here only.

Both envelopes are msgpack arrays whose first element is a format version, so a
later release can read what an older one wrote. The user's arguments and return
value are encoded by the configured serializer and nested as opaque bytes, which
is what lets ``serializer=json.dumps`` (or pickle, by the user's choice) work
without relayq ever interpreting them.

Task payload (value in the ``tasks`` hash)::

    [1, fn_name: str, enqueue_ms: int, data: bytes, reply_to: str]
        data = serializer([args, kwargs]); reply_to = the sending client's inbox
        channel when a caller waits for the outcome, else ""

With a ``signing_key`` the stored payload is ``b"rqS1" + HMAC-SHA256(key, body) + body``
and a worker verifies it before decoding anything.

Outcome (value of ``result:<id>`` and the message on ``done:<id>``)::

    [1, kind: int, body, tries, enqueue_ms, start_ms, finish_ms, worker_id, fn_name]
        kind 0 = success, body = serializer(return value)
        kind 1/2/3 = failed/timed out/aborted, body = [exc_type, message, traceback]

Inbox message (on a client's ``inbox:<client>`` channel; built by ``finish.lua``)::

    b"<len(task_id)>:" + task_id + outcome
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

import msgpack

from ._codec import Deserializer, Serializer
from ._models import TaskOutcome
from .errors import InvalidSignature, SerializationError, TaskAborted, TaskFailed, TaskTimedOut

__all__ = [
    "KIND_ABORTED",
    "KIND_FAILED",
    "KIND_OK",
    "KIND_TIMED_OUT",
    "DecodedTask",
    "decode_header",
    "decode_inbox_message",
    "decode_health",
    "decode_outcome",
    "decode_task",
    "encode_failure",
    "encode_health",
    "encode_success",
    "encode_task",
    "from_ms",
    "now_ms",
    "sign",
    "unsign",
    "peek_fn_name",
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
_SIGNED: Final = b"rqS1"
_MAC_LEN: Final = 32


def sign(body: bytes, key: bytes | None) -> bytes:
    """Prefix ``body`` with its HMAC-SHA256 under ``key`` (unchanged without a key)."""
    if key is None:
        return body
    return _SIGNED + hmac.new(key, body, hashlib.sha256).digest() + body


def unsign(payload: bytes, key: bytes | None) -> bytes:
    """Verify and strip a signature; the inverse of :func:`sign`.

    :raises InvalidSignature: signed but wrong, unsigned while a key is set, or
        signed while this side has no key.
    """
    signed = payload[:4] == _SIGNED
    if key is None:
        if signed:
            raise InvalidSignature("the task is signed but this worker has no signing_key")
        return payload
    if not signed:
        raise InvalidSignature("the task is not signed but this worker requires signing_key")
    mac, body = payload[4 : 4 + _MAC_LEN], payload[4 + _MAC_LEN :]
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        raise InvalidSignature("the task's signature does not match (tampered, or another key)")
    return body


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch (the unit of every stored time)."""
    return time.time_ns() // 1_000_000


def from_ms(ms: int) -> datetime:
    """Convert stored milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _user_bytes(serializer: Serializer, obj: Any, what: str) -> bytes:
    try:
        data = serializer(obj)
    except Exception as exc:
        raise SerializationError(f"cannot serialize {what}: {exc}") from exc
    return data.encode() if isinstance(data, str) else data


def encode_task(
    serializer: Serializer,
    fn_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    at_ms: int,
    signing_key: bytes | None = None,
    reply_to: str = "",
) -> bytes:
    """Encode (and, with a key, sign) one task for the ``tasks`` hash.

    :raises SerializationError: an argument cannot be serialized.
    """
    # a list, not the tuple: the codec encodes tuples as an extension type (slower),
    # and json would turn it into a list anyway
    data = _user_bytes(serializer, [list(args), kwargs], f"the arguments of task {fn_name!r}")
    return sign(_packb([_VERSION, fn_name, at_ms, data, reply_to]), signing_key)


@dataclass(frozen=True, slots=True)
class DecodedTask:
    """A task payload read back by a worker."""

    fn_name: str
    enqueue_ms: int
    args: list[Any]
    kwargs: dict[str, Any]
    reply_to: str


def decode_task(
    deserializer: Deserializer, payload: bytes, signing_key: bytes | None = None
) -> DecodedTask:
    """Verify and decode a task payload; any malformation becomes one clear
    :class:`SerializationError` (:class:`InvalidSignature` for a bad signature).
    """
    payload = unsign(payload, signing_key)
    try:
        version, fn_name, enqueue_ms, data, reply_to = msgpack.unpackb(payload, raw=False)
    except Exception as exc:
        raise SerializationError(f"undecodable task payload ({len(payload)} bytes): {exc}") from exc
    if version != _VERSION or not isinstance(fn_name, str) or not isinstance(enqueue_ms, int):
        raise SerializationError(f"unknown task payload layout (version {version!r})")
    if not isinstance(reply_to, str):
        raise SerializationError("task payload has an invalid reply channel")
    try:
        args, kwargs = deserializer(data)
    except Exception as exc:
        raise SerializationError(f"cannot deserialize the arguments of {fn_name!r}: {exc}") from exc
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise SerializationError(f"arguments of {fn_name!r} are not [args, kwargs]")
    return DecodedTask(fn_name, enqueue_ms, list(args), kwargs, reply_to)


def peek_fn_name(payload: bytes) -> str | None:
    """Best-effort task name of a payload that failed to decode (for logs and outcomes)."""
    if payload[:4] == _SIGNED:
        payload = payload[4 + _MAC_LEN :]
    try:
        fn_name = msgpack.unpackb(payload, raw=False)[1]
    except Exception:
        return None
    return fn_name if isinstance(fn_name, str) else None


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
    body = _user_bytes(serializer, value, f"the return value of task {fn_name!r}")
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


def decode_outcome(deserializer: Deserializer, task_id: str, raw: bytes) -> TaskOutcome[Any]:
    """Decode a stored or published outcome into a :class:`TaskOutcome`.

    :raises SerializationError: the outcome or its value cannot be decoded.
    """
    try:
        _v, kind, body, tries, enq, start, finish, worker_id, fn_name = msgpack.unpackb(
            raw, raw=False
        )
    except Exception as exc:
        raise SerializationError(f"undecodable outcome of task {task_id}: {exc}") from exc
    value: Any = None
    error: TaskFailed | None = None
    if kind == KIND_OK:
        try:
            value = deserializer(body)
        except Exception as exc:
            raise SerializationError(f"cannot deserialize the result of {task_id}: {exc}") from exc
    else:
        error = _ERROR_TYPES.get(kind, TaskFailed)(task_id, body[0], body[1], body[2])
    return TaskOutcome(
        task_id=task_id,
        success=error is None,
        value=value,
        error=error,
        tries=tries,
        enqueue_time=from_ms(enq),
        start_time=from_ms(start),
        finish_time=from_ms(finish),
        worker_id=worker_id,
        fn_name=fn_name,
    )


def decode_header(payload: bytes) -> tuple[str, int]:
    """``(fn_name, enqueue_ms)`` of a task payload, without touching its arguments
    (or checking a signature: this is for status display, never for execution).
    """
    if payload[:4] == _SIGNED:
        payload = payload[4 + _MAC_LEN :]
    try:
        _v, fn_name, enqueue_ms, *_rest = msgpack.unpackb(payload, raw=False)
    except Exception as exc:
        raise SerializationError(f"undecodable task payload: {exc}") from exc
    return str(fn_name), int(enqueue_ms)


def encode_health(record: dict[str, Any]) -> bytes:
    """Encode a worker's health record (a flat dict of str/int/float values)."""
    return _packb(record)


def decode_health(raw: bytes) -> dict[str, Any]:
    """Decode a health record written by :func:`encode_health`."""
    record = msgpack.unpackb(raw, raw=False)
    if not isinstance(record, dict):
        raise SerializationError("health record is not a map")
    return record


def decode_inbox_message(message: bytes) -> tuple[str, bytes]:
    """Split an inbox message into ``(task_id, outcome)``."""
    colon = message.index(b":")
    end = colon + 1 + int(message[:colon])
    return message[colon + 1 : end].decode(), message[end:]
