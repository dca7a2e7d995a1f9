"""``TaskRequest``: what sending one task call means, as an immutable value."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .._envelope import DEFAULT_TTL_MS, NewTask, encode_args
from .._keys import DEFAULT_PRIORITY
from .._time import now_ms
from ..errors import PayloadTooLarge
from ._config import ClientConfig

__all__ = ["TaskRequest", "new_task", "new_tasks", "unique_task_id"]


class TaskRequest(NamedTuple):
    """One task call to send: the function, its arguments, its id and start options.

    A named tuple (not a dataclass): one is built per enqueued call, and that is
    the hot path of ``enqueue_many``.

    :ivar shared: the id was chosen from an idempotency key or the arguments
        (``unique``), so other callers may share the live task.
    :ivar due_ms: when to run it, ms since the epoch (0: now).
    :ivar priority: the named priority (``None``: the queue's default).
    :ivar ttl_ms: how long outcomes written on the task's behalf (an abort, a
        rejection) are kept; the worker's ``ttl`` option governs its own.
    """

    fn_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    task_id: str
    shared: bool = False
    due_ms: int = 0
    priority: str | None = None
    ttl_ms: int = DEFAULT_TTL_MS


def unique_task_id(
    serializer: Callable[[Any], bytes | str],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    signature: inspect.Signature | None,
) -> str:
    """The deterministic id of a ``unique`` task: the same name and arguments give
    the same id, so enqueueing it while one is live returns the live one.

    Arguments are bound to the task's signature first (defaults applied), so
    ``f("a", 1)``, ``f("a", n=1)`` and ``f(user="a")`` with ``n=1`` by default are
    one task.

    :raises TypeError: the arguments do not fit the signature.
    """
    if signature is None:
        canonical: Any = [list(args), sorted(kwargs.items())]
    else:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"arguments do not fit {name}{signature}: {exc}") from None
        bound.apply_defaults()
        canonical = [
            [key, sorted(value.items()) if isinstance(value, dict) else value]
            for key, value in bound.arguments.items()
        ]
    encoded = serializer(canonical)
    data = encoded.encode() if isinstance(encoded, str) else encoded
    digest = hashlib.blake2b(name.encode() + b"\0" + data, digest_size=16).hexdigest()
    return f"u:{name}:{digest}"


def new_task(config: ClientConfig, request: TaskRequest, route: str) -> NewTask:
    """Encode, check and sign a request: the task ``enqueue.lua`` creates.

    :param route: the client id whose inbox gets the outcome ('' for none).
    :raises SerializationError: an argument cannot be serialized.
    :raises PayloadTooLarge: the arguments encode larger than ``max_payload_bytes``.
    """
    return new_tasks(config, (request,), route)[0]


def new_tasks(config: ClientConfig, requests: Iterable[TaskRequest], route: str) -> list[NewTask]:
    """:func:`new_task` for many requests (what it looks up is looked up once:
    this is the hot path of ``enqueue_many``)."""
    serializer, limit, signer = config.serializer, config.max_payload_bytes, config.signer
    default = config.priorities.default
    at = now_ms()
    tasks = []
    for request in requests:
        fn_name, task_id = request.fn_name, request.task_id
        args = encode_args(serializer, fn_name, request.args, request.kwargs)
        if len(args) > limit:
            raise PayloadTooLarge(
                f"task {fn_name!r} encodes to {len(args)} bytes, over the max_payload_bytes "
                f"limit of {limit}; pass a reference (a URL, a key) instead of the data, "
                "or raise the limit"
            )
        signature = b""
        if signer is not None:
            expires = 0
            if config.signing_ttl_ms:
                expires = max(at, request.due_ms) + config.signing_ttl_ms
            signature = signer.sign_task(task_id, fn_name, at, args, expires)
        priority = request.priority or default
        tasks.append(
            NewTask(
                task_id,
                args,
                fn_name,
                at,
                signature,
                request.due_ms,
                "" if priority == DEFAULT_PRIORITY else priority,
                request.ttl_ms,
                route,
                0 if request.shared else 1,
            )
        )
    return tasks
