"""A worker's dependencies, and running a task in-process with them: ``await fetch.run(...)``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from .._envelope import decode_args, encode_args, new_task_id
from .._redis import connect
from .._time import from_ms, now_ms
from ..client import Client
from ..errors import RelayqError, SerializationError, TaskTimedOut
from ._calling import BadArguments, Caller, TimedOut
from ._context import WrappedContext
from ._task import Task

__all__ = ["Dependencies", "call_locally"]


async def call_locally(
    client: Client,
    worker_id: str,
    caller: Caller,
    task: Task[Any, Any],
    deps: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Call ``task`` here as a worker would, without Redis: its arguments and its
    value (or each item) make the codec's round trip, and it runs through the
    worker's middleware and task lifespan with a fresh context (try 1) and
    ``deps``. So a task whose arguments or value cannot be serialized fails here,
    in a test, not in production.

    ``ctx.redis`` is the worker's client when it is connected; otherwise a client
    of its own, closed afterwards (it only connects if the task uses it).

    :raises SerializationError: an argument, the value or an item does not survive
        the serializer (named in the message).
    :raises TaskTimedOut: it ran past its ``timeout``.
    :raises TypeError: the arguments do not fit its signature.
    """
    codec = _RoundTrip(client, task.name)
    args_in, kwargs_in = codec.arguments(args, kwargs)
    own_redis = None if client.connected else connect(client.redis_url)
    ctx: WrappedContext[Any] = WrappedContext(
        deps,
        new_task_id(),
        1,
        worker_id,
        task.name,
        from_ms(now_ms()),
        client.queue_name,
        own_redis or client.redis,
    )
    items: list[Any] = []

    async def emit(item: Any) -> None:
        items.append(codec.value(item, f"item {len(items) + 1}"))

    try:
        value = await caller.call(task, ctx, args_in, kwargs_in, emit if task.is_stream else None)
    except TimedOut:
        limit = task.options.timeout_s
        raise TaskTimedOut(
            ctx.task_id, "TaskTimedOut", f"exceeded its timeout of {limit} s"
        ) from None
    except BadArguments as exc:
        raise TypeError(str(exc)) from None
    finally:
        if own_redis is not None:
            await own_redis.aclose()
    return items if task.is_stream else codec.value(value, "the return value")


class _RoundTrip:
    """The codec of a client, applied both ways as a send and a delivery would."""

    __slots__ = ("_client", "_fn_name")

    def __init__(self, client: Client, fn_name: str) -> None:
        self._client = client
        self._fn_name = fn_name

    def arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        client = self._client
        data = encode_args(client.serializer, self._fn_name, args, kwargs)
        return decode_args(client.deserializer, self._fn_name, data)

    def value(self, value: Any, what: str) -> Any:
        client = self._client
        try:
            data = client.serializer(value)
            return client.deserializer(data.encode() if isinstance(data, str) else data)
        except Exception as exc:
            raise SerializationError(
                f"{what} of task {self._fn_name!r} does not survive the serializer: {exc}"
            ) from exc


class Dependencies:
    """What a worker's ``worker_lifespan`` yields: entered once while the worker
    runs, and lent to ``task.run()`` calls (which enter it themselves otherwise).

    :param worker: the worker, passed to the lifespan.
    :param lifespan: the worker's ``worker_lifespan`` (``None``: no dependencies).
    :param caller: calls tasks through the worker's middleware and task lifespan.
    """

    __slots__ = ("_caller", "_deps", "_entered", "_lifespan", "_worker")

    def __init__(
        self,
        worker: Any,
        lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None,
        caller: Caller,
    ) -> None:
        self._worker = worker
        self._lifespan = lifespan
        self._caller = caller
        self._deps: Any = None
        self._entered = False

    def current(self) -> Any:
        """The dependencies, while the lifespan is entered.

        :raises RelayqError: it is not.
        """
        if not self._entered:
            raise RelayqError("worker dependencies exist only while the worker runs")
        return self._deps

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[Any]:
        """Enter the worker's lifespan; yields the dependencies."""
        if self._lifespan is None:
            self._deps, self._entered = None, True
            try:
                yield None
            finally:
                self._entered = False
            return
        async with self._lifespan(self._worker) as deps:
            self._deps, self._entered = deps, True
            try:
                yield deps
            finally:
                self._deps, self._entered = None, False

    async def run_locally(
        self, task: Task[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``task.run()``: call the task here with the dependencies (entered for this
        call alone when the worker is not running); see :func:`call_locally`."""
        worker, caller = self._worker, self._caller
        if self._entered:
            return await call_locally(
                worker.client, worker.id, caller, task, self._deps, args, kwargs
            )
        async with self.lifespan() as deps:
            return await call_locally(worker.client, worker.id, caller, task, deps, args, kwargs)
