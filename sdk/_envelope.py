"""The task envelope: how one live task is laid out in Redis. Defined here only.

A live task is a hash (``Keys.task(id)``) whose fields scripts read and write
without decoding anything, so every script can settle, abort, route or
dead-letter a task, even one whose arguments no worker can decode::

    p  args      serializer([args, kwargs]): the user's arguments, opaque bytes
    f  fn        the registered task name
    e  enqueued  enqueue time, ms since the epoch
    s  sig       with a signing key: HMAC over queue, id, fn, e, expiry and p, then
                 the expiry in ASCII ms if any (see sdk/_signing.py); absent unsigned
    t  ttl       how long an outcome written without the task's own options (an
                 abort, a rejection) is kept: ms, -1 forever, 0 not stored;
                 absent for the default (DEFAULT_TTL_MS)
    q  priority  its named priority; absent for "default"
    x  entry     the stream entry that stands for the task now (its generation);
                 empty while it waits in the delayed set
    r  routes    client ids whose inboxes get the outcome, space-separated
    v  viewers   client ids whose inboxes also get progress and streamed items
                 (every viewer is on the routes too)
    g  progress  the last progress report, see sdk/_live.py
    n  tries     deliveries so far; with x, the fencing token of a delivery
    w  holder    the worker (consumer) holding it; empty when nobody does
    a  abort     1 once an abort was asked for while a worker held it

Arguments and return values are encoded by the configured serializer and kept
as opaque bytes, which is what lets ``serializer=json.dumps`` (or pickle, by the
user's choice) work without relayq ever interpreting them.
"""

from __future__ import annotations

import os
from typing import Any, Final, NamedTuple

from ._codec import Deserializer, Serializer
from .errors import SerializationError

__all__ = [
    "DEFAULT_TTL_MS",
    "NewTask",
    "decode_args",
    "encode_args",
    "lua_prelude",
    "new_task_id",
]

#: Kept this long (ms) unless the task says otherwise: the default ``ttl``.
DEFAULT_TTL_MS: Final = 5 * 60 * 1000

# field name constants, also rendered into the Lua prelude
ARGS: Final = "p"
FN: Final = "f"
ENQUEUED: Final = "e"
SIGNATURE: Final = "s"
TTL: Final = "t"
PRIORITY: Final = "q"
ENTRY: Final = "x"
ROUTES: Final = "r"
VIEWERS: Final = "v"
PROGRESS: Final = "g"
TRIES: Final = "n"
HOLDER: Final = "w"
ABORT: Final = "a"


def new_task_id() -> str:
    """A fresh random task id (128 bits, hex)."""
    return os.urandom(16).hex()


class NewTask(NamedTuple):
    """One task as ``enqueue.lua`` (and ``cron.lua``) create it: its values in the
    order of the script's arguments (a named tuple, so that a batch of thousands
    becomes ``ARGV`` without a copy per field).

    :ivar priority: the priority's name; ``""`` for the one named "default".
    :ivar route: the client id whose inbox gets the outcome (``""`` for none).
    :ivar fresh: ``1`` when the id was drawn at random, so no stale outcome can
        exist under it; ``0`` for a reused id (a key, a unique id, a cron run),
        whose old outcome is dropped first.
    """

    task_id: str
    args: bytes
    fn_name: str
    enqueue_ms: int
    signature: bytes
    due_ms: int
    priority: str
    ttl_ms: int
    route: str
    fresh: int


def encode_args(
    serializer: Serializer, fn_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> bytes:
    """The ``p`` field: ``serializer([args, kwargs])``.

    :raises SerializationError: an argument cannot be serialized (named in the message).
    """
    # a list, not the tuple: the codec encodes tuples as an extension type (slower),
    # and json would turn it into a list anyway
    try:
        data = serializer([list(args), kwargs])
    except Exception as exc:
        raise SerializationError(
            f"cannot serialize the arguments of task {fn_name!r}: {exc}"
        ) from exc
    return data.encode() if isinstance(data, str) else data


def decode_args(
    deserializer: Deserializer, fn_name: str, data: bytes
) -> tuple[list[Any], dict[str, Any]]:
    """The inverse of :func:`encode_args`.

    :raises SerializationError: undecodable, or not ``[args, kwargs]``.
    """
    try:
        args, kwargs = deserializer(data)
    except Exception as exc:
        raise SerializationError(f"cannot deserialize the arguments of {fn_name!r}: {exc}") from exc
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        raise SerializationError(f"arguments of {fn_name!r} are not [args, kwargs]")
    return list(args), kwargs


def lua_prelude() -> str:
    """Lua constants naming the task hash's fields (rendered from this module)."""
    names = {
        "F_ARGS": ARGS,
        "F_FN": FN,
        "F_ENQUEUED": ENQUEUED,
        "F_SIGNATURE": SIGNATURE,
        "F_TTL": TTL,
        "F_PRIORITY": PRIORITY,
        "F_ENTRY": ENTRY,
        "F_ROUTES": ROUTES,
        "F_VIEWERS": VIEWERS,
        "F_PROGRESS": PROGRESS,
        "F_TRIES": TRIES,
        "F_HOLDER": HOLDER,
        "F_ABORT": ABORT,
    }
    lines = [f"local {name} = '{value}'" for name, value in names.items()]
    lines.append(f"local DEFAULT_TTL_MS = {DEFAULT_TTL_MS}")
    # one definition per paragraph: the loader keeps only those a script uses
    return "\n\n".join(lines) + "\n"
