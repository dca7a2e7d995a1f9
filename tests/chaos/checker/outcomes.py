"""Invariant 1: every accepted task has exactly one terminal outcome: one is stored,
and it came from a real execution (or an abort someone asked for)."""

from __future__ import annotations

from typing import Any

from sdk import TaskOutcome
from sdk.errors import TaskAborted
from tests.chaos.checker.records import RunRecord, Stored, is_shared, short_id
from tests.chaos.checker.state import RunState


class OutcomeChecks(RunState):
    """Checks the stored outcomes and where they came from."""

    def _check_outcomes(self, stored: dict[str, Stored | None], runs: dict[str, Any]) -> None:
        inv = "1-one-outcome"
        for task_id, calls in sorted(self.accepted.items()):
            entry = stored.get(task_id)
            if entry is None:
                fns = sorted({c.fn for c in calls})
                self.violation(
                    inv,
                    f"task {short_id(task_id)} ({fns}) was accepted but no outcome is stored; "
                    f"runs={len(runs.get(task_id, []))} touched={len(self.touches[task_id])}",
                )
        for task_id, entry in sorted(stored.items()):
            if entry is None:
                continue
            problem = entry.problem or self._provenance(task_id, entry.outcome, runs)
            if problem:
                self.violation(inv, f"task {short_id(task_id)}: stored outcome: {problem}")

    def _provenance(
        self, task_id: str, out: TaskOutcome[Any] | None, runs: dict[str, list[RunRecord]]
    ) -> str:
        """Why ``out`` cannot be a real outcome of ``task_id`` ('' when it can)."""
        if out is None:
            return ""
        if out.success:
            ok = any(
                r.worker == out.worker_id and r.tries == out.tries and r.how == "ok"
                for r in runs.get(task_id, [])
            )
            if not ok:
                return f"success by {out.worker_id} try {out.tries} with no completed run"
            calls = self.accepted.get(task_id, [])
            if not is_shared(task_id) and calls and out.value != calls[0].token:
                return f"value {out.value!r} but the call's token is {calls[0].token}"
            return ""
        error = out.error
        assert error is not None
        if isinstance(error, TaskAborted):
            return "" if task_id in self.abort_requests else "aborted, but nobody asked"
        if error.exc_type == "ValueError" and out.fn_name == "boom":
            return ""
        if error.exc_type in ("MaxTriesExceeded", "Retry") and self.touches[task_id]:
            return ""
        return f"unexpected failure {error.exc_type}: {error.message[:200]}"


def what_outcome_is(out: TaskOutcome[Any]) -> str:
    if out.success:
        return f"value {out.value!r}"
    assert out.error is not None
    return "TaskAborted" if isinstance(out.error, TaskAborted) else out.error.exc_type
