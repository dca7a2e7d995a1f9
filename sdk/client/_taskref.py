"""``TaskRef[P, R]``: a typed name of a task that callers can enqueue."""

from __future__ import annotations

import hashlib
import inspect
import os
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from typing_extensions import ParamSpec

from ._result import TaskResult

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["TaskRef", "new_task_id", "unique_task_id"]

P = ParamSpec("P")
R = TypeVar("R")


def new_task_id() -> str:
    """A fresh random task id (128 bits, hex)."""
    return os.urandom(16).hex()


def unique_task_id(
    client: Client,
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
    encoded = client.serializer(canonical)
    data = encoded.encode() if isinstance(encoded, str) else encoded
    digest = hashlib.blake2b(name.encode() + b"\0" + data, digest_size=16).hexdigest()
    return f"u:{name}:{digest}"


class TaskRef(Generic[P, R]):
    """A task as its callers see it: a name and a typed signature.

    ``enqueue(*args, **kwargs)`` is checked against the task's parameters and
    returns a :class:`TaskResult` of its return type. Made by ``@client.stub()``
    for services that never import worker code, and the base of the worker's
    registered tasks.

    :param client: the client that sends the calls.
    :param name: the registered task name the worker knows it by.
    :param unique: at most one live instance per name and arguments.
    :param signature: the parameters callers pass (the worker's ``ctx`` excluded);
        a unique task's id is computed from the arguments bound to it.
    """

    __slots__ = ("_client", "call_signature", "name", "unique")

    def __init__(
        self,
        client: Client,
        name: str,
        *,
        unique: bool = False,
        signature: inspect.Signature | None = None,
    ) -> None:
        self._client = client
        self.name = name
        self.unique = unique
        self.call_signature = signature

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on queue {self._client.queue_name!r}>"

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[R]:
        """Build a call of this task; nothing is sent until it is awaited or started.

        ``n = await fetch.enqueue(url).result()`` sends it and waits for the value.
        """
        if not self.unique:
            return TaskResult(self._client, self.name, args, kwargs, new_task_id())
        handle: TaskResult[R] = TaskResult(
            self._client,
            self.name,
            args,
            kwargs,
            unique_task_id(self._client, self.name, args, kwargs, self.call_signature),
        )
        handle._fixed_id = True
        return handle

    def handle(self, task_id: str) -> TaskResult[R]:
        """A handle on an already-sent call of this task, by id (to wait, abort, ...)."""
        return TaskResult.existing(self._client, self.name, task_id)
