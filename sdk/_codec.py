"""Default value codec for task arguments and results: msgpack plus extension types.

Every task call and every result goes through :func:`serialize` / :func:`deserialize`
unless the caller supplies its own ``serializer=`` / ``deserializer=`` pair (any pair that
matches :data:`Serializer` / :data:`Deserializer`, e.g. ``json.dumps`` / ``json.loads``).

What round-trips exactly (same type, equal value):

* msgpack natives: ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``list``,
  ``dict`` (keys may be any supported hashable value, e.g. ints or tuples);
* through extension types (see the ``EXT_*`` table below): ``datetime.datetime`` (naive, or
  aware with ``datetime.timezone`` or a keyed ``zoneinfo.ZoneInfo``; ``fold`` is kept),
  ``datetime.date``, ``datetime.time``, ``datetime.timedelta``, ``uuid.UUID``,
  ``decimal.Decimal`` (including NaN, signed zero, infinities and any precision), ``set``,
  ``frozenset``, ``tuple``, and ints outside msgpack's 64-bit range;
* any nesting of the above.

What decodes as a different (base) type:

* ``bytearray`` and ``memoryview`` are packed as msgpack bin and decode as ``bytes``;
* subclasses of ``int``, ``float``, ``str``, ``bytes``, ``list`` and ``dict`` (``IntEnum``,
  ``StrEnum`` and ``(str, Enum)`` members, ``OrderedDict``, ``defaultdict``, ...) are packed as
  their builtin base value and decode as that builtin;
* subclasses of ``tuple`` (named tuples), of ``set`` / ``frozenset`` and of the supported
  stdlib types decode as the base type.

Anything else (plain ``Enum``, dataclasses, other ``tzinfo`` implementations such as pytz,
...) raises :class:`TypeError`. Pickle is deliberately never used: payloads come from Redis,
and unpickling them would let anyone who can write to Redis run code in workers.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from typing import Any, Final, TypeAlias
from zoneinfo import ZoneInfo

import msgpack

Serializer: TypeAlias = Callable[[Any], bytes | str]
"""Turns a value into the bytes (or text, stored UTF-8 encoded) that go to Redis."""

Deserializer: TypeAlias = Callable[[bytes], Any]
"""Turns bytes read from Redis back into a value; the inverse of a :data:`Serializer`."""

# Extension type codes. They are part of the wire format: messages enqueued by one release
# must decode on workers running the next, so never renumber or reuse a code, only append.
# Negative codes are reserved by the msgpack spec; 11..127 are free for new types.
EXT_DATETIME: Final = 1  # [year, month, day, hour, minute, second, microsecond, fold, tz]
EXT_DATE: Final = 2  # [year, month, day]
EXT_TIME: Final = 3  # [hour, minute, second, microsecond, fold, tz]
EXT_TIMEDELTA: Final = 4  # [days, seconds, microseconds], as normalized by timedelta
EXT_UUID: Final = 5  # the 16 raw bytes
EXT_DECIMAL: Final = 6  # str(value) in ASCII: exact for every finite and special value
EXT_SET: Final = 7  # array of the items, ordered by their encoding
EXT_FROZENSET: Final = 8  # same payload as EXT_SET
EXT_TUPLE: Final = 9  # array of the items
EXT_BIGINT: Final = 10  # big-endian two's complement, for ints msgpack cannot hold
# The ``tz`` field of EXT_DATETIME / EXT_TIME is nil (naive), a str (ZoneInfo key), an int
# (datetime.timezone offset in microseconds) or [offset, name] when the timezone was given
# a name other than the default "UTC+hh:mm" one.

_INT_MIN: Final = -(2**63)
_UINT_MAX: Final = 2**64 - 1
_ONE_MICROSECOND: Final = dt.timedelta(microseconds=1)

# Saves attribute lookups on the hot path.
_unpackb = msgpack.unpackb
_ExtType = msgpack.ExtType
_tuple_new = tuple.__new__

# A Packer keeps its buffer at the largest size it ever reached: a packer that produced a big
# payload is dropped rather than pinning that memory for the life of the process.
_MAX_POOLED_OUTPUT: Final = 1 << 20
# Enough for the nesting depth of ext payloads times the threads packing at once; beyond that
# the occasional extra packer is just garbage collected.
_MAX_IDLE_PACKERS: Final = 16


def serialize(obj: Any) -> bytes:
    """Encode ``obj`` with relayq's default msgpack codec.

    Safe to call from several threads, and from inside itself (extension payloads are packed
    by nested calls).

    :param obj: the value to encode; see the module docstring for the supported types.
    :returns: the msgpack encoding of ``obj``.
    :raises TypeError: if ``obj`` is, or contains, a value of an unsupported type.
    """
    # A single shared Packer is not safe: while its `default` hook runs Python code, another
    # thread (or a nested call from that hook) could use the same Packer and corrupt its
    # buffer. Popping a packer from this list hands it out exclusively (list.pop and
    # list.append are atomic), and costs about as little as using a global one. The list
    # normally holds one packer, plus one per level of nested ext payloads (tuples, sets...).
    try:
        packer = _idle_packers.pop()
    except IndexError:
        packer = _new_packer()
    data: bytes = packer.pack(obj)
    # A packer whose pack() raised is simply not returned: its state need not be trusted.
    if len(data) <= _MAX_POOLED_OUTPUT and len(_idle_packers) < _MAX_IDLE_PACKERS:
        _idle_packers.append(packer)
    return data


def deserialize(data: bytes) -> Any:
    """Decode bytes produced by :func:`serialize`.

    Arrays decode as lists, except those that were tuples, sets or frozensets; maps decode
    as dicts whose keys may be of any supported hashable type.

    :param data: a complete msgpack document.
    :returns: the decoded value.
    :raises ValueError: if ``data`` is not valid msgpack (msgpack's errors subclass it) or
        holds an extension type code this codec does not know.
    """
    return _unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False, use_list=True)


# --- encoding --------------------------------------------------------------------------------


def _ext_type(code: int, data: bytes) -> Any:
    # msgpack.ExtType is a namedtuple whose __new__ validates its arguments in Python, which
    # costs more than packing a small value; ours are valid by construction, so skip that.
    return _tuple_new(_ExtType, (code, data))


def _ext(code: int, payload: Any) -> Any:
    return _ext_type(code, serialize(payload))


def _encode_tzinfo(tz: dt.tzinfo | None) -> int | str | list[int | str] | None:
    if tz is None:
        return None
    if isinstance(tz, ZoneInfo):
        # typeshed says str, but ZoneInfo.from_file() makes zones whose key is None.
        key: str | None = tz.key
        if key is None:
            raise TypeError(
                "relayq's default msgpack codec cannot serialize a ZoneInfo without a key "
                "(built with ZoneInfo.from_file); use ZoneInfo(key) or pass "
                "serializer=/deserializer= to use another codec"
            )
        return key
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        micros = offset // _ONE_MICROSECOND
        name = tz.tzname(None)
        # Only keep names that differ from the generated one, so that timezone(offset) comes
        # back as itself (and timezone.utc as the timezone.utc singleton).
        if name == dt.timezone(offset).tzname(None):
            return micros
        return [micros, name]
    raise TypeError(
        f"relayq's default msgpack codec cannot serialize tzinfo of type "
        f"{type(tz).__qualname__!r}; use zoneinfo.ZoneInfo or datetime.timezone, or pass "
        "serializer=/deserializer= to use another codec"
    )


def _encode_datetime(obj: dt.datetime) -> Any:
    tz = _encode_tzinfo(obj.tzinfo)
    fields = [obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second]
    return _ext(EXT_DATETIME, [*fields, obj.microsecond, obj.fold, tz])


def _encode_date(obj: dt.date) -> Any:
    return _ext(EXT_DATE, [obj.year, obj.month, obj.day])


def _encode_time(obj: dt.time) -> Any:
    tz = _encode_tzinfo(obj.tzinfo)
    return _ext(EXT_TIME, [obj.hour, obj.minute, obj.second, obj.microsecond, obj.fold, tz])


def _encode_timedelta(obj: dt.timedelta) -> Any:
    return _ext(EXT_TIMEDELTA, [obj.days, obj.seconds, obj.microseconds])


def _encode_uuid(obj: uuid.UUID) -> Any:
    return _ext_type(EXT_UUID, obj.bytes)


def _encode_decimal(obj: decimal.Decimal) -> Any:
    return _ext_type(EXT_DECIMAL, decimal.Decimal.__str__(obj).encode("ascii"))


def _array_of_encoded(items: list[bytes]) -> bytes:
    # The msgpack array header, so the payload is a plain array that deserialize() reads.
    n = len(items)
    if n < 16:
        header = bytes((0x90 | n,))
    elif n < 0x10000:
        header = b"\xdc" + n.to_bytes(2, "big")
    else:
        header = b"\xdd" + n.to_bytes(4, "big")
    return header + b"".join(items)


def _encode_set(obj: set[Any] | frozenset[Any]) -> Any:
    # Set iteration order depends on str hash randomization, so the same set would encode
    # differently in every process; sorting the items' encodings makes the bytes stable
    # (useful to anything that hashes or compares payloads).
    payload = _array_of_encoded(sorted(serialize(item) for item in obj))
    return _ext_type(EXT_FROZENSET if isinstance(obj, frozenset) else EXT_SET, payload)


def _encode_tuple(obj: tuple[Any, ...]) -> Any:
    # A list, since packing a tuple would come straight back here.
    return _ext(EXT_TUPLE, [*obj])


def _encode_int(obj: int) -> Any:
    # int.__int__ gives the plain int value even if a subclass overrides __int__.
    value = int.__int__(obj)
    if _INT_MIN <= value <= _UINT_MAX:
        return value
    size = value.bit_length() // 8 + 1  # room for the sign bit
    return _ext_type(EXT_BIGINT, value.to_bytes(size, "big", signed=True))


# Exact types first: one dict lookup for the common case. Exact ints only get here when they
# are out of msgpack's range.
_ENCODERS_BY_TYPE: Final[dict[type[Any], Callable[[Any], Any]]] = {
    dt.datetime: _encode_datetime,
    dt.date: _encode_date,
    dt.time: _encode_time,
    dt.timedelta: _encode_timedelta,
    uuid.UUID: _encode_uuid,
    decimal.Decimal: _encode_decimal,
    set: _encode_set,
    frozenset: _encode_set,
    tuple: _encode_tuple,
    int: _encode_int,
}

# Subclasses, in order: with strict_types=True msgpack hands every subclass of a builtin to
# `default`. datetime must come before date since it subclasses it, and bool before int (bool
# cannot be subclassed and msgpack packs True/False itself, but should a bool ever get here it
# must not become 0/1). The builtin conversions call the base class' own method so that
# overrides on the subclass (e.g. Enum.__str__) do not change the value.
_ENCODERS_BY_BASE: Final[tuple[tuple[type[Any], Callable[[Any], Any]], ...]] = (
    (dt.datetime, _encode_datetime),
    (dt.date, _encode_date),
    (dt.time, _encode_time),
    (dt.timedelta, _encode_timedelta),
    (uuid.UUID, _encode_uuid),
    (decimal.Decimal, _encode_decimal),
    (set, _encode_set),
    (frozenset, _encode_set),
    (tuple, _encode_tuple),
    (bool, bool),
    (int, _encode_int),
    (float, float.__float__),
    (str, str.__str__),
    (bytes, memoryview),  # packed as bin without a copy
    (list, list.copy),
    (dict, dict.copy),
)


def _default(obj: Any) -> Any:
    encode = _ENCODERS_BY_TYPE.get(type(obj))
    if encode is not None:
        return encode(obj)
    for base, encode_base in _ENCODERS_BY_BASE:
        if isinstance(obj, base):
            return encode_base(obj)
    raise TypeError(
        f"relayq's default msgpack codec cannot serialize {type(obj).__qualname__!r} objects "
        f"(from module {type(obj).__module__!r}); convert them to supported types, or pass "
        "serializer=/deserializer= to use another codec (e.g. pickle, or a custom one)"
    )


def _new_packer() -> Any:
    return msgpack.Packer(default=_default, strict_types=True, use_bin_type=True, datetime=False)


_idle_packers: list[Any] = [_new_packer()]


# --- decoding --------------------------------------------------------------------------------


def _decode_tzinfo(raw: Any) -> dt.tzinfo | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return ZoneInfo(raw)
    if isinstance(raw, int):
        return dt.timezone(raw * _ONE_MICROSECOND)
    micros, name = raw
    return dt.timezone(micros * _ONE_MICROSECOND, name)


def _decode_datetime(data: bytes) -> dt.datetime:
    year, month, day, hour, minute, second, micro, fold, tz = deserialize(data)
    tzinfo = _decode_tzinfo(tz)
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo, fold=fold)


def _decode_date(data: bytes) -> dt.date:
    year, month, day = deserialize(data)
    return dt.date(year, month, day)


def _decode_time(data: bytes) -> dt.time:
    hour, minute, second, micro, fold, tz = deserialize(data)
    return dt.time(hour, minute, second, micro, _decode_tzinfo(tz), fold=fold)


def _decode_timedelta(data: bytes) -> dt.timedelta:
    days, seconds, micros = deserialize(data)
    return dt.timedelta(days, seconds, micros)


def _decode_uuid(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=data)


def _decode_decimal(data: bytes) -> decimal.Decimal:
    # Building a Decimal from a string is exact whatever the context's precision.
    return decimal.Decimal(data.decode("ascii"))


def _decode_set(data: bytes) -> set[Any]:
    return set(deserialize(data))


def _decode_frozenset(data: bytes) -> frozenset[Any]:
    return frozenset(deserialize(data))


def _decode_tuple(data: bytes) -> tuple[Any, ...]:
    return tuple(deserialize(data))


def _decode_bigint(data: bytes) -> int:
    return int.from_bytes(data, "big", signed=True)


_DECODERS: Final[dict[int, Callable[[bytes], Any]]] = {
    EXT_DATETIME: _decode_datetime,
    EXT_DATE: _decode_date,
    EXT_TIME: _decode_time,
    EXT_TIMEDELTA: _decode_timedelta,
    EXT_UUID: _decode_uuid,
    EXT_DECIMAL: _decode_decimal,
    EXT_SET: _decode_set,
    EXT_FROZENSET: _decode_frozenset,
    EXT_TUPLE: _decode_tuple,
    EXT_BIGINT: _decode_bigint,
}


def _ext_hook(code: int, data: bytes) -> Any:
    decode = _DECODERS.get(code)
    if decode is None:
        raise ValueError(
            f"unknown msgpack extension type code {code}: the payload was not written by "
            "relayq's default codec (or by a newer relayq version); make sure producers and "
            "workers use the same serializer/deserializer"
        )
    return decode(data)
