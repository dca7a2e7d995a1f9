"""What a run records (operations, waits, faults, executions, stored outcomes),
its :class:`Report`, and how the checks name a task or an exception."""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sdk import TaskOutcome
from sdk.client import TaskResult
from tests.chaos.checker.plan import OpPlan
from tests.chaos.checker.settings import KEY_SPACE

#: The invariants, in the order the report lists them.
INVARIANTS: Final = (
    "1-one-outcome",
    "2-waits",
    "3-no-overlap",
    "4-executions",
    "5-worker-exits",
    "6-keys",
)


@dataclass
class OpRecord:
    plan: OpPlan
    started: float
    ended: float = 0.0
    handles: list[TaskResult[Any]] = field(default_factory=list)
    error: BaseException | None = None
    result: object = None
    skipped: bool = False
    hung: bool = False


@dataclass
class WaitRecord:
    op: int
    kind: str
    mode: str
    task_id: str
    timeout: float | None
    started: float
    ended: float = 0.0
    outcome: TaskOutcome[Any] | None = None
    value: object = None
    has_value: bool = False
    error: BaseException | None = None
    hung: bool = False


@dataclass
class FaultRecord:
    index: int
    kind: str
    started: float
    ended: float = 0.0
    worker: str = ""
    touched: set[str] = field(default_factory=set)
    skipped: bool = False
    note: str = ""


@dataclass
class RunRecord:
    """One execution, as the task wrote it down."""

    worker: str
    tries: int
    enq: int
    token: int
    start: float
    end: float | None = None
    how: str | None = None


@dataclass
class Stored:
    """A result key after quiescence."""

    pttl: int
    outcome: TaskOutcome[Any] | None
    problem: str = ""


@dataclass
class Report:
    seed: int
    window_s: float
    ops: Counter[str]
    faults: Counter[str]
    tasks: int = 0
    executions: int = 0
    duplicates: int = 0
    overlaps: int = 0
    elapsed_s: float = 0.0
    violations: dict[str, list[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    waits: Counter[str] = field(default_factory=Counter)
    stalls: int = 0
    longest_stall_s: float = 0.0
    timeline: str = ""
    logs: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        ops = dict(sorted(self.ops.items()))
        faults = dict(sorted(self.faults.items()))
        broken = {k: v for k, v in sorted(self.counts.items()) if v}
        return (
            f"checker: seed={self.seed} window={self.window_s:g}s ops={ops} faults={faults} "
            f"waits={dict(sorted(self.waits.items()))} "
            f"tasks={self.tasks} executions={self.executions} "
            f"duplicates={self.duplicates} (touched) overlaps={self.overlaps} (touched) "
            f"stalls={self.stalls} (longest {self.longest_stall_s:.2f} s) "
            f"violations={self.total}{' ' + str(broken) if broken else ''} "
            f"{self.elapsed_s:.1f} s"
        )

    def failure(self) -> str:
        lines = [
            f"seed {self.seed}: {self.total} violations "
            f"(replay: python -m pytest tests/chaos/test_checker.py --seed {self.seed})",
            self.line(),
        ]
        for name in INVARIANTS:
            if self.counts[name]:
                lines.append(f"  {name}: {self.counts[name]}")
                lines += [f"    - {example}" for example in self.violations.get(name, [])]
        if self.timeline:
            lines.append(f"  faults: {self.timeline}")
        if self.logs:
            lines.append(f"  worker logs: {self.logs}")
        return "\n".join(lines)


def short_id(task_id: str) -> str:
    return task_id if len(task_id) <= 10 else task_id[:8]


def describe_exc(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def is_shared(task_id: str) -> bool:
    """An id more than one send may share (an idempotency key, a unique task)."""
    return task_id in KEY_SPACE or task_id.startswith("u:")
