"""Unit tests of the wire formats: task and outcome envelopes (no Redis needed)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import pytest

from sdk import _wire
from sdk._codec import deserialize, serialize
from sdk.errors import (
    InvalidSignature,
    SerializationError,
    TaskAborted,
    TaskFailed,
    TaskTimedOut,
)

NOW_MS = 1_700_000_000_123


def _json_dumps(obj: Any) -> str:
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("serializer", "deserializer", "args", "kwargs"),
    [
        (serialize, deserialize, (1, "a", (2, 3), Decimal("1.5")), {"when": datetime(2024, 1, 1)}),
        (serialize, deserialize, (), {}),
        (_json_dumps, json.loads, (1, "a", [2, 3]), {"k": {"n": None}}),
    ],
    ids=["msgpack", "msgpack-empty", "json"],
)
def test_task_round_trip(
    serializer: Any, deserializer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    payload = _wire.encode_task(serializer, "fetch", args, kwargs, NOW_MS, reply_to="inbox:1")
    assert isinstance(payload, bytes)
    decoded = _wire.decode_task(deserializer, payload)
    assert decoded.fn_name == "fetch"
    assert decoded.enqueue_ms == NOW_MS
    assert decoded.args == list(args)
    assert decoded.kwargs == kwargs
    assert decoded.reply_to == "inbox:1"
    assert _wire.decode_header(payload) == ("fetch", NOW_MS)
    assert _wire.peek_fn_name(payload) == "fetch"


def test_task_envelope_layout_is_versioned() -> None:
    payload = _wire.encode_task(serialize, "fetch", (1,), {}, NOW_MS)
    version, fn_name, enqueue_ms, data, reply_to = msgpack.unpackb(payload, raw=False)
    assert (version, fn_name, enqueue_ms, reply_to) == (1, "fetch", NOW_MS, "")
    assert deserialize(data) == [[1], {}]


def test_unserializable_argument() -> None:
    with pytest.raises(SerializationError, match="fetch"):
        _wire.encode_task(serialize, "fetch", (object(),), {}, NOW_MS)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",
        msgpack.packb([1, "fetch"]),
        msgpack.packb([2, "fetch", NOW_MS, b"", ""]),
        msgpack.packb([1, 7, NOW_MS, b"", ""]),
        msgpack.packb([1, "fetch", "soon", b"", ""]),
        msgpack.packb([1, "fetch", NOW_MS, b"\xc1", ""]),
        msgpack.packb([1, "fetch", NOW_MS, serialize({"not": "a pair"}), ""]),
        msgpack.packb([1, "fetch", NOW_MS, serialize([1, 2]), ""]),
        msgpack.packb([1, "fetch", NOW_MS, serialize([[1], {}]), 5]),
    ],
    ids=[
        "empty",
        "garbage",
        "short",
        "version",
        "name-type",
        "time-type",
        "bad-data",
        "not-a-pair",
        "args-not-list",
        "reply-type",
    ],
)
def test_malformed_task_is_one_clear_error(payload: bytes) -> None:
    with pytest.raises(SerializationError):
        _wire.decode_task(deserialize, payload)


def test_peek_fn_name_is_best_effort() -> None:
    assert _wire.peek_fn_name(b"\xc1") is None
    assert _wire.peek_fn_name(msgpack.packb([1, 5])) is None
    assert _wire.peek_fn_name(msgpack.packb([1, "name", "junk"])) == "name"


def test_signed_task_round_trip_and_tampering() -> None:
    key = b"k" * 32
    payload = _wire.encode_task(serialize, "fetch", (1,), {}, NOW_MS, signing_key=key)
    assert _wire.decode_task(deserialize, payload, key).args == [1]
    assert _wire.decode_header(payload) == ("fetch", NOW_MS)
    assert _wire.peek_fn_name(payload) == "fetch"
    with pytest.raises(InvalidSignature):
        _wire.decode_task(deserialize, payload, b"other-key")
    with pytest.raises(InvalidSignature):
        _wire.decode_task(deserialize, payload)  # signed, but no key here
    with pytest.raises(InvalidSignature):
        _wire.decode_task(deserialize, _wire.encode_task(serialize, "f", (), {}, NOW_MS), key)
    tampered = payload[:-1] + bytes([payload[-1] ^ 1])
    with pytest.raises(InvalidSignature):
        _wire.decode_task(deserialize, tampered, key)


def test_success_outcome_round_trip() -> None:
    value = {"n": 3, "at": datetime(2024, 5, 1, tzinfo=timezone.utc), "t": (1, 2)}
    raw = _wire.encode_success(
        serialize, value, 2, NOW_MS, NOW_MS + 10, NOW_MS + 25, "worker-1", "fetch"
    )
    outcome = _wire.decode_outcome(deserialize, "task-1", raw)
    assert outcome.success
    assert outcome.value == value
    assert outcome.error is None
    assert outcome.unwrap() == value
    assert outcome.task_id == "task-1"
    assert outcome.tries == 2
    assert outcome.worker_id == "worker-1"
    assert outcome.fn_name == "fetch"
    assert outcome.enqueue_time == _wire.from_ms(NOW_MS)
    assert outcome.start_time - outcome.enqueue_time == timedelta(milliseconds=10)
    assert outcome.finish_time - outcome.enqueue_time == timedelta(milliseconds=25)


def test_json_success_outcome() -> None:
    raw = _wire.encode_success(_json_dumps, [1, "x"], 1, NOW_MS, NOW_MS, NOW_MS, "w", "f")
    assert _wire.decode_outcome(json.loads, "t", raw).value == [1, "x"]


def test_unserializable_return_value() -> None:
    with pytest.raises(SerializationError, match="return value"):
        _wire.encode_success(serialize, object(), 1, NOW_MS, NOW_MS, NOW_MS, "w", "fetch")


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        (_wire.KIND_FAILED, TaskFailed),
        (_wire.KIND_TIMED_OUT, TaskTimedOut),
        (_wire.KIND_ABORTED, TaskAborted),
    ],
)
def test_failure_outcome_round_trip(kind: int, error_type: type[TaskFailed]) -> None:
    raw = _wire.encode_failure(
        kind, "ValueError", "bad input", "Traceback...\nValueError: bad input", 3,
        NOW_MS, NOW_MS + 1, NOW_MS + 2, "worker-1", "fetch",
    )  # fmt: skip
    outcome = _wire.decode_outcome(deserialize, "task-9", raw)
    assert not outcome.success
    assert outcome.value is None
    assert type(outcome.error) is error_type
    assert outcome.error.task_id == "task-9"
    assert outcome.error.exc_type == "ValueError"
    assert outcome.error.message == "bad input"
    assert outcome.error.traceback.endswith("ValueError: bad input")
    assert outcome.tries == 3
    with pytest.raises(error_type):
        outcome.unwrap()


def test_failure_body_is_only_strings() -> None:
    raw = _wire.encode_failure(_wire.KIND_FAILED, "E", "m", "tb", 1, 0, 0, 0, "w", "f")
    assert msgpack.unpackb(raw, raw=False)[2] == ["E", "m", "tb"]


@pytest.mark.parametrize("raw", [b"", b"\xc1", msgpack.packb([1, 0, b""])])
def test_malformed_outcome(raw: bytes) -> None:
    with pytest.raises(SerializationError):
        _wire.decode_outcome(deserialize, "t", raw)


def test_outcome_whose_value_cannot_be_decoded() -> None:
    raw = _wire.encode_success(_json_dumps, [1], 1, NOW_MS, NOW_MS, NOW_MS, "w", "f")
    with pytest.raises(SerializationError, match="result"):
        _wire.decode_outcome(deserialize, "t", raw)  # written as JSON, read as msgpack


def test_health_record_round_trip() -> None:
    record = {"worker_id": "w", "done": 3, "load": 0.5}
    assert _wire.decode_health(_wire.encode_health(record)) == record
    with pytest.raises(SerializationError):
        _wire.decode_health(msgpack.packb([1, 2]))


def test_inbox_message_split() -> None:
    outcome = b"\x01:\x02outcome-bytes"
    message = b"6:task:1" + outcome
    assert _wire.decode_inbox_message(message) == ("task:1", outcome)


def test_time_helpers() -> None:
    before = time.time_ns() // 1_000_000
    now = _wire.now_ms()
    assert before <= now <= time.time_ns() // 1_000_000
    converted = _wire.from_ms(NOW_MS)
    assert converted.tzinfo is timezone.utc
    assert round(converted.timestamp() * 1000) == NOW_MS
