"""``TaskRef[P, R]``: a typed name of a task that callers can enqueue."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from typing_extensions import ParamSpec

from .._envelope import DEFAULT_TTL_MS, new_task_id
from ._request import TaskRequest, unique_task_id
from ._result import TaskResult

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["TaskRef"]

P = ParamSpec("P")
R = TypeVar("R")


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
    :param ttl_ms: how long an outcome written on the task's behalf (an abort, a
        rejection) is kept; the worker's ``ttl=`` for its own outcomes.
    """

    __slots__ = ("_client", "call_signature", "name", "ttl_ms", "unique")

    def __init__(
        self,
        client: Client,
        name: str,
        *,
        unique: bool = False,
        signature: inspect.Signature | None = None,
        ttl_ms: int = DEFAULT_TTL_MS,
    ) -> None:
        self._client = client
        self.name: str = name
        self.unique: bool = unique
        self.call_signature: inspect.Signature | None = signature
        self.ttl_ms: int = ttl_ms

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on queue {self._client.queue_name!r}>"

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[R]:
        """Build a call of this task; nothing is sent until it is awaited or started.

        ``n = await fetch.enqueue(url).result()`` sends it and waits for the value.
        """
        return TaskResult(self._client, self._request(args, kwargs))

    def _request(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskRequest:
        if not self.unique:  # every argument positional: the fastest build of a named tuple
            return TaskRequest(self.name, args, kwargs, new_task_id(), False, 0, None, self.ttl_ms)
        task_id = unique_task_id(
            self._client.serializer, self.name, args, kwargs, self.call_signature
        )
        return TaskRequest(self.name, args, kwargs, task_id, True, ttl_ms=self.ttl_ms)

    def handle(self, task_id: str) -> TaskResult[R]:
        """A handle on an already-sent call of this task, by id (to wait, abort, ...)."""
        return TaskResult.existing(self._client, self.name, task_id)
