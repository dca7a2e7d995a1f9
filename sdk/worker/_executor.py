"""Running one delivery: decode, bind, call (with timeout), decide the settlement.

Nothing here touches Redis: the executor turns a delivery into a
:class:`Settlement` (store this outcome / retry at that time), and the settler
writes settlements in batches. Every way a task can go wrong ends in a
settlement, so one bad task never takes the worker down.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import traceback
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from redis.asyncio import Redis

from .. import _wire
from .._codec import Deserializer, Serializer
from ..errors import Retry, SerializationError
from ._context import Middleware, WrappedContext
from ._task import DEFAULT_TTL, Task

if TYPE_CHECKING:
    from ._delivery import Delivery

__all__ = ["Executor", "Settlement"]

logger = logging.getLogger("relayq.worker")

ACTION_DONE: Final = "d"
ACTION_DEAD: Final = "x"
ACTION_RETRY: Final = "r"
_DEFAULT_TTL_MS: Final = int(DEFAULT_TTL.total_seconds() * 1000)


@dataclass(slots=True)
class Settlement:
    """What to write for a delivery: an outcome to store (``"d"``) or a retry (``"r"``).

    :ivar data: the encoded outcome, or the retry's due time in ms (``0`` = now).
    :ivar ttl_ms: how long to store the outcome (``-1`` forever, ``0`` not at all).
    :ivar success: whether the outcome is a success (for the worker's counters).
    :ivar reason: for bad input, why; the task is then also dead-lettered.
    """

    delivery: Delivery
    action: str
    data: bytes | int
    ttl_ms: int
    success: bool = False
    reason: str = ""


class _Failure(Exception):
    """Internal: a failure that is known before the task body runs (bad input)."""

    def __init__(self, exc_type: str, message: str) -> None:
        super().__init__(message)
        self.exc_type = exc_type
        self.message = message


class _TimedOut(Exception):
    """Internal: the task ran past its ``timeout`` (distinct from a ``TimeoutError``
    that task code raises itself, which is an ordinary failure)."""


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
        raise _TimedOut from None
    finally:
        timer.cancel()
        if expired and hasattr(task, "uncancel"):  # 3.11+: keep the cancel count right
            task.uncancel()


def _discard(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class Executor:
    """Runs deliveries for one worker.

    :param tasks: the worker's registry, name -> task.
    :param task_lifespan: optional async context manager factory around each run.
    """

    def __init__(
        self,
        *,
        tasks: dict[str, Task[Any, Any]],
        deps: Any,
        redis: Redis,
        worker_id: str,
        queue_name: str,
        serializer: Serializer,
        deserializer: Deserializer,
        signing_key: bytes | None,
        task_lifespan: Callable[[WrappedContext[Any]], AbstractAsyncContextManager[Any]] | None,
        middleware: Sequence[Middleware[Any]],
        threads: ThreadPoolExecutor,
    ) -> None:
        self._tasks = tasks
        self._deps = deps
        self._redis = redis
        self._worker_id = worker_id
        self._queue_name = queue_name
        self._serializer = serializer
        self._deserializer = deserializer
        self._signing_key = signing_key
        self._task_lifespan = task_lifespan
        # the worker's list itself: middleware added while running applies at once
        self._middleware = middleware
        self._threads = threads

    def poison(self, delivery: Delivery, max_tries: int | None) -> Settlement | None:
        """The settlement of a delivery that must not run again (tries exhausted), if any.

        A task whose previous tries all ended with its worker dying (killed, OOM)
        is redelivered by lease reclaim; past ``max_tries`` it fails instead of
        taking down yet another worker.
        """
        if max_tries is None or delivery.tries <= max_tries:
            return None
        message = (
            f"delivered {delivery.tries} times but max_tries is {max_tries}: "
            "earlier tries ended without an outcome (worker killed or lease lost)"
        )
        return self._failure(delivery, _wire.KIND_FAILED, "MaxTriesExceeded", message, "", 0)

    async def execute(self, delivery: Delivery) -> Settlement:
        """Run one delivery to its settlement; never raises except ``CancelledError``."""
        start_ms = _wire.now_ms()
        try:
            task, decoded = self._resolve(delivery)
        except _Failure as failure:
            return self._rejected(delivery, failure, start_ms)
        opts = task.options
        if delivery.tries > opts.max_tries:
            return self.poison(delivery, opts.max_tries)  # type: ignore[return-value]
        ctx: WrappedContext[Any] = WrappedContext(
            self._deps,
            delivery.task_id,
            delivery.tries,
            self._worker_id,
            task.name,
            _wire.from_ms(decoded.enqueue_ms),
            self._queue_name,
            self._redis,
        )
        try:
            value = await self._call(task, ctx, decoded.args, decoded.kwargs)
        except Retry as retry:
            return self._retry(delivery, task, retry, start_ms)
        except _TimedOut:
            if opts.retry_on_timeout and delivery.tries < opts.max_tries:
                return self._retry(delivery, task, Retry(), start_ms)
            message = f"exceeded its timeout of {opts.timeout_s} s"
            return self._failure(
                delivery, _wire.KIND_TIMED_OUT, "TaskTimedOut", message, "", start_ms
            )
        except _Failure as failure:
            return self._rejected(delivery, failure, start_ms)
        except Exception as exc:
            tb = traceback.format_exc()
            return self._failure(
                delivery, _wire.KIND_FAILED, type(exc).__qualname__, _message(exc), tb, start_ms
            )
        finish_ms = _wire.now_ms()
        try:
            outcome = _wire.encode_success(
                self._serializer,
                value,
                delivery.tries,
                decoded.enqueue_ms,
                start_ms,
                finish_ms,
                self._worker_id,
                task.name,
            )
        except SerializationError as exc:
            return self._rejected(delivery, _Failure("SerializationError", str(exc)), start_ms)
        _log(delivery, "ok", start_ms, finish_ms)
        return Settlement(delivery, ACTION_DONE, outcome, opts.ttl_ms, True)

    def _resolve(self, delivery: Delivery) -> tuple[Task[Any, Any], _wire.DecodedTask]:
        try:
            decoded = _wire.decode_task(self._deserializer, delivery.payload, self._signing_key)
        except SerializationError as exc:
            delivery.fn_name = _wire.peek_fn_name(delivery.payload) or "?"
            raise _Failure(type(exc).__name__, str(exc)) from None
        delivery.fn_name = decoded.fn_name
        delivery.enqueue_ms = decoded.enqueue_ms
        delivery.reply_to = decoded.reply_to
        task = self._tasks.get(decoded.fn_name)
        if task is None:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise _Failure(
                "UnknownTask",
                f"no task named {decoded.fn_name!r} is registered on queue "
                f"{self._queue_name!r} (known: {known})",
            )
        return task, decoded

    async def _call(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> Any:
        if not self._middleware:
            return await self._with_lifespan(task, ctx, args, kwargs)

        async def call_at(index: int) -> Any:
            if index == len(self._middleware):
                return await self._with_lifespan(task, ctx, args, kwargs)
            return await self._middleware[index](ctx, lambda: call_at(index + 1))

        return await call_at(0)

    async def _with_lifespan(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> Any:
        lifespan = self._task_lifespan
        if lifespan is None:
            return await self._invoke(task, ctx, args, kwargs)
        async with lifespan(ctx):
            return await self._invoke(task, ctx, args, kwargs)

    async def _invoke(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> Any:
        timeout = task.options.timeout_s
        if task.is_async:
            try:
                # calling a coroutine function binds its arguments without running
                # its body, so a TypeError here is a call that does not fit
                coro = task.fn(ctx, *args, **kwargs)
            except TypeError as exc:
                raise _Failure("InvalidArguments", _bind_message(task, exc)) from None
            if timeout is None:
                return await coro
            return await _with_timeout(coro, timeout)
        try:
            task.signature.bind(ctx, *args, **kwargs)
        except TypeError as exc:
            raise _Failure("InvalidArguments", _bind_message(task, exc)) from None
        call = functools.partial(contextvars.copy_context().run, task.fn, ctx, *args, **kwargs)
        # a thread cannot be killed: on timeout the caller gets TaskTimedOut and
        # the thread finishes in the background (documented)
        fut = asyncio.get_running_loop().run_in_executor(self._threads, call)
        if timeout is None:
            return await fut
        done, _ = await asyncio.wait((fut,), timeout=timeout)
        if not done:
            fut.add_done_callback(_discard)
            raise _TimedOut
        return fut.result()

    def _retry(
        self, delivery: Delivery, task: Task[Any, Any], retry: Retry, start_ms: int
    ) -> Settlement:
        tries = delivery.tries
        if tries >= task.options.max_tries:
            message = f"retry requested on try {tries} of max_tries={task.options.max_tries}"
            return self._failure(delivery, _wire.KIND_FAILED, "Retry", message, "", start_ms)
        delay = retry.delay if retry.delay is not None else float(tries**2)
        due_ms = _wire.now_ms() + int(delay * 1000) if delay > 0 else 0
        logger.info(
            "task %s[%s] retry in %.3gs (try %d of %d)",
            delivery.fn_name,
            delivery.task_id,
            delay,
            tries,
            task.options.max_tries,
        )
        return Settlement(delivery, ACTION_RETRY, due_ms, 0)

    def internal_error(self, delivery: Delivery, exc: BaseException) -> Settlement:
        """The settlement of a delivery whose execution broke inside relayq itself."""
        message = f"internal error: {type(exc).__qualname__}: {_message(exc)}"
        return self._failure(delivery, _wire.KIND_FAILED, "InternalError", message, "", 0)

    def aborted(self, delivery: Delivery, start_ms: int) -> Settlement:
        """The settlement of a delivery aborted by ``handle.abort()``."""
        return self._failure(
            delivery, _wire.KIND_ABORTED, "TaskAborted", "aborted on request", "", start_ms
        )

    def _rejected(self, delivery: Delivery, failure: _Failure, start_ms: int) -> Settlement:
        """Bad input: fail the task and dead-letter its entry with the reason."""
        settlement = self._failure(
            delivery, _wire.KIND_FAILED, failure.exc_type, failure.message, "", start_ms
        )
        settlement.action = ACTION_DEAD
        settlement.reason = f"{failure.exc_type}: {failure.message}"
        return settlement

    def _failure(
        self,
        delivery: Delivery,
        kind: int,
        exc_type: str,
        message: str,
        tb: str,
        start_ms: int,
    ) -> Settlement:
        finish_ms = _wire.now_ms()
        outcome = _wire.encode_failure(
            kind,
            exc_type,
            message,
            tb,
            delivery.tries,
            delivery.enqueue_ms,
            start_ms or finish_ms,
            finish_ms,
            self._worker_id,
            delivery.fn_name,
        )
        _log(delivery, f"failed: {exc_type}: {message}", start_ms or finish_ms, finish_ms, tb)
        task = self._tasks.get(delivery.fn_name)
        ttl_ms = task.options.ttl_ms if task is not None else _DEFAULT_TTL_MS
        return Settlement(delivery, ACTION_DONE, outcome, ttl_ms)


def _message(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in when the exception cannot describe itself (its
    ``__str__`` raises or returns a non-string): the task must still fail cleanly."""
    try:
        return str(exc)
    except Exception as inner:
        return f"<str() of {type(exc).__qualname__} failed: {type(inner).__qualname__}>"


def _bind_message(task: Task[Any, Any], exc: TypeError) -> str:
    return f"arguments do not fit {task.name}{task.signature}: {exc}"


def _log(delivery: Delivery, what: str, start_ms: int, finish_ms: int, tb: str = "") -> None:
    if what == "ok":
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "task %s[%s] ok in %d ms (try %d)",
                delivery.fn_name,
                delivery.task_id,
                finish_ms - start_ms,
                delivery.tries,
            )
        return
    logger.warning(
        "task %s[%s] %s (%d ms, try %d)%s",
        delivery.fn_name,
        delivery.task_id,
        what,
        finish_ms - start_ms,
        delivery.tries,
        "\n" + tb.rstrip() if tb else "",
    )
