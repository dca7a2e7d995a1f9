"""Reading and steering a sent task: status, abort, reschedule, unschedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .._models import TaskInfo, TaskStatus
from .._redis import ABORT, RESCHEDULE, STATUS, translate_errors
from .._wire import KIND_ABORTED, decode_header, encode_failure, from_ms, now_ms
from ..errors import ResultTimeout, TaskAborted

if TYPE_CHECKING:
    from ._client import Client
    from ._result import TaskResult

__all__ = ["abort_task", "reschedule_task", "task_status"]

# how long the outcome of a task aborted before it ran is kept (the task's own
# ttl is the worker's configuration, which a client does not know)
_ABORT_TTL_MS: Final = 5 * 60 * 1000

_STATES: Final = {
    b"done": TaskStatus.DONE,
    b"scheduled": TaskStatus.SCHEDULED,
    b"running": TaskStatus.RUNNING,
    b"queued": TaskStatus.QUEUED,
    b"missing": TaskStatus.NOT_FOUND,
}


def _aborted_outcome(fn_name: str, enqueue_ms: int, message: str) -> bytes:
    at = now_ms()
    return encode_failure(
        KIND_ABORTED, "TaskAborted", message, "", 0, enqueue_ms, at, at, "", fn_name
    )


async def task_status(client: Client, task_id: str) -> tuple[TaskStatus, TaskInfo | None]:
    """Where a task is, and what Redis knows of it while it is live (one script)."""
    k = client.keys
    with translate_errors():
        state, payload, tries, due, holder = await STATUS(
            client.redis, (k.tasks, k.tries, k.running, k.delayed, k.result(task_id)), (task_id,)
        )
    status = _STATES[state]
    if not payload:
        return status, None
    fn_name, enqueue_ms = decode_header(payload)
    info = TaskInfo(
        task_id=task_id,
        fn_name=fn_name,
        status=status,
        enqueue_time=from_ms(enqueue_ms),
        tries=int(tries),
        scheduled_time=from_ms(int(due)) if int(due) >= 0 else None,
        worker_id=holder.decode() if holder else None,
    )
    return status, info


async def _abort(client: Client, task_id: str, mode: str) -> int:
    """Run abort.lua; 0 = not live (or not scheduled), 1 = aborted, 2 = running."""
    k = client.keys
    with translate_errors():
        payload = await client.redis.hget(k.tasks, task_id)
    if payload is None:
        return 0  # finished or unknown: nothing to do, and nothing is written
    fn_name, enqueue_ms = decode_header(payload if isinstance(payload, bytes) else b"")
    message = "unscheduled on request" if mode == "scheduled" else "aborted on request"
    outcome = _aborted_outcome(fn_name, enqueue_ms, message)
    with translate_errors():
        state: int = await ABORT(
            client.redis,
            (k.tasks, k.tries, k.running, k.delayed, k.aborting, k.result(task_id), k.prio),
            (task_id, outcome, _ABORT_TTL_MS, k.channel(task_id), k.control, mode),
        )
    return state


async def abort_task(client: Client, handle: TaskResult[Any], timeout: float | None) -> bool:
    """Abort a task that has not finished; see :meth:`TaskResult.abort`."""
    state = await _abort(client, handle.id, "any")
    if state != 2:
        return bool(state)
    # running: its worker cancels it and stores the aborted outcome
    try:
        result = await handle.outcome(timeout)
    except ResultTimeout:
        return False
    return isinstance(result.error, TaskAborted)


async def reschedule_task(client: Client, handle: TaskResult[Any], due_ms: int) -> bool:
    """Move a scheduled task to ``due_ms``, or unschedule it when ``due_ms`` is 0."""
    if due_ms <= 0:
        return await _abort(client, handle.id, "scheduled") == 1
    k = client.keys
    with translate_errors():
        moved = await RESCHEDULE(client.redis, (k.delayed, k.wake), (handle.id, due_ms))
    return bool(moved)
