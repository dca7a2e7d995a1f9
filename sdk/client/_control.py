"""Reading and steering a sent task: status, abort, reschedule, unschedule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from .._aio import GroupCommit, Supervisor
from .._live import decode_progress
from .._models import TaskInfo, TaskStatus
from .._outcome import KIND_ABORTED, encode_failure
from .._scripts import AbortResult, Scripts
from .._signing import Signer, seal_outcome
from .._time import from_ms, now_ms
from ..errors import ResultTimeout, SerializationError, TaskAborted, TaskNotFound
from ._waiting import Wait

__all__ = ["BackgroundAborts", "abort_task", "reschedule_task", "task_status"]

logger = logging.getLogger("relayq.client")

_STATES: Final = {
    "done": TaskStatus.DONE,
    "scheduled": TaskStatus.SCHEDULED,
    "running": TaskStatus.RUNNING,
    "queued": TaskStatus.QUEUED,
    "missing": TaskStatus.NOT_FOUND,
}
# a task that finishes and is sent again under the same id between our read and
# our abort makes the abort read again; more than a few times in a row is a
# caller racing itself, and the task is then reported as not aborted
_ABORT_ATTEMPTS: Final = 5
# an abort for a cancelled caller (see TaskResult.owned) is given this long to
# reach Redis when the client closes
_ABORT_GRACE_S: Final = 5.0


async def task_status(
    scripts: Scripts, signer: Signer | None, task_id: str
) -> tuple[TaskStatus, TaskInfo | None]:
    """Where a task is, and what Redis knows of it while it is live (one script)."""
    state = await scripts.status(task_id)
    status = _STATES[state.state]
    if state.fn_name is None:
        return status, None
    progress = None
    if state.progress:
        try:
            progress = decode_progress(signer, task_id, state.progress)
        except SerializationError as exc:
            logger.warning("task %s: ignored an unreadable progress report: %s", task_id, exc)
    info = TaskInfo(
        task_id=task_id,
        fn_name=state.fn_name,
        status=status,
        enqueue_time=from_ms(state.enqueue_ms),
        tries=state.tries,
        scheduled_time=from_ms(state.due_ms) if state.due_ms >= 0 else None,
        worker_id=state.holder,
        progress=progress,
    )
    return status, info


async def _abort(
    scripts: Scripts, signer: Signer | None, task_id: str, scheduled_only: bool
) -> AbortResult:
    message = "unscheduled on request" if scheduled_only else "aborted on request"
    for _ in range(_ABORT_ATTEMPTS):
        state = await scripts.status(task_id)
        if state.fn_name is None:
            return AbortResult.NOT_LIVE  # finished or unknown: nothing is written
        at = now_ms()
        outcome = encode_failure(
            KIND_ABORTED,
            "TaskAborted",
            message,
            "",
            state.tries,
            state.enqueue_ms,
            at,
            at,
            "",
            state.fn_name,
        )
        result = await scripts.abort(
            task_id,
            scheduled_only=scheduled_only,
            outcome=seal_outcome(signer, task_id, outcome),
            fn_name=state.fn_name,
            enqueue_ms=state.enqueue_ms,
        )
        if result is not AbortResult.CHANGED:
            return result
    return AbortResult.NOT_LIVE


async def abort_task(
    scripts: Scripts,
    signer: Signer | None,
    wait: Callable[[str, float | None], Wait],
    task_id: str,
    timeout: float | None,
) -> bool:
    """Abort a task that has not finished; see :meth:`TaskResult.abort`."""
    result = await _abort(scripts, signer, task_id, scheduled_only=False)
    if result is not AbortResult.REQUESTED or timeout == 0:
        return result is AbortResult.ABORTED
    # a worker holds it: it cancels the task and delivers the aborted outcome
    try:
        async with wait(task_id, timeout) as waiting:
            outcome = await waiting.outcome(routed=False)
    except (ResultTimeout, TaskNotFound):
        return False
    return isinstance(outcome.error, TaskAborted)


async def reschedule_task(
    scripts: Scripts, signer: Signer | None, task_id: str, due_ms: int
) -> bool:
    """Move a scheduled task to ``due_ms``, or unschedule it when ``due_ms`` is 0."""
    if due_ms <= 0:
        result = await _abort(scripts, signer, task_id, scheduled_only=True)
        return result is AbortResult.ABORTED
    return await scripts.reschedule(task_id, due_ms)


class BackgroundAborts:
    """Aborts sent for callers that were cancelled while they waited (RPC semantics).

    A cancelled caller cannot wait for Redis itself, so its abort runs in the
    background, after every send queued so far went out (a send of the task still
    in flight lands first); a closing client gives them a few seconds to finish.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        sends: GroupCommit[Any],
        abort: Callable[[str, float | None], Awaitable[bool]],
    ) -> None:
        self._supervisor = supervisor
        self._sends = sends
        self._abort = abort
        self._running: set[asyncio.Task[None]] = set()

    def add(self, task_id: str) -> None:
        """Abort ``task_id`` soon."""
        task = self._supervisor.spawn(self._run(task_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, task_id: str) -> None:
        try:
            await self._sends.drain()
            await self._abort(task_id, 0.0)
        except Exception as exc:
            logger.warning(
                "task %s: the abort after its caller was cancelled failed: %s", task_id, exc
            )

    async def drain(self) -> None:
        """Give the aborts still running up to a few seconds."""
        if self._running:
            await asyncio.wait(self._running, timeout=_ABORT_GRACE_S)
