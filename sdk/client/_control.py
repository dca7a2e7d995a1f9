"""Reading and steering a sent task: status, abort, reschedule, unschedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .._models import TaskInfo, TaskStatus
from .._outcome import KIND_ABORTED, encode_failure
from .._scripts import AbortResult, Scripts
from .._signing import Signer, seal_outcome
from .._time import from_ms, now_ms
from ..errors import ResultTimeout, TaskAborted, TaskNotFound
from ._waiting import Wait

__all__ = ["abort_task", "reschedule_task", "task_status"]

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


async def task_status(scripts: Scripts, task_id: str) -> tuple[TaskStatus, TaskInfo | None]:
    """Where a task is, and what Redis knows of it while it is live (one script)."""
    state = await scripts.status(task_id)
    status = _STATES[state.state]
    if state.fn_name is None:
        return status, None
    info = TaskInfo(
        task_id=task_id,
        fn_name=state.fn_name,
        status=status,
        enqueue_time=from_ms(state.enqueue_ms),
        tries=state.tries,
        scheduled_time=from_ms(state.due_ms) if state.due_ms >= 0 else None,
        worker_id=state.holder,
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
    if result is not AbortResult.REQUESTED:
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
