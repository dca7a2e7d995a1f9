"""The live formats: inbox messages, progress reports and streamed items.
Defined here only (Lua builds the inbox framing the same way, see ``_prelude.lua``).

Every message on a client's inbox names its task, and says what it carries by
its first byte: a digit for an outcome (see sdk/_outcome.py), else a letter::

    b"<len(task_id)>:" + task_id + outcome          an outcome
    b"p<len(task_id)>:" + task_id + progress        a progress report
    b"i<len(task_id)>:" + task_id + batch           items a streaming task yielded

A progress report (also the task hash's ``g`` field) is the msgpack array
``[1, fraction, message or nil, time_ms]``. A batch is ``[1, try, first_seq,
[item, ...]]``: the items of one try numbered from ``first_seq`` on (a batch
with ``first_seq`` 0 and no items announces that a new try restarted the
stream). Each item is ``serializer(value)``; the items stream
``Keys.items(id)`` keeps the same bytes under the entry id ``<try>-<seq>``.
With a signing key every progress report and item is sealed under a name that
binds it to its task, try and place (see :func:`item_seal_name`), so nobody
without the key can inject, reorder or replay them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import msgpack

from ._models import Progress
from ._signing import Signer, open_outcome, seal_outcome
from ._time import from_ms
from .errors import SerializationError

__all__ = [
    "KIND_ITEMS",
    "KIND_OUTCOME",
    "KIND_PROGRESS",
    "ItemBatch",
    "check_progress",
    "decode_batch",
    "decode_inbox_message",
    "decode_progress",
    "encode_batch",
    "encode_progress",
    "item_entry_id",
    "item_seal_name",
    "open_item",
    "parse_entry_id",
    "seal_item",
]

_VERSION: Final = 1
#: An outcome: the message has no kind letter (it starts with the id's length).
KIND_OUTCOME: Final = ""
KIND_PROGRESS: Final = "p"
KIND_ITEMS: Final = "i"

_packb = msgpack.Packer(use_bin_type=True).pack


def decode_inbox_message(message: bytes) -> tuple[str, str, bytes]:
    """Split an inbox message into ``(kind, task_id, body)``.

    :raises ValueError: the message is not in that format.
    """
    kind = ""
    if message[:1].isalpha():
        kind, message = message[:1].decode(), message[1:]
    colon = message.index(b":", 0, 12)
    end = colon + 1 + int(message[:colon])
    if end > len(message):
        raise ValueError("inbox message shorter than its task id")
    return kind, message[colon + 1 : end].decode(), message[end:]


def check_progress(fraction: float, message: str | None) -> float:
    """Validate a progress report; the fraction as a float.

    :raises ValueError: ``fraction`` is not a number from 0 to 1, or ``message``
        is not a string.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise ValueError(f"progress fraction must be a number from 0 to 1, got {fraction!r}")
    value = float(fraction)
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"progress fraction must be from 0 to 1, got {fraction!r}")
    if message is not None and not isinstance(message, str):
        raise ValueError(f"progress message must be a str or None, got {type(message).__name__}")
    return value


def _progress_name(task_id: str) -> str:
    return task_id + "#progress"


def encode_progress(
    signer: Signer | None, task_id: str, fraction: float, message: str | None, time_ms: int
) -> bytes:
    """A progress report as stored and published (sealed when a key is configured)."""
    body = _packb([_VERSION, fraction, message, time_ms])
    return seal_outcome(signer, _progress_name(task_id), body)


def decode_progress(signer: Signer | None, task_id: str, data: bytes) -> Progress:
    """The inverse of :func:`encode_progress`.

    :raises SerializationError: not a progress report (or a forged one).
    """
    raw = open_outcome(signer, _progress_name(task_id), data)
    try:
        _v, fraction, message, time_ms = msgpack.unpackb(raw, raw=False)
        return Progress(
            float(fraction), None if message is None else str(message), from_ms(time_ms)
        )
    except Exception as exc:
        raise SerializationError(f"undecodable progress of task {task_id}: {exc}") from exc


def item_entry_id(tries: int, seq: int) -> str:
    """The stream entry id of item ``seq`` (from 1; 0 is the restart mark) of a try."""
    return f"{tries}-{seq}"


def parse_entry_id(entry_id: bytes | str) -> tuple[int, int]:
    """``(try, seq)`` of an items stream entry id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    tries, _, seq = text.partition("-")
    return int(tries), int(seq)


def item_seal_name(task_id: str, tries: int, seq: int) -> str:
    """What an item's seal is bound to: its task, its try and its place."""
    return f"{task_id}#{tries}-{seq}"


class ItemBatch:
    """Items of one try, as a consumer reads them: numbered from ``first_seq`` on.

    :ivar items: the items' encoded (and, with a key, sealed) bytes.
    """

    __slots__ = ("first_seq", "items", "tries")

    def __init__(self, tries: int, first_seq: int, items: Sequence[bytes]) -> None:
        self.tries = tries
        self.first_seq = first_seq
        self.items = items

    def __repr__(self) -> str:
        return f"<ItemBatch try {self.tries} from {self.first_seq}: {len(self.items)} items>"


def encode_batch(tries: int, first_seq: int, items: Sequence[bytes]) -> bytes:
    """The body of an items message."""
    return _packb([_VERSION, tries, first_seq, list(items)])


def decode_batch(data: bytes) -> ItemBatch:
    """The inverse of :func:`encode_batch`.

    :raises SerializationError: not a batch.
    """
    try:
        _v, tries, first_seq, items = msgpack.unpackb(data, raw=False)
        if not all(isinstance(item, bytes) for item in items):
            raise TypeError("an item is not bytes")
        return ItemBatch(int(tries), int(first_seq), items)
    except Exception as exc:
        raise SerializationError(f"undecodable items message: {exc}") from exc


def seal_item(signer: Signer | None, task_id: str, tries: int, seq: int, data: bytes) -> bytes:
    """An encoded item, sealed when a key is configured."""
    return seal_outcome(signer, item_seal_name(task_id, tries, seq), data)


def open_item(signer: Signer | None, task_id: str, tries: int, seq: int, data: bytes) -> bytes:
    """The inverse of :func:`seal_item`.

    :raises InvalidSignature: a key is configured and the seal does not verify.
    """
    return open_outcome(signer, item_seal_name(task_id, tries, seq), data)
