"""Registered tasks: ``Task[P, R]`` handles and the ``@worker.task()`` decorator."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from .._time import seconds
from ..client import Client, StreamRef, TaskRef
from ..errors import ConfigurationError
from ._context import WrappedContext

__all__ = [
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_TTL",
    "CronDecorator",
    "StreamTask",
    "Task",
    "TaskDecorator",
    "TaskOptions",
]

P = ParamSpec("P")
R = TypeVar("R")
Y = TypeVar("Y")
Deps = TypeVar("Deps")

#: How long an outcome is kept in Redis by default.
DEFAULT_TTL = timedelta(minutes=5)
#: Items a streaming task's stream keeps by default (the oldest are trimmed).
DEFAULT_MAX_ITEMS = 10_000


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Execution options of a registered task, normalised to internal units.

    :ivar max_tries: deliveries allowed, retries and crash recoveries included.
    :ivar timeout_s: seconds before the task is cancelled (``None`` = never).
    :ivar ttl_ms: how long the outcome is stored: ``-1`` forever, ``0`` not at all.
    :ivar unique: one live instance per task name and arguments.
    :ivar retry_on_timeout: a timeout retries the task (while tries remain).
    :ivar max_items: a streaming task's stream keeps this many items at most.
    """

    max_tries: int
    timeout_s: float | None
    ttl_ms: int
    unique: bool
    retry_on_timeout: bool = False
    max_items: int = DEFAULT_MAX_ITEMS

    @classmethod
    def build(
        cls,
        max_tries: int,
        timeout: float | timedelta | None,
        ttl: float | timedelta | None,
        unique: bool,
        retry_on_timeout: bool = False,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> TaskOptions:
        """Validate user-facing options (raising :class:`ConfigurationError`)."""
        if not isinstance(max_tries, int) or max_tries < 1:
            raise ConfigurationError(f"max_tries must be an int >= 1, got {max_tries!r}")
        timeout_s = seconds(timeout, "timeout")
        if timeout_s == 0:
            raise ConfigurationError("timeout must be > 0 (use None for no timeout)")
        ttl_s = seconds(ttl, "ttl")
        ttl_ms = -1 if ttl_s is None else int(ttl_s * 1000)
        if ttl_s and ttl_ms == 0:
            ttl_ms = 1  # a sub-millisecond TTL still means "store it"
        if retry_on_timeout and timeout_s is None:
            raise ConfigurationError("retry_on_timeout=True needs a timeout")
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ConfigurationError(f"max_items must be an int >= 1, got {max_items!r}")
        return cls(max_tries, timeout_s, ttl_ms, unique, retry_on_timeout, max_items)


#: How a task runs in-process (``task.run()``): given by its worker.
RunLocally = Callable[["Task[Any, Any]", tuple[Any, ...], dict[str, Any]], Awaitable[Any]]

#: What a decorator hands the function it decorates to: the worker registers it.
Register = Callable[[Callable[..., Any]], "Task[Any, Any]"]


class Task(TaskRef[P, R]):
    """A task registered on a worker: enqueue it, or run it locally with :meth:`run`.

    :ivar fn: the decorated function.
    :ivar options: its execution options.
    :ivar is_async: whether ``fn`` is a coroutine function (else it runs in a thread,
        unless it streams).
    :ivar is_stream: whether ``fn`` is an async generator: a streaming task.
    """

    __slots__ = ("_run_locally", "fn", "is_async", "is_stream", "options", "signature")

    def __init__(
        self,
        client: Client,
        name: str,
        fn: Callable[..., Any],
        options: TaskOptions,
        run_locally: RunLocally,
    ) -> None:
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        super().__init__(
            client,
            name,
            unique=options.unique,
            signature=signature.replace(parameters=params[1:]),  # without ctx
            ttl_ms=options.ttl_ms,
        )
        self._run_locally = run_locally
        self.fn: Callable[..., Any] = fn
        self.options: TaskOptions = options
        self.is_async: bool = inspect.iscoroutinefunction(fn)
        self.is_stream: bool = inspect.isasyncgenfunction(fn)
        self.signature: inspect.Signature = signature

    async def run(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task here and now, without Redis, as a worker would, and return its
        value (for a streaming task, the list of its items).

        The arguments and the value go through the queue's serializer and back, and
        the call goes through the worker's middleware and task lifespan, so a task
        that would fail in a worker because of either fails here too. Uses the
        worker's dependencies if it is running, else enters its ``worker_lifespan``
        for this one call. The task's own exceptions propagate unchanged.

        :raises SerializationError: an argument, the value or an item does not
            survive the serializer.
        :raises TaskTimedOut: it ran past its ``timeout``.
        :raises TypeError: the arguments do not fit its signature.
        """
        return await self._run_locally(self, args, kwargs)  # type: ignore[no-any-return]


class StreamTask(Task[P, list[Y]], StreamRef[P, Y]):
    """A registered streaming task (an async generator): ``enqueue`` returns a
    :class:`~sdk.client.StreamResult` whose :meth:`~sdk.client.StreamResult.stream`
    yields its items; :meth:`run` returns the list of them."""

    __slots__ = ()


class TaskDecorator(Generic[Deps]):
    """What ``@worker.task(...)`` returns: registers a function, async or sync.

    Typed so that the function's first parameter must be ``WrappedContext[Deps]``
    of the worker's own ``Deps``, and the handle keeps the rest of the signature.
    An async generator becomes a :class:`StreamTask` of its item type.
    """

    __slots__ = ("_register",)

    def __init__(self, register: Register) -> None:
        self._register = register

    @overload
    def __call__(
        self, fn: Callable[Concatenate[WrappedContext[Deps], P], AsyncIterator[Y]]
    ) -> StreamTask[P, Y]: ...

    @overload
    def __call__(
        self, fn: Callable[Concatenate[WrappedContext[Deps], P], Coroutine[Any, Any, R]]
    ) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[Concatenate[WrappedContext[Deps], P], R]) -> Task[P, R]: ...

    def __call__(self, fn: Callable[..., Any]) -> Task[Any, Any]:
        return self._register(fn)


class CronDecorator(Generic[Deps]):
    """What ``@worker.cron(...)`` returns: registers a task that takes only ``ctx``
    and schedules it. Usable before the worker starts and while it runs.
    """

    __slots__ = ("_register",)

    def __init__(self, register: Register) -> None:
        self._register = register

    @overload
    def __call__(
        self, fn: Callable[[WrappedContext[Deps]], Coroutine[Any, Any, R]]
    ) -> Task[[], R]: ...

    @overload
    def __call__(self, fn: Callable[[WrappedContext[Deps]], R]) -> Task[[], R]: ...

    def __call__(self, fn: Callable[..., Any]) -> Task[Any, Any]:
        return self._register(fn)
