"""Running one delivery: verify, decode, call, and decide its settlement.

Nothing here touches Redis: the executor turns a delivery into a
:class:`~sdk.worker._settlement.Settlement` (deliver this outcome, retry at
that time), and the settler writes settlements in batches. Every way a task can
go wrong ends in a settlement, ``SystemExit`` and ``KeyboardInterrupt`` raised
by a task included, so one task never takes the worker down.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any, Final

from .. import _outcome
from .._aio import Supervisor
from .._codec import Deserializer, Serializer
from .._envelope import decode_args
from .._scripts import TASK_TTL, Scripts
from .._signing import Signer, verify_task
from .._time import from_ms, now_ms
from ..errors import Retry, SerializationError
from ._calling import BadArguments, Caller, TimedOut
from ._context import WrappedContext
from ._delivery import Delivery
from ._live import ItemSink, LiveRun, StreamOptions
from ._settlement import Finished, Retrying, Settlement
from ._task import Task

__all__ = ["Executor"]

logger = logging.getLogger("relayq.worker")

_LOG_INFO: Final = logging.INFO


class _Rejected(Exception):
    """Internal: the delivery's input cannot be used (it is dead-lettered)."""

    def __init__(self, exc_type: str, message: str) -> None:
        super().__init__(message)
        self.exc_type = exc_type
        self.message = message


class Executor:
    """Runs deliveries for one worker.

    :param tasks: the worker's registry, name -> task.
    :param scripts: where a running task's progress and items are written.
    :param max_result_bytes: an outcome whose value (or a streamed item) encodes
        larger fails the task.
    """

    def __init__(
        self,
        *,
        tasks: dict[str, Task[Any, Any]],
        scripts: Scripts,
        supervisor: Supervisor,
        caller: Caller,
        deps: Any,
        redis: Any,
        worker_id: str,
        queue_name: str,
        serializer: Serializer,
        deserializer: Deserializer,
        signer: Signer | None,
        max_result_bytes: int,
    ) -> None:
        self._tasks = tasks
        self._scripts = scripts
        self._supervisor = supervisor
        self._caller = caller
        self._deps = deps
        self._redis = redis
        self._worker_id = worker_id
        self._queue_name = queue_name
        self._serializer = serializer
        self._deserializer = deserializer
        self._signer = signer
        self._max_result_bytes = max_result_bytes

    async def execute(self, d: Delivery) -> Settlement:
        """Run one delivery to its settlement; never raises except ``CancelledError``."""
        start_ms = now_ms()
        try:
            task, args, kwargs = self._resolve(d, start_ms)
        except _Rejected as rejected:
            return self.rejected(d, rejected.exc_type, rejected.message, start_ms)
        opts = task.options
        if d.tries > opts.max_tries:
            return self._exhausted(d, opts.max_tries)
        live = self._live(d, task)
        ctx: WrappedContext[Any] = WrappedContext(
            self._deps,
            d.task_id,
            d.tries,
            self._worker_id,
            task.name,
            from_ms(d.enqueue_ms),
            self._queue_name,
            self._redis,
            live,
        )
        try:
            value = await self._call(task, ctx, args, kwargs, live)
        except asyncio.CancelledError:
            raise
        except Retry as retry:
            return self._retry(d, task, retry, start_ms)
        except TimedOut:
            if opts.retry_on_timeout and d.tries < opts.max_tries:
                return self._retry(d, task, Retry(), start_ms)
            message = f"exceeded its timeout of {opts.timeout_s} s"
            return self._failure(d, _outcome.KIND_TIMED_OUT, "TaskTimedOut", message, "", start_ms)
        except BadArguments as exc:
            return self.rejected(d, "InvalidArguments", str(exc), start_ms)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt too: the task fails, not us
            tb = traceback.format_exc()
            name = type(exc).__qualname__
            return self._failure(d, _outcome.KIND_FAILED, name, _message(exc), tb, start_ms)
        return self._success(d, task, value, start_ms)

    async def _call(
        self,
        task: Task[Any, Any],
        ctx: WrappedContext[Any],
        args: list[Any],
        kwargs: dict[str, Any],
        live: LiveRun,
    ) -> Any:
        """Call the task; what it reported (its last progress, items not written yet)
        reaches Redis before its outcome, and nothing more once it was cancelled."""
        try:
            value = await self._caller.call(
                task, ctx, args, kwargs, None if live.items is None else live.items.emit
            )
        except asyncio.CancelledError:
            live.cancel()
            raise
        except BaseException:
            try:
                if not live.idle:
                    await live.close()
            except Exception as exc:  # the task's own error is the one to report
                logger.warning("task %s[%s]: %s", task.name, ctx.task_id, exc)
            raise
        if not live.idle:  # most tasks: no coroutine to run here
            await live.close()
        return value

    def _live(self, d: Delivery, task: Task[Any, Any]) -> LiveRun:
        items = None
        if task.is_stream:
            opts = task.options
            max_bytes = self._max_result_bytes
            stream = StreamOptions(self._serializer, opts.ttl_ms, opts.max_items, max_bytes)
            items = ItemSink(self._scripts, self._supervisor, d, self._signer, stream)
        return LiveRun(self._scripts, self._supervisor, d, self._signer, items)

    def _resolve(self, d: Delivery, now: int) -> tuple[Task[Any, Any], list[Any], dict[str, Any]]:
        try:
            verify_task(self._signer, d.task_id, d.fn_name, d.enqueue_ms, d.args, d.signature, now)
            args, kwargs = decode_args(self._deserializer, d.fn_name, d.args)
        except SerializationError as exc:
            raise _Rejected(type(exc).__name__, str(exc)) from None
        task = self._tasks.get(d.fn_name)
        if task is None:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise _Rejected(
                "UnknownTask",
                f"no task named {d.fn_name!r} is registered on queue "
                f"{self._queue_name!r} (known: {known})",
            )
        return task, args, kwargs

    def _success(self, d: Delivery, task: Task[Any, Any], value: Any, start_ms: int) -> Settlement:
        finish_ms = now_ms()
        try:
            outcome = _outcome.encode_success(
                self._serializer,
                value,
                d.tries,
                d.enqueue_ms,
                start_ms,
                finish_ms,
                self._worker_id,
                task.name,
            )
        except SerializationError as exc:
            # running it again cannot help: dead-letter it, for a person to look at
            return self.rejected(d, "SerializationError", str(exc), start_ms)
        if len(outcome) > self._max_result_bytes:
            message = (
                f"the return value encodes to {len(outcome)} bytes, over the "
                f"max_payload_bytes limit of {self._max_result_bytes}"
            )
            return self.rejected(d, "ResultTooLarge", message, start_ms)
        if logger.isEnabledFor(_LOG_INFO):
            logger.info(
                "task %s[%s] ok in %d ms (try %d)",
                d.fn_name,
                d.task_id,
                finish_ms - start_ms,
                d.tries,
                extra=self._extra(d),
            )
        return Finished(d, self._seal(d, outcome), task.options.ttl_ms, True)

    def _retry(self, d: Delivery, task: Task[Any, Any], retry: Retry, start_ms: int) -> Settlement:
        tries = d.tries
        if tries >= task.options.max_tries:
            message = f"retry requested on try {tries} of max_tries={task.options.max_tries}"
            return self._failure(d, _outcome.KIND_FAILED, "Retry", message, "", start_ms)
        delay = retry.delay if retry.delay is not None else float(tries**2)
        logger.info(
            "task %s[%s] retry in %.3gs (try %d of %d)",
            d.fn_name,
            d.task_id,
            delay,
            tries,
            task.options.max_tries,
            extra=self._extra(d),
        )
        return Retrying(d, now_ms() + int(delay * 1000) if delay > 0 else 0)

    def _exhausted(self, d: Delivery, max_tries: int) -> Settlement:
        message = (
            f"delivered {d.tries} times but max_tries is {max_tries}: "
            "earlier tries ended without an outcome (worker killed or lease lost)"
        )
        return self._failure(d, _outcome.KIND_FAILED, "MaxTriesExceeded", message, "", 0)

    def internal_error(self, d: Delivery, exc: BaseException) -> Settlement:
        """The settlement of a delivery whose execution broke inside relayq itself."""
        message = f"internal error: {type(exc).__qualname__}: {_message(exc)}"
        return self._failure(d, _outcome.KIND_FAILED, "InternalError", message, "", 0)

    def aborted(self, d: Delivery, start_ms: int) -> Settlement:
        """The settlement of a delivery aborted by ``handle.abort()``."""
        return self._failure(
            d, _outcome.KIND_ABORTED, "TaskAborted", "aborted on request", "", start_ms
        )

    def rejected(self, d: Delivery, exc_type: str, message: str, start_ms: int) -> Settlement:
        """Bad input: fail the task and dead-letter it with the reason."""
        settlement = self._failure(d, _outcome.KIND_FAILED, exc_type, message, "", start_ms)
        settlement.dead_reason = f"{exc_type}: {message}"
        return settlement

    def _failure(
        self, d: Delivery, kind: int, exc_type: str, message: str, tb: str, start_ms: int
    ) -> Finished:
        finish_ms = now_ms()
        start_ms = start_ms or finish_ms
        outcome = _outcome.encode_failure(
            kind,
            exc_type,
            message,
            tb,
            d.tries,
            d.enqueue_ms,
            start_ms,
            finish_ms,
            self._worker_id,
            d.fn_name,
        )
        logger.warning(
            "task %s[%s] failed: %s: %s (%d ms, try %d)%s",
            d.fn_name,
            d.task_id,
            exc_type,
            message,
            finish_ms - start_ms,
            d.tries,
            "\n" + tb.rstrip() if tb else "",
            extra=self._extra(d),
        )
        task = self._tasks.get(d.fn_name)
        ttl_ms = task.options.ttl_ms if task is not None else TASK_TTL
        return Finished(d, self._seal(d, outcome), ttl_ms)

    def _seal(self, d: Delivery, outcome: bytes) -> bytes:
        if self._signer is None:
            return outcome
        return self._signer.seal(d.task_id, outcome)

    def _extra(self, d: Delivery) -> dict[str, Any]:
        return {
            "task_id": d.task_id,
            "fn_name": d.fn_name,
            "try": d.tries,
            "queue": self._queue_name,
        }


def _message(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in when the exception cannot describe itself (its
    ``__str__`` raises or returns a non-string): the task must still fail cleanly."""
    try:
        text = str(exc)
    except Exception as inner:
        return f"<str() of {type(exc).__qualname__} failed: {type(inner).__qualname__}>"
    return text
