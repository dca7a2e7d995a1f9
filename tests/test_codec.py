"""Unit tests for the default msgpack value codec (no Redis needed)."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import json
import os
import random
import subprocess
import sys
import threading
import uuid
import zoneinfo
from pathlib import Path
from typing import Any, NamedTuple

import msgpack
import pytest

from sdk import _codec
from sdk._codec import Deserializer, Serializer, deserialize, serialize

REPO_ROOT = Path(__file__).resolve().parents[1]

UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
NEG = dt.timezone(-dt.timedelta(hours=3, minutes=30))
NAMED = dt.timezone(dt.timedelta(hours=-3), "BRT")
TINY = dt.timezone(dt.timedelta(microseconds=1))


def _paris() -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:  # pragma: no cover - depends on the host's tzdata
        pytest.skip("no IANA time zone data on this host")


def _assert_identical(actual: Any, expected: Any) -> None:
    """Recursively check that ``actual`` equals ``expected`` with exactly the same types."""
    assert type(actual) is type(expected), (actual, expected)
    if isinstance(expected, float | decimal.Decimal):
        # repr tells NaN, signed zeros and Decimal exponents apart, which == does not.
        assert repr(actual) == repr(expected)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert len(actual) == len(expected)
        # msgpack maps keep their order, so the pairs line up.
        for (akey, avalue), (ekey, evalue) in zip(actual.items(), expected.items(), strict=True):
            _assert_identical(akey, ekey)
            _assert_identical(avalue, evalue)
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple)
        assert len(actual) == len(expected)
        for aitem, eitem in zip(actual, expected, strict=True):
            _assert_identical(aitem, eitem)
    elif isinstance(expected, set | frozenset):
        assert isinstance(actual, set | frozenset)
        assert actual == expected
        for eitem in expected:
            _assert_identical(next(a for a in actual if a == eitem), eitem)
    elif isinstance(expected, dt.datetime | dt.time):
        assert isinstance(actual, dt.datetime | dt.time)
        # == on aware values only compares instants; the zone and fold must match too.
        assert actual == expected
        assert actual.tzinfo == expected.tzinfo
        assert actual.tzname() == expected.tzname()
        assert actual.utcoffset() == expected.utcoffset()
        assert actual.fold == expected.fold
    else:
        assert actual == expected


def _round_trip(value: Any) -> Any:
    data = serialize(value)
    assert type(data) is bytes
    return deserialize(data)


def _id(value: Any) -> str:
    text = f"{type(value).__name__}:{value!r}"
    return text if len(text) <= 60 else text[:57] + "..."


NATIVE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    1.5,
    -0.0,
    float("inf"),
    float("nan"),
    "",
    "héllo wörld ✓",
    b"",
    b"\x00\xff" * 10,
    [],
    {},
    [1, [2, [3, []]]],
    {"a": {"b": [None, {"c": 1.25}]}},
]

EXT_VALUES: list[Any] = [
    # ints msgpack cannot hold natively
    2**64,
    -(2**63) - 1,
    10**50,
    -(10**50),
    # datetime.datetime
    dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
    dt.datetime(1, 1, 1),
    dt.datetime.max,
    dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
    dt.datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=IST),
    dt.datetime(2024, 5, 1, 12, 0, tzinfo=NEG),
    dt.datetime(2024, 5, 1, 12, 0, tzinfo=NAMED),
    dt.datetime(2024, 5, 1, 12, 0, tzinfo=TINY),
    dt.datetime(2024, 5, 1, 12, 0, fold=1),
    # datetime.date
    dt.date(2024, 2, 29),
    dt.date.min,
    dt.date.max,
    # datetime.time
    dt.time(),
    dt.time(23, 59, 59, 999999),
    dt.time(8, 30, tzinfo=IST),
    dt.time(8, 30, tzinfo=NAMED),
    dt.time(8, 30, tzinfo=UTC, fold=1),
    # datetime.timedelta
    dt.timedelta(0),
    dt.timedelta(microseconds=1),
    dt.timedelta(microseconds=-1),
    dt.timedelta(days=-3, hours=4, microseconds=7),
    dt.timedelta.max,
    dt.timedelta.min,
    # uuid.UUID
    uuid.UUID(int=0),
    uuid.UUID(int=2**128 - 1),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    # decimal.Decimal
    decimal.Decimal("0"),
    decimal.Decimal("-0"),
    decimal.Decimal("1.00"),
    decimal.Decimal("1E+2"),
    decimal.Decimal("-1.5E-30"),
    decimal.Decimal("NaN"),
    decimal.Decimal("-NaN"),
    decimal.Decimal("NaN123"),
    decimal.Decimal("sNaN"),
    decimal.Decimal("Infinity"),
    decimal.Decimal("-Infinity"),
    decimal.Decimal("3.14159265358979323846264338327950288"),
    decimal.Decimal("1" * 200),
    # containers
    (),
    (1,),
    (1, "two", 3.0, None),
    ((), ((),), (((1,),),)),
    set(),
    {1, 2, 3},
    {"a", "b", ("c", 1)},
    frozenset(),
    frozenset({1, "x", frozenset({2})}),
    {frozenset({1}), frozenset()},
    [(1, 2), {"k": ((), (3,))}],
    {1: "int key", -5: "negative", 2**70: "big key"},
    {(1, 2): "tuple key", (): "empty tuple key", ((1,), "x"): "nested tuple key"},
    {frozenset({1, 2}): "frozenset key", uuid.UUID(int=7): "uuid key", None: "none key"},
    {dt.date(2024, 1, 1): "date key", decimal.Decimal("1.10"): "decimal key", b"k": "bytes key"},
    {"users": ({uuid.UUID(int=1), uuid.UUID(int=2)}, frozenset({uuid.UUID(int=3)}))},
    [dt.timedelta(seconds=1), {"when": (dt.date(2024, 1, 1), dt.time(1, tzinfo=UTC))}],
]


@pytest.mark.parametrize("value", NATIVE_VALUES + EXT_VALUES, ids=_id)
def test_round_trip_is_exact(value: Any) -> None:
    _assert_identical(_round_trip(value), value)


@pytest.mark.parametrize(
    ("naive", "fold"),
    [
        (dt.datetime(2024, 7, 14, 12, 0, 0, 654321), 0),
        (dt.datetime(2024, 1, 15, 8, 30), 0),
        # 02:30 happens twice on that night; fold picks the second (CET) one.
        (dt.datetime(2024, 10, 27, 2, 30), 0),
        (dt.datetime(2024, 10, 27, 2, 30), 1),
        # 02:30 does not exist on that night (DST gap); it must still come back as given.
        (dt.datetime(2024, 3, 31, 2, 30), 0),
    ],
)
def test_zoneinfo_datetime_keeps_zone_and_fold(naive: dt.datetime, fold: int) -> None:
    paris = _paris()
    value = naive.replace(tzinfo=paris, fold=fold)
    result = _round_trip(value)
    _assert_identical(result, value)
    assert isinstance(result.tzinfo, zoneinfo.ZoneInfo)
    assert result.tzinfo.key == "Europe/Paris"


def test_zoneinfo_time_keeps_zone() -> None:
    value = dt.time(9, 15, tzinfo=_paris())
    _assert_identical(_round_trip(value), value)


def test_utc_comes_back_as_the_singleton() -> None:
    result = _round_trip(dt.datetime(2024, 1, 1, tzinfo=UTC))
    assert result.tzinfo is UTC


def test_keyless_zoneinfo_is_rejected() -> None:
    path = next((Path(p) / "Europe" / "Paris" for p in zoneinfo.TZPATH), None)
    if path is None or not path.is_file():
        pytest.skip("no IANA time zone files on this host")
    with path.open("rb") as file:
        zone = zoneinfo.ZoneInfo.from_file(file)
    with pytest.raises(TypeError, match="ZoneInfo without a key"):
        serialize(dt.datetime(2024, 1, 1, tzinfo=zone))


class _OtherTz(dt.tzinfo):
    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(hours=1)

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)

    def tzname(self, when: dt.datetime | None) -> str:
        return "OTHER"


def test_other_tzinfo_is_rejected_by_name() -> None:
    with pytest.raises(TypeError, match="'_OtherTz'") as info:
        serialize([dt.datetime(2024, 1, 1, tzinfo=_OtherTz())])
    assert "serializer=" in str(info.value)


@pytest.mark.parametrize("value", [bytearray(b"abc"), memoryview(b"abc"), bytearray()], ids=_id)
def test_bytes_like_values_decode_as_bytes(value: bytearray | memoryview) -> None:
    _assert_identical(_round_trip(value), bytes(value))


class _Color(str, enum.Enum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


class _Perm(enum.IntFlag):
    R = 4
    W = 2


class _LoudStr(str):
    def __str__(self) -> str:
        return "overridden"


class _Meters(float):
    pass


class _Huge(int):
    pass


class _MyList(list[int]):
    pass


class _MyBytes(bytes):
    pass


class _Point(NamedTuple):
    x: int
    y: int


class _MyDateTime(dt.datetime):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (_Color.RED, "red"),
        (_Level.HIGH, 3),
        (_Perm.R | _Perm.W, 6),
        (_LoudStr("plain"), "plain"),
        (_Meters(2.5), 2.5),
        (_Huge(2**80), 2**80),
        (_MyList([1, 2]), [1, 2]),
        (_MyBytes(b"xy"), b"xy"),
        (collections.OrderedDict(a=1, b=2), {"a": 1, "b": 2}),
        (collections.defaultdict(list, {"a": [1]}), {"a": [1]}),
        (collections.Counter("aab"), {"a": 2, "b": 1}),
        (_Point(1, 2), (1, 2)),
        (_MyDateTime(2024, 1, 2, 3, tzinfo=UTC), dt.datetime(2024, 1, 2, 3, tzinfo=UTC)),
        ({_Level.HIGH: [_Color.RED]}, {3: ["red"]}),
    ],
    ids=_id,
)
def test_subclasses_decode_as_their_base_type(value: Any, expected: Any) -> None:
    _assert_identical(_round_trip(value), expected)


def test_bools_stay_bools() -> None:
    _assert_identical(_round_trip([True, False, {True: (False,)}]), [True, False, {True: (False,)}])
    # Directly, in case msgpack ever handed one to the hook: it must not become 1 or 0.
    _assert_identical(_codec._default(True), True)


class _Opaque:
    pass


class _Plain(enum.Enum):
    A = 1


@dataclasses.dataclass
class _Record:
    name: str


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (_Opaque(), "_Opaque"),
        (_Plain.A, "_Plain"),
        (_Record("x"), "_Record"),
        (1 + 2j, "complex"),
        (range(3), "range"),
        ({"deep": [1, (2, {3: _Opaque()})]}, "_Opaque"),
    ],
    ids=_id,
)
def test_unsupported_type_error_names_the_type(value: Any, type_name: str) -> None:
    with pytest.raises(TypeError) as info:
        serialize(value)
    message = str(info.value)
    assert repr(type_name) in message
    assert "serializer=" in message


def test_codec_still_works_after_a_failure() -> None:
    with pytest.raises(TypeError):
        serialize([1, 2, _Opaque()])
    assert serialize([1, 2]) == msgpack.packb([1, 2])


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb(msgpack.ExtType(99, b"")),
        msgpack.packb([1, {"a": msgpack.ExtType(99, b"payload")}]),
    ],
)
def test_unknown_ext_code_is_a_value_error_naming_it(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"extension type code 99\b"):
        deserialize(data)


def test_ext_code_table_is_stable() -> None:
    # These numbers are on the wire in every queued message: changing one breaks upgrades.
    assert {name: getattr(_codec, name) for name in dir(_codec) if name.startswith("EXT_")} == {
        "EXT_DATETIME": 1,
        "EXT_DATE": 2,
        "EXT_TIME": 3,
        "EXT_TIMEDELTA": 4,
        "EXT_UUID": 5,
        "EXT_DECIMAL": 6,
        "EXT_SET": 7,
        "EXT_FROZENSET": 8,
        "EXT_TUPLE": 9,
        "EXT_BIGINT": 10,
    }


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (
            [[1, "https://example.com", {"a": 1}], {}],
            b"\x92\x93\x01\xb3https://example.com\x81\xa1a\x01\x80",
        ),
        (uuid.UUID(int=1), b"\xd8\x05" + bytes(15) + b"\x01"),
        (dt.date(2024, 2, 29), b"\xc7\x06\x02\x93\xcd\x07\xe8\x02\x1d"),
        ((1, "a"), b"\xd6\x09\x92\x01\xa1a"),
        (decimal.Decimal("-0"), b"\xd5\x06-0"),
        (2**64, b"\xc7\x09\x0a\x01" + bytes(8)),
    ],
    ids=_id,
)
def test_wire_format_is_stable(value: Any, encoded: bytes) -> None:
    assert serialize(value) == encoded
    _assert_identical(deserialize(encoded), value)


def test_plain_values_are_standard_msgpack() -> None:
    # Anything made only of msgpack natives is readable by any msgpack implementation.
    payload = [[1, "https://example.com", {"a": 1}], {"b": b"\x00", "c": None, "d": [1.5]}]
    assert serialize(payload) == msgpack.packb(payload, use_bin_type=True)
    assert msgpack.unpackb(serialize(payload), raw=False) == payload


def test_set_encoding_does_not_depend_on_hash_seed() -> None:
    code = (
        "from sdk._codec import serialize;"
        "print(serialize({'items': {f'k{i}' for i in range(20)},"
        " 'frozen': frozenset({('a', 1), 'b', 'c', 'd'})}).hex())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def _random_hashable(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(10 if depth > 0 else 8)
    if choice == 0:
        return rng.randrange(-(2**70), 2**70)
    if choice == 1:
        return rng.randrange(-1000, 1000)
    if choice == 2:
        return "".join(rng.choice("aé✓z\x00") for _ in range(rng.randrange(6)))
    if choice == 3:
        return rng.randbytes(rng.randrange(5))
    if choice == 4:
        return uuid.UUID(int=rng.getrandbits(128))
    if choice == 5:
        return decimal.Decimal(rng.randrange(-(10**30), 10**30)).scaleb(rng.randrange(-40, 40))
    if choice == 6:
        return dt.datetime(2000, 1, 1, tzinfo=rng.choice([None, UTC, IST, NEG])) + dt.timedelta(
            microseconds=rng.getrandbits(50)
        )
    if choice == 7:
        return rng.choice([None, True, False, 0.1, -0.0, dt.date(2024, 1, 1), dt.time(1, 2)])
    if choice == 8:
        return tuple(_random_hashable(rng, depth - 1) for _ in range(rng.randrange(4)))
    return frozenset(_random_hashable(rng, depth - 1) for _ in range(rng.randrange(4)))


def _random_value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(7 if depth > 0 else 2)
    if choice == 0:
        return _random_hashable(rng, depth)
    if choice == 1:
        return rng.choice([float("nan"), decimal.Decimal("NaN"), dt.timedelta(days=-1), b"", []])
    size = rng.randrange(5)
    if choice == 2:
        return [_random_value(rng, depth - 1) for _ in range(size)]
    if choice == 3:
        return tuple(_random_value(rng, depth - 1) for _ in range(size))
    if choice == 4:
        return {
            _random_hashable(rng, depth - 1): _random_value(rng, depth - 1) for _ in range(size)
        }
    if choice == 5:
        return {_random_hashable(rng, depth - 1) for _ in range(size)}
    return frozenset(_random_hashable(rng, depth - 1) for _ in range(size))


def test_random_nested_structures_round_trip() -> None:
    # A fixed-seed stand-in for a property test: many shapes, reproducible failures.
    for seed in range(300):
        value = _random_value(random.Random(seed), depth=4)
        data = serialize(value)
        _assert_identical(deserialize(data), value)
        assert serialize(deserialize(data)) == data, f"seed {seed}"


def test_large_payload_round_trips() -> None:
    value = {"blob": b"x" * (3 << 20), "rows": [(i, str(i)) for i in range(10_000)]}
    _assert_identical(_round_trip(value), value)
    assert _round_trip([1]) == [1]


def test_concurrent_use_from_threads_does_not_corrupt_output() -> None:
    # Values that go through the `default` hook, where a thread switch can happen mid-pack.
    payloads = [
        [i, dt.datetime(2024, 1, 1, tzinfo=IST) + dt.timedelta(seconds=i), (str(i), {i})]
        for i in range(8)
    ]
    expected = [serialize(p) for p in payloads]
    mismatches: list[int] = []

    def work(index: int) -> None:
        for _ in range(500):
            if serialize(payloads[index]) != expected[index]:
                mismatches.append(index)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(payloads))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert mismatches == []


def test_json_pair_fits_the_codec_types() -> None:
    # mypy checks these assignments when it checks this file.
    serializer: Serializer = json.dumps
    deserializer: Deserializer = json.loads
    default_serializer: Serializer = serialize
    default_deserializer: Deserializer = deserialize
    payload = [[1, "https://example.com", {"a": 1}], {}]
    for ser, de in ((serializer, deserializer), (default_serializer, default_deserializer)):
        data = ser(payload)
        assert de(data.encode() if isinstance(data, str) else data) == payload
