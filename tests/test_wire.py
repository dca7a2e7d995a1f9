"""Unit tests of the wire formats: the task envelope's arguments, outcomes, inbox
messages, signatures and seals, and stored time (no Redis needed)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import pytest

from sdk import _envelope, _live, _outcome
from sdk._codec import deserialize, serialize
from sdk._signing import Signer, open_outcome, seal_outcome, verify_task
from sdk._time import from_ms, now_ms
from sdk.errors import (
    ConfigurationError,
    InvalidSignature,
    SerializationError,
    TaskAborted,
    TaskFailed,
    TaskTimedOut,
)
from sdk.worker._health import decode_health, encode_health

NOW_MS = 1_700_000_000_123
KEY = b"k" * 32


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
def test_arguments_round_trip(
    serializer: Any, deserializer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    data = _envelope.encode_args(serializer, "fetch", args, kwargs)
    assert isinstance(data, bytes)
    assert _envelope.decode_args(deserializer, "fetch", data) == (list(args), kwargs)


def test_arguments_are_a_pair_of_args_and_kwargs() -> None:
    data = _envelope.encode_args(serialize, "fetch", (1,), {"x": 2})
    assert deserialize(data) == [[1], {"x": 2}]


def test_unserializable_argument() -> None:
    with pytest.raises(SerializationError, match="fetch"):
        _envelope.encode_args(serialize, "fetch", (object(),), {})


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", serialize({"not": "a pair"}), serialize([1, 2]), serialize([[1]])],
)
def test_malformed_arguments_are_one_clear_error(data: bytes) -> None:
    with pytest.raises(SerializationError, match="fetch"):
        _envelope.decode_args(deserialize, "fetch", data)


def test_new_task_ids_are_random_hex() -> None:
    ids = {_envelope.new_task_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_task_signature_covers_queue_id_fn_time_and_arguments() -> None:
    signer = Signer(KEY, "q")
    data = _envelope.encode_args(serialize, "fetch", (1,), {})
    sig = signer.sign_task("t1", "fetch", NOW_MS, data)
    verify_task(signer, "t1", "fetch", NOW_MS, data, sig, NOW_MS)
    for task_id, fn, at, args, queue in [
        ("t2", "fetch", NOW_MS, data, "q"),  # copied under another id
        ("t1", "other", NOW_MS, data, "q"),  # relabelled
        ("t1", "fetch", NOW_MS + 1, data, "q"),
        ("t1", "fetch", NOW_MS, data[:-1] + bytes([data[-1] ^ 1]), "q"),  # tampered
        ("t1", "fetch", NOW_MS, data, "q2"),  # replayed on another queue
    ]:
        with pytest.raises(InvalidSignature):
            verify_task(Signer(KEY, queue), task_id, fn, at, args, sig, NOW_MS)
    with pytest.raises(InvalidSignature, match="another key"):
        verify_task(Signer(b"o" * 32, "q"), "t1", "fetch", NOW_MS, data, sig, NOW_MS)
    with pytest.raises(InvalidSignature, match="no signing_key"):
        verify_task(None, "t1", "fetch", NOW_MS, data, sig, NOW_MS)
    with pytest.raises(InvalidSignature, match="not signed"):
        verify_task(signer, "t1", "fetch", NOW_MS, data, b"", NOW_MS)
    verify_task(None, "t1", "fetch", NOW_MS, data, b"", NOW_MS)  # unsigned, no key: fine


def test_task_signature_expiry() -> None:
    signer = Signer(KEY, "q")
    sig = signer.sign_task("t1", "f", NOW_MS, b"x", expires_ms=NOW_MS + 1000)
    signer.check_task("t1", "f", NOW_MS, b"x", sig, NOW_MS + 1000)
    with pytest.raises(InvalidSignature, match="expired"):
        signer.check_task("t1", "f", NOW_MS, b"x", sig, NOW_MS + 1001)
    # the expiry is signed too: extending it breaks the signature
    forged = sig[:32] + str(NOW_MS + 10**9).encode()
    with pytest.raises(InvalidSignature, match="does not match"):
        signer.check_task("t1", "f", NOW_MS, b"x", forged, NOW_MS + 5000)


def test_signing_key_must_be_long_enough_and_never_shows() -> None:
    with pytest.raises(ConfigurationError, match="16 bytes"):
        Signer(b"short", "q")
    assert "k" * 16 not in repr(Signer("k" * 16, "q"))


def test_outcome_seal() -> None:
    signer = Signer(KEY, "q")
    raw = _outcome.encode_failure(_outcome.KIND_FAILED, "E", "m", "", 1, 0, 0, 0, "w", "f")
    sealed = seal_outcome(signer, "t1", raw)
    assert open_outcome(signer, "t1", sealed) == raw
    assert seal_outcome(None, "t1", raw) == raw and open_outcome(None, "t1", raw) == raw
    with pytest.raises(InvalidSignature, match="not signed"):
        open_outcome(signer, "t1", raw)  # written by someone without the key
    with pytest.raises(InvalidSignature, match="wrong signature"):
        open_outcome(signer, "t2", sealed)  # another task's outcome
    with pytest.raises(InvalidSignature, match="wrong signature"):
        open_outcome(Signer(b"o" * 32, "q"), "t1", sealed)
    assert open_outcome(None, "t1", sealed) == raw  # no key: nothing is verified
    # a task signature never passes as an outcome seal (domain separation)
    as_task = signer.sign_task("t1", "f", 0, raw)
    with pytest.raises(InvalidSignature):
        open_outcome(signer, "t1", b"rqS1" + as_task[:32] + raw)


def test_success_outcome_round_trip() -> None:
    value = {"n": 3, "at": datetime(2024, 5, 1, tzinfo=timezone.utc), "t": (1, 2)}
    raw = _outcome.encode_success(
        serialize, value, 2, NOW_MS, NOW_MS + 10, NOW_MS + 25, "worker-1", "fetch"
    )
    outcome = _outcome.decode_outcome(deserialize, "task-1", raw)
    assert outcome.success
    assert outcome.value == value
    assert outcome.error is None
    assert outcome.unwrap() == value
    assert outcome.task_id == "task-1"
    assert outcome.tries == 2
    assert outcome.worker_id == "worker-1"
    assert outcome.fn_name == "fetch"
    assert outcome.enqueue_time == from_ms(NOW_MS)
    assert outcome.start_time - outcome.enqueue_time == timedelta(milliseconds=10)
    assert outcome.finish_time - outcome.enqueue_time == timedelta(milliseconds=25)


def test_sealed_outcome_decodes_only_with_the_key() -> None:
    signer = Signer(KEY, "q")
    raw = _outcome.encode_success(serialize, 7, 1, NOW_MS, NOW_MS, NOW_MS, "w", "f")
    sealed = signer.seal("t1", raw)
    assert _outcome.decode_outcome(deserialize, "t1", sealed, signer).value == 7
    with pytest.raises(InvalidSignature):
        _outcome.decode_outcome(deserialize, "t1", raw, signer)


def test_json_success_outcome() -> None:
    raw = _outcome.encode_success(_json_dumps, [1, "x"], 1, NOW_MS, NOW_MS, NOW_MS, "w", "f")
    assert _outcome.decode_outcome(json.loads, "t", raw).value == [1, "x"]


def test_unserializable_return_value() -> None:
    with pytest.raises(SerializationError, match="return value"):
        _outcome.encode_success(serialize, object(), 1, NOW_MS, NOW_MS, NOW_MS, "w", "fetch")


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        (_outcome.KIND_FAILED, TaskFailed),
        (_outcome.KIND_TIMED_OUT, TaskTimedOut),
        (_outcome.KIND_ABORTED, TaskAborted),
    ],
)
def test_failure_outcome_round_trip(kind: int, error_type: type[TaskFailed]) -> None:
    raw = _outcome.encode_failure(
        kind, "ValueError", "bad input", "Traceback...\nValueError: bad input", 3,
        NOW_MS, NOW_MS + 1, NOW_MS + 2, "worker-1", "fetch",
    )  # fmt: skip
    outcome = _outcome.decode_outcome(deserialize, "task-9", raw)
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


def test_outcome_layout_is_versioned_and_failures_are_only_strings() -> None:
    raw = _outcome.encode_failure(_outcome.KIND_FAILED, "E", "m", "tb", 1, 0, 0, 0, "w", "f")
    decoded = msgpack.unpackb(raw, raw=False)
    assert decoded[0] == 1
    assert decoded[2] == ["E", "m", "tb"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",
        msgpack.packb([1, 0, b""]),
        msgpack.packb(5),
        # well framed, wrong shapes inside (found by the fault-injection checker:
        # they used to escape as TypeError/IndexError)
        msgpack.packb([1, 1, [1], 1, 0, 0, 0, "w", "f"]),
        msgpack.packb([1, 1, "x", 1, 0, 0, 0, "w", "f"]),
        msgpack.packb([1, 0, serialize(1), "x", 0, 0, 0, "w", "f"]),
        msgpack.packb([1, 0, serialize(1), 1, 2**62, 0, 0, "w", "f"]),
    ],
)
def test_malformed_outcome(raw: bytes) -> None:
    with pytest.raises(SerializationError):
        _outcome.decode_outcome(deserialize, "t", raw)


def test_outcome_whose_value_cannot_be_decoded() -> None:
    raw = _outcome.encode_success(_json_dumps, [1], 1, NOW_MS, NOW_MS, NOW_MS, "w", "f")
    with pytest.raises(SerializationError, match="result"):
        _outcome.decode_outcome(deserialize, "t", raw)  # written as JSON, read as msgpack


def test_health_record_round_trip() -> None:
    record = {"worker_id": "w", "done": 3, "load": 0.5}
    assert decode_health(encode_health(record)) == record
    with pytest.raises(SerializationError):
        decode_health(msgpack.packb([1, 2]))


def test_inbox_message_split() -> None:
    outcome = b"\x01:\x02outcome-bytes"
    message = b"6:task:1" + outcome
    assert _live.decode_inbox_message(message) == (_live.KIND_OUTCOME, "task:1", outcome)
    body = _live.encode_batch(2, 5, [b"a", b"b"])
    kind, task_id, rest = _live.decode_inbox_message(b"i6:task:1" + body)
    assert (kind, task_id) == (_live.KIND_ITEMS, "task:1")
    batch = _live.decode_batch(rest)
    assert (batch.tries, batch.first_seq, list(batch.items)) == (2, 5, [b"a", b"b"])


def test_progress_round_trip_and_seal() -> None:
    signer = Signer(b"k" * 16, "q")
    report = _live.encode_progress(signer, "t1", 0.25, "quarter", 1_700_000_000_000)
    p = _live.decode_progress(signer, "t1", report)
    assert (p.fraction, p.message, int(p.time.timestamp() * 1000)) == (
        0.25,
        "quarter",
        1_700_000_000_000,
    )
    with pytest.raises(InvalidSignature):  # bound to its task
        _live.decode_progress(signer, "t2", report)


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_progress_fraction_is_checked(fraction: object) -> None:
    with pytest.raises(ValueError, match="fraction"):
        _live.check_progress(fraction, None)  # type: ignore[arg-type]


def test_item_seal_binds_try_and_place() -> None:
    signer = Signer(b"k" * 16, "q")
    sealed = _live.seal_item(signer, "t", 1, 3, b"data")
    assert _live.open_item(signer, "t", 1, 3, sealed) == b"data"
    for tries, seq in ((2, 3), (1, 4)):
        with pytest.raises(InvalidSignature):
            _live.open_item(signer, "t", tries, seq, sealed)
    assert _live.parse_entry_id(b"3-17") == (3, 17)
    assert _live.item_entry_id(3, 17) == "3-17"


@pytest.mark.parametrize("message", [b"", b"garbage", b"99:short", b"x:abc", b"\xff\xfe:1"])
def test_malformed_inbox_message_is_a_value_error(message: bytes) -> None:
    with pytest.raises((ValueError, UnicodeDecodeError)):
        _live.decode_inbox_message(message)


def test_time_helpers() -> None:
    before = time.time_ns() // 1_000_000
    now = now_ms()
    assert before <= now <= time.time_ns() // 1_000_000
    converted = from_ms(NOW_MS)
    assert converted.tzinfo is timezone.utc
    assert round(converted.timestamp() * 1000) == NOW_MS
