"""``TaskRef[P, R]``: a typed name of a task that callers can enqueue."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Generic, TypeVar

from typing_extensions import ParamSpec

from ._result import TaskResult

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["TaskRef", "new_task_id"]

P = ParamSpec("P")
R = TypeVar("R")


def new_task_id() -> str:
    """A fresh random task id (128 bits, hex)."""
    return os.urandom(16).hex()


class TaskRef(Generic[P, R]):
    """A task as its callers see it: a name and a typed signature.

    ``enqueue(*args, **kwargs)`` is checked against the task's parameters and
    returns a :class:`TaskResult` of its return type. Made by ``@client.stub()``
    for services that never import worker code, and the base of the worker's
    registered tasks.

    :param client: the client that sends the calls.
    :param name: the registered task name the worker knows it by.
    """

    __slots__ = ("_client", "name")

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on queue {self._client.queue_name!r}>"

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[R]:
        """Build a call of this task; nothing is sent until it is awaited or started.

        ``n = await fetch.enqueue(url).result()`` sends it and waits for the value.
        """
        return TaskResult(self._client, self.name, args, kwargs, new_task_id())
