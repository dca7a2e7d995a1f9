"""What a run left behind, read after quiescence: the stalls of the workers' event
loops (unplanned faults), every execution as the tasks wrote it down, the stored
outcomes, and which faults touched which task."""

from __future__ import annotations

from typing import Final

from sdk._outcome import decode_outcome
from tests.chaos.checker.records import FaultRecord, RunRecord, Stored, describe_exc
from tests.chaos.checker.settings import STALL_TOUCH_S
from tests.chaos.checker.state import RunState

_WORKER_FAULTS: Final = frozenset({"kill", "stop", "term", "stall"})
_TOUCHING: Final = _WORKER_FAULTS | {"redis"}


class Evidence(RunState):
    """Reads the evidence the checks judge."""

    async def _read_stalls(self) -> None:
        """Stalls of the workers' event loops become unplanned faults (kind ``stall``)."""
        for line in await self._a("LRANGE", f"{self.ns}:stalls", 0, -1):
            worker, start, end = line.decode().split()
            took = float(end) - float(start)
            if took < STALL_TOUCH_S or self._stopped_then(worker, float(start), float(end)):
                continue  # too short to lose a lease, or the SIGSTOP the checker sent
            self.report.longest_stall_s = max(self.report.longest_stall_s, took)
            self.report.stalls += 1
            index = len(self.faults)
            self.faults.append(FaultRecord(index, "stall", float(start), float(end), worker))

    def _stopped_then(self, worker: str, start: float, end: float) -> bool:
        return any(
            f.kind == "stop" and f.worker == worker and f.started - 0.2 <= start <= f.ended + 0.2
            for f in self.faults
        )

    async def _read_runs(self) -> dict[str, list[RunRecord]]:
        prefix = f"{self.ns}:runs:"
        runs: dict[str, list[RunRecord]] = {}
        for key in await self._scan(prefix + "*"):
            lines = await self._a("LRANGE", key, 0, -1)
            runs[key.decode()[len(prefix) :]] = _parse_runs([line.decode() for line in lines])
        return runs

    async def _read_result(self, task_id: str) -> Stored | None:
        key = self.keys.result(task_id)
        raw = await self._a("GET", key)
        if raw is None:
            return None
        pttl = int(await self._a("PTTL", key))
        try:
            return Stored(pttl, decode_outcome(self.clients[0].deserializer, task_id, raw))
        except Exception as exc:
            return Stored(pttl, None, f"undecodable stored outcome: {describe_exc(exc)}")

    def _compute_touches(self, runs: dict[str, list[RunRecord]]) -> None:
        """A fault touches what it found live (held by its worker), and every run of
        its worker (any run, for a Redis restart) that was going on meanwhile."""
        for rec in self.faults:
            if rec.kind not in _TOUCHING or rec.skipped:
                continue
            for task_id in rec.touched:
                self.touches[task_id].add(rec.index)
            for task_id, task_runs in runs.items():
                for run in task_runs:
                    if rec.kind != "redis" and run.worker != rec.worker:
                        continue
                    if run.start <= rec.ended and (run.end is None or run.end >= rec.started):
                        self.touches[task_id].add(rec.index)


def _parse_runs(lines: list[str]) -> list[RunRecord]:
    runs: list[RunRecord] = []
    for line in lines:
        parts = line.split()
        event, t, worker, tries, enq, token = parts[:6]
        if event == "start":
            runs.append(RunRecord(worker, int(tries), int(enq), int(token), float(t)))
            continue
        for run in runs:
            if (run.worker, run.tries, run.enq) == (worker, int(tries), int(enq)) and (
                run.end is None
            ):
                run.end, run.how = float(t), parts[6] if len(parts) > 6 else "?"
                break
    return runs
