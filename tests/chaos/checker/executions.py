"""Invariants 3 and 4: no task ran twice at once unless a fault touched it, and the
executions of a task are at most 1 + the retries it asked for + the faults that
touched it."""

from __future__ import annotations

from collections import defaultdict

from tests.chaos.checker.records import RunRecord, short_id
from tests.chaos.checker.state import RunState


class ExecutionChecks(RunState):
    """Checks every execution of every task, incarnation by incarnation."""

    def _check_runs(self, runs: dict[str, list[RunRecord]]) -> None:
        for task_id, task_runs in sorted(runs.items()):
            by_incarnation: dict[int, list[RunRecord]] = defaultdict(list)
            for run in task_runs:
                by_incarnation[run.enq].append(run)
            for incarnation in by_incarnation.values():
                self._check_incarnation(task_id, sorted(incarnation, key=lambda r: r.start))

    def _check_incarnation(self, task_id: str, runs: list[RunRecord]) -> None:
        touched = len(self.touches[task_id])
        retries = sum(r.how == "retry" for r in runs)
        extra = len(runs) - 1 - retries
        if extra > 0:
            self.report.duplicates += extra
        if extra > touched:
            self.violation(
                "4-executions",
                f"task {short_id(task_id)} ran {len(runs)} times ({retries} retries, touched by "
                f"{touched} faults): {_runs_text(runs, self.t0)}",
            )
        for i, a in enumerate(runs):
            if a.end is None and not touched:
                self.violation(
                    "3-no-overlap",
                    f"task {short_id(task_id)}: a run never ended and no fault explains it: "
                    f"{_runs_text(runs, self.t0)}",
                )
            for b in runs[i + 1 :]:
                if b.start < self._end_of(a):
                    self.report.overlaps += 1
                    if not touched:
                        self.violation(
                            "3-no-overlap",
                            f"task {short_id(task_id)} ran twice at once, untouched: "
                            f"{_runs_text(runs, self.t0)}",
                        )

    def _end_of(self, run: RunRecord) -> float:
        """When ``run`` ended: as recorded, or when its worker process was killed."""
        if run.end is not None:
            return run.end
        ends = [
            f.started if f.kind == "kill" else f.ended
            for f in self.faults
            if f.kind in ("kill", "term") and f.worker == run.worker and f.ended >= run.start
        ]
        return min(ends, default=float("inf"))


def _runs_text(runs: list[RunRecord], t0: float) -> str:
    def one(r: RunRecord) -> str:
        end = f"+{r.end - t0:.2f}" if r.end is not None else "never"
        return f"[{r.worker} try {r.tries} +{r.start - t0:.2f}..{end} {r.how}]"

    return " ".join(one(r) for r in runs)
