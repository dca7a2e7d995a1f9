"""Calling a task's function: middleware, the task lifespan, timeouts, threads.

Nothing here knows about Redis or outcomes; :mod:`sdk.worker._executor` turns
what a call returned or raised into a settlement.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

from ._context import Middleware, WrappedContext
from ._task import Task

__all__ = ["BadArguments", "Caller", "Emit", "TimedOut"]

#: Where a streaming task's items go, one by one (the worker writes them to Redis).
Emit = Callable[[Any], Awaitable[None]]


class TimedOut(Exception):
    """The task ran past its ``timeout`` (distinct from a ``TimeoutError`` that task
    code raises itself, which is an ordinary failure)."""


class BadArguments(Exception):
    """The stored arguments do not fit the task's signature."""


async def drain(items: AsyncIterator[Any], emit: Emit) -> int:
    """Run a streaming task: pass each item it yields to ``emit``; how many it yielded.

    The generator is closed however this ends, so its ``finally`` blocks run here,
    inside the task's timeout and lifespan, not later in the garbage collector.
    """
    count = 0
    try:
        async for item in items:
            await emit(item)
            count += 1
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()
    return count


async def _with_timeout(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
    """Await ``coro`` in the current task, cancelling it after ``timeout`` seconds.

    Unlike ``asyncio.wait_for`` (before 3.12) this creates no extra task, and it
    tells its own expiry apart from a ``TimeoutError`` raised by the task.
    """
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    # the timer can only fire while we are suspended in `await coro`: returning
    # and cancelling it happen in one step of this task
    timer = asyncio.get_running_loop().call_later(timeout, expire)
    try:
        return await coro
    except asyncio.CancelledError:
        if not expired:
            raise  # an abort or shutdown, not our timeout
        raise TimedOut from None
    finally:
        timer.cancel()
        if expired and hasattr(task, "uncancel"):  # 3.11+: keep the cancel count right
            task.uncancel()


_WAITING: Final = 0
_STARTED: Final = 1
_ABANDONED: Final = 2


class _Gate:
    """Decides, under a lock, whether a sync task's thread starts or was given up
    on first (timed out or aborted while it waited for a free thread)."""

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _WAITING

    def enter(self) -> bool:
        """In the thread: whether the task may start."""
        with self._lock:
            if self._state == _ABANDONED:
                return False
            self._state = _STARTED
            return True

    def abandon(self) -> None:
        """In the event loop: the caller stopped waiting; a task not started never will."""
        with self._lock:
            if self._state == _WAITING:
                self._state = _ABANDONED


class _Escaped(Exception):
    """Carries a ``BaseException`` that is not an ``Exception`` (``SystemExit``,
    ``GeneratorExit``, ...) out of a thread: asyncio would throw it into the
    awaiting coroutine, and a thrown ``GeneratorExit`` closes coroutines instead
    of reaching the executor's handler."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


def _in_thread(gate: _Gate, call: Callable[[], Any]) -> Any:
    if not gate.enter():
        return None  # given up on before it started: it never runs
    try:
        return call()
    except Exception:
        raise
    except BaseException as exc:
        raise _Escaped(exc) from None


async def _discard_item(_item: Any) -> None:
    return None


def _discard(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class Caller:
    """Calls task functions for one worker.

    :param middleware: the worker's list itself: middleware added while it runs
        applies at once. The first is outermost.
    :param task_lifespan: optional async context manager factory around each call.
    :param threads: where sync tasks run (``None``: the loop's default pool).
    """

    def __init__(
        self,
        middleware: Sequence[Middleware[Any]],
        task_lifespan: Callable[[WrappedContext[Any]], AbstractAsyncContextManager[Any]] | None,
        threads: ThreadPoolExecutor | None,
    ) -> None:
        self._middleware = middleware
        self._task_lifespan = task_lifespan
        self._threads = threads

    async def call(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
        emit: Emit | None = None,
    ) -> Any:
        """Run the task's function through the middleware and the task lifespan; a
        streaming task's items go to ``emit`` and its value is how many there were.

        :raises TimedOut: it ran past its timeout.
        :raises BadArguments: the arguments do not fit its signature.
        """
        middleware = self._middleware
        if not middleware:
            return await self._with_lifespan(task, ctx, args, kwargs, emit)

        async def call_at(index: int) -> Any:
            if index == len(middleware):
                return await self._with_lifespan(task, ctx, args, kwargs, emit)
            return await middleware[index](ctx, lambda: call_at(index + 1))

        return await call_at(0)

    async def _with_lifespan(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
        emit: Emit | None,
    ) -> Any:
        if self._task_lifespan is None:
            return await self._invoke(task, ctx, args, kwargs, emit)
        async with self._task_lifespan(ctx):
            return await self._invoke(task, ctx, args, kwargs, emit)

    async def _invoke(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
        emit: Emit | None,
    ) -> Any:
        timeout = task.options.timeout_s
        if task.is_async or task.is_stream:
            try:
                # calling a coroutine (or async generator) function binds its
                # arguments without running its body, so a TypeError here is a call
                # that does not fit
                called = task.fn(ctx, *args, **kwargs)
            except TypeError as exc:
                raise BadArguments(_bind_message(task, exc)) from None
            coro = drain(called, emit or _discard_item) if task.is_stream else called
            if timeout is None:
                return await coro
            return await _with_timeout(coro, timeout)
        try:
            task.signature.bind(ctx, *args, **kwargs)
        except TypeError as exc:
            raise BadArguments(_bind_message(task, exc)) from None
        return await self._in_thread(task, ctx, args, kwargs, timeout)

    async def _in_thread(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> Any:
        gate = _Gate()
        call = functools.partial(contextvars.copy_context().run, task.fn, ctx, *args, **kwargs)
        fut = asyncio.get_running_loop().run_in_executor(
            self._threads, functools.partial(_in_thread, gate, call)
        )
        try:
            if timeout is None:
                return await fut
            done, _ = await asyncio.wait((fut,), timeout=timeout)
        except asyncio.CancelledError:
            gate.abandon()  # aborted or shut down: a thread not started yet never starts
            raise
        except _Escaped as escaped:
            raise escaped.original from None  # raised here, it travels up as usual
        if not done:
            # a thread cannot be killed: one that started finishes in the background
            # and its result is discarded (documented); one that did not never starts
            gate.abandon()
            fut.cancel()
            fut.add_done_callback(_discard)
            raise TimedOut
        try:
            return fut.result()
        except _Escaped as escaped:
            raise escaped.original from None


def _bind_message(task: Task[Any, Any], exc: TypeError) -> str:
    return f"arguments do not fit {task.name}{task.signature}: {exc}"
