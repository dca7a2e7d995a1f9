"""Invariant 2: every wait ends within its bound with the right outcome or a clear
relayq error, never hangs, never raises a non-relayq exception; nor does any other
call (sends, aborts, reschedules, status reads)."""

from __future__ import annotations

from typing import Any, Final

from sdk import TaskOutcome
from sdk.errors import (
    RedisUnavailable,
    RelayqError,
    ResultTimeout,
    TaskAborted,
    TaskFailed,
    TaskNotFound,
)
from tests.chaos.checker.outcomes import OutcomeChecks, what_outcome_is
from tests.chaos.checker.records import (
    OpRecord,
    RunRecord,
    Stored,
    WaitRecord,
    describe_exc,
    is_shared,
    short_id,
)
from tests.chaos.checker.settings import (
    AFTER_DISTURBANCE_S,
    OUTAGE_SLACK_S,
    OUTCOME_MARGIN_S,
    WAIT_SLACK_S,
)

_DISTURBING: Final = frozenset({"redis", "pubsub"})


class WaitChecks(OutcomeChecks):
    """Judges how every wait and every other call ended."""

    def _check_waits(
        self, stored: dict[str, Stored | None], runs: dict[str, list[RunRecord]]
    ) -> None:
        for w in self.waits:
            self.report.waits[_ending(w)] += 1
            problem = self._judge_wait(w, stored, runs)
            if problem:
                timeout = "none" if w.timeout is None else f"{w.timeout:g}s"
                self.violation(
                    "2-waits",
                    f"op {w.op} ({w.kind}) {w.mode}(timeout={timeout}) on task "
                    f"{short_id(w.task_id)} at +{w.started - self.t0:.2f}s: {problem}",
                )

    def _judge_wait(
        self, w: WaitRecord, stored: dict[str, Stored | None], runs: dict[str, list[RunRecord]]
    ) -> str:
        if w.hung:
            entry = stored.get(w.task_id)
            done = ""
            if entry is not None and entry.outcome is not None:
                finished = entry.outcome.finish_time.timestamp() - self.t0
                done = f" (its outcome is stored, finished +{finished:.2f}s)"
            return f"hung: no end {w.ended - w.started:.1f} s later{done}"
        took = w.ended - w.started
        if w.timeout is not None and took > w.timeout + WAIT_SLACK_S:
            return f"took {took:.2f} s"
        error = w.error
        if error is None or isinstance(error, TaskFailed):
            return self._judge_outcome(w, stored.get(w.task_id), runs)
        return self._judge_error(error, w.timeout, w.started, w.ended, w.task_id, stored)

    def _judge_error(
        self,
        error: BaseException,
        timeout: float | None,
        started: float,
        ended: float,
        task_id: str,
        stored: dict[str, Stored | None],
    ) -> str:
        if not isinstance(error, RelayqError):
            return f"non-relayq exception {describe_exc(error)}"
        if isinstance(error, ResultTimeout):
            return self._judge_result_timeout(timeout, started, task_id, stored.get(task_id))
        if isinstance(error, TaskNotFound):
            if stored.get(task_id) is None and task_id not in self.accepted:
                return ""
            return "TaskNotFound, but the task was accepted and its outcome is stored"
        if isinstance(error, RedisUnavailable) and self._restart_between(started, ended):
            return ""
        return f"unexplained {describe_exc(error)}"

    def _restart_between(self, started: float, ended: float) -> bool:
        return any(
            f.kind == "redis"
            and not f.skipped
            and f.started - OUTAGE_SLACK_S <= ended
            and started <= f.ended + OUTAGE_SLACK_S
            for f in self.faults
        )

    def _judge_result_timeout(
        self, timeout: float | None, started: float, task_id: str, entry: Stored | None
    ) -> str:
        if timeout is None:
            return "ResultTimeout from a wait without a timeout"
        if entry is None or entry.outcome is None or is_shared(task_id):
            return ""  # nothing to hold it against
        ready = entry.outcome.finish_time.timestamp()
        deadline = started + timeout
        if ready + OUTCOME_MARGIN_S >= deadline:
            return ""  # the task took longer than the wait
        for f in self.faults:
            if f.skipped:
                continue
            near = f.started <= deadline and f.ended + AFTER_DISTURBANCE_S >= started
            if f.kind in _DISTURBING and near:
                return ""  # pub/sub was down around the wait
            if f.index in self.touches[task_id] and f.ended + OUTCOME_MARGIN_S >= ready:
                return ""  # the outcome was computed, then its worker was stalled or killed
        return (
            f"ResultTimeout after {timeout:g} s, but the outcome (finished "
            f"+{ready - self.t0:.2f}s) was there {deadline - ready:.2f} s before the deadline"
        )

    def _judge_outcome(
        self, w: WaitRecord, entry: Stored | None, runs: dict[str, list[RunRecord]]
    ) -> str:
        got = _what_wait_got(w)
        if entry is None or entry.outcome is None:
            return f"got {got}, but no outcome is stored"
        out = entry.outcome
        if not is_shared(w.task_id):
            want = what_outcome_is(out)
            if w.outcome is not None:
                same = _outcome_key(w.outcome) == _outcome_key(out)
            else:
                same = got == want
            return "" if same else f"got {got}, but the stored outcome is {want}"
        return self._plausible(w.task_id, w.outcome, got, runs)

    def _plausible(
        self,
        task_id: str,
        out: TaskOutcome[Any] | None,
        got: str,
        runs: dict[str, list[RunRecord]],
    ) -> str:
        """For a shared id: could ``got`` be the outcome of one of its incarnations?"""
        if out is not None:
            problem = self._provenance(task_id, out, runs)
            if problem:
                return f"got {got}: {problem}"
        tokens = {f"value {c.token!r}" for c in self.accepted.get(task_id, [])}
        fns = {c.fn for c in self.accepted.get(task_id, [])}
        allowed = set(tokens)
        if task_id in self.abort_requests:
            allowed.add("TaskAborted")
        if "boom" in fns:
            allowed.add("ValueError")
        if self.touches[task_id]:
            allowed |= {"MaxTriesExceeded", "Retry"}
        return "" if got in allowed else f"got {got}, which no send of this id can produce"

    def _check_calls(self, stored: dict[str, Stored | None]) -> None:
        """Sends, aborts, reschedules and status reads: no unexplained error, aborts
        within their bound, and an abort that says so really aborted the task."""
        for rec in self.ops.values():
            op = rec.plan
            task_id = rec.handles[0].id if rec.handles else "-"
            problem = ""
            if rec.hung:
                # a hung wait is reported as such; an op hanging elsewhere is reported here
                if not any(w.op == op.index and w.hung for w in self.waits):
                    problem = "hung"
            elif rec.error is not None:
                problem = self._judge_error(
                    rec.error, op.timeout, rec.started, rec.ended, task_id, stored
                )
            elif op.kind == "abort":
                problem = self._judge_abort(rec, task_id, stored.get(task_id))
            if problem:
                self.violation(
                    "2-waits",
                    f"op {op.index} ({op.kind}) on task {short_id(task_id)} at "
                    f"+{rec.started - self.t0:.2f}s: {problem}",
                )

    def _judge_abort(self, rec: OpRecord, task_id: str, entry: Stored | None) -> str:
        took = rec.ended - rec.started
        if rec.plan.timeout is not None and took > rec.plan.timeout + WAIT_SLACK_S:
            return f"abort took {took:.2f} s"
        if rec.result is True and not is_shared(task_id):
            out = entry.outcome if entry is not None else None
            if out is None or not isinstance(out.error, TaskAborted):
                shown = what_outcome_is(out) if out is not None else "nothing"
                return f"abort() returned True, but the stored outcome is {shown}"
        return ""


def _what_wait_got(w: WaitRecord) -> str:
    if w.outcome is not None:
        return what_outcome_is(w.outcome)
    if w.has_value:
        return f"value {w.value!r}"
    error = w.error
    if isinstance(error, TaskAborted):
        return "TaskAborted"
    if isinstance(error, TaskFailed):
        return error.exc_type
    return "nothing"


def _ending(w: WaitRecord) -> str:
    """How a wait ended, for the summary: ok, failed (an outcome that is a failure),
    hung, or the exception's name."""
    if w.hung:
        return "hung"
    if w.error is None:
        return "ok" if w.outcome is None or w.outcome.success else "failed"
    return "failed" if isinstance(w.error, TaskFailed) else type(w.error).__name__


def _outcome_key(out: TaskOutcome[Any]) -> tuple[Any, ...]:
    return (what_outcome_is(out), out.tries, out.worker_id, out.finish_time)
