"""``@client.stub()``: typed names of tasks a service calls but does not implement."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, overload

from typing_extensions import ParamSpec

from ..errors import ConfigurationError
from ._stream import StreamRef
from ._taskref import TaskRef

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["StubDecorator"]

P = ParamSpec("P")
R = TypeVar("R")
Y = TypeVar("Y")


class StubDecorator:
    """What ``@client.stub(...)`` returns: turns a declaration into a typed task name."""

    __slots__ = ("_client", "_name", "_ttl_ms", "_unique")

    def __init__(self, client: Client, name: str | None, unique: bool, ttl_ms: int) -> None:
        self._client = client
        self._name = name
        self._unique = unique
        self._ttl_ms = ttl_ms

    @overload
    def __call__(self, fn: Callable[P, AsyncIterator[Y]]) -> StreamRef[P, Y]: ...

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> TaskRef[P, R]: ...

    def __call__(self, fn: Callable[..., Any]) -> TaskRef[Any, Any]:
        streaming = inspect.isasyncgenfunction(fn)
        if not streaming and not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(
                f"@client.stub() declares {fn.__name__!r} with `async def` (an async "
                "generator, with `yield`, for a streaming task)"
            )
        kind = StreamRef if streaming else TaskRef
        return kind(
            self._client,
            self._name or fn.__name__,
            unique=self._unique,
            signature=inspect.signature(fn),
            ttl_ms=self._ttl_ms,
        )
