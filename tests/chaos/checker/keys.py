"""Invariant 6: no relayq key outlives its TTL: after quiescence only results (with
at most their configured TTL), the streams, the wake stream, the dead-letter stream
and its byte counter, the crons hash and expiring worker health keys remain; and
only the checker's own malformed stream entries were dead-lettered."""

from __future__ import annotations

from redis import exceptions as rexc

from tests.chaos.checker.app import STUB_TTL_S, WORKER_TTL_MS
from tests.chaos.checker.evidence import Evidence
from tests.chaos.checker.records import Stored
from tests.chaos.checker.settings import PRIORITIES


class KeyChecks(Evidence):
    """Checks every relayq key left after quiescence."""

    async def _check_keys(self, stored: dict[str, Stored | None]) -> None:
        base = self.keys.base
        streams = {self.keys.stream_for(p)[len(base) :] for p in PRIORITIES} | {"wake", "dead"}
        expected_type = dict.fromkeys(streams, b"stream")
        expected_type |= {"dead:bytes": b"string", "crons": b"hash", "delayed": b"zset"}
        for raw in sorted(await self._scan(base + "*")):
            key = raw.decode()
            rest = key[len(base) :]
            kind = await self._a("TYPE", key)
            pttl = int(await self._a("PTTL", key))
            if pttl == -2:
                continue  # expired (or deleted) since the scan: nothing outlived anything
            problem = ""
            if rest.startswith("task:"):
                problem = "a task hash outlived its task"
            elif rest.startswith("result:"):
                task_id = rest[len("result:") :]
                entry = stored[task_id] if task_id in stored else await self._read_result(task_id)
                problem = _result_ttl_problem(entry, pttl)
            elif rest.startswith("worker:"):
                problem = "" if pttl > 0 else f"health record without a TTL ({pttl})"
            elif rest == "delayed":
                problem = "the delayed set is not empty after quiescence"
            elif rest in expected_type:
                problem = "" if kind == expected_type[rest] else f"has type {kind!r}"
            else:
                problem = f"unexpected key (type {kind!r}, pttl {pttl})"
            if problem:
                self.violation("6-keys", f"{key}: {problem}")
        await self._check_dead_letters()

    async def _check_dead_letters(self) -> None:
        """Only the checker's own malformed stream entries may be dead-lettered."""
        try:
            entries = await self._a("XRANGE", self.keys.dead, "-", "+")
        except rexc.ResponseError:
            return
        for _entry_id, info in entries:
            if info.get(b"id", b""):
                self.violation(
                    "1-one-outcome",
                    f"task {info[b'id'].decode(errors='replace')} was dead-lettered: "
                    f"{info.get(b'reason', b'?').decode(errors='replace')[:200]}",
                )


def _result_ttl_problem(entry: Stored | None, pttl: int) -> str:
    if entry is None or entry.outcome is None:
        return "" if entry is None else entry.problem
    fn = entry.outcome.fn_name
    worker_ttl = WORKER_TTL_MS.get(fn)
    if worker_ttl is None:
        return f"a result of an unknown task {fn!r}"
    longest = max(worker_ttl, int(STUB_TTL_S * 1000))
    if pttl == -1:
        return "" if worker_ttl == -1 else f"kept forever, but {fn} keeps results {worker_ttl} ms"
    if pttl > longest:
        return f"TTL {pttl} ms, over the {longest} ms configured for {fn}"
    return ""
