"""The faults of a run: each plays one :class:`FaultPlan` (a SIGKILL, SIGSTOP or
SIGTERM of a worker, a Redis restart, a script flush, killed pub/sub connections,
garbage on the streams or on a client's inbox) and records what it touched."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.chaos.checker.app import CheckerWorker
from tests.chaos.checker.plan import FaultPlan
from tests.chaos.checker.records import FaultRecord, short_id
from tests.chaos.checker.settings import PRIORITIES
from tests.chaos.checker.workers import WorkerSlots


class Faults(WorkerSlots):
    """Plays the plan's faults and records when they happened and what they touched."""

    async def _play_faults(self) -> None:
        handlers: dict[str, Callable[[FaultPlan, FaultRecord], Awaitable[None]]] = {
            "kill": self._fault_kill,
            "stop": self._fault_stop,
            "term": self._fault_term,
            "redis": self._fault_redis,
            "flush": self._fault_flush,
            "pubsub": self._fault_pubsub,
            "xadd": self._fault_xadd,
            "publish": self._fault_publish,
        }
        for f in self.plan.faults:
            await self._sleep_until(f.at)
            rec = FaultRecord(f.index, f.kind, time.time())
            self.faults.append(rec)
            try:
                await handlers[f.kind](f, rec)
            except Exception as exc:  # the injection failed, not the system under test
                rec.note = f"injection failed: {exc!r}"
            if not rec.ended:
                rec.ended = time.time()
            self.report.faults[f.kind if not rec.skipped else "skipped"] += 1

    def _pick_slot(self, i: int) -> CheckerWorker | None:
        n = len(self.slots)
        for k in range(n):
            slot = self.slots[(i + k) % n]
            if slot.alive and not slot.busy:
                return slot
        return None

    async def _fault_kill(self, f: FaultPlan, rec: FaultRecord) -> None:
        slot = self._pick_slot(f.worker)
        if slot is None:
            rec.skipped = True
            return
        slot.busy, slot.expected_exit, rec.worker = True, True, slot.worker_id
        before = await self._held_by(slot.worker_id)
        rec.started = time.time()
        slot.kill()
        rec.ended = time.time()
        rec.touched = before | await self._held_by(slot.worker_id)
        self._background(self._restart_later(slot, f.duration))

    async def _restart_later(self, slot: CheckerWorker, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._start_slot(slot)

    async def _fault_stop(self, f: FaultPlan, rec: FaultRecord) -> None:
        slot = self._pick_slot(f.worker)
        if slot is None:
            rec.skipped = True
            return
        slot.busy, rec.worker = True, slot.worker_id
        before = await self._held_by(slot.worker_id)
        rec.started = time.time()
        slot.send(signal.SIGSTOP)
        slot.stopped = True
        rec.touched = before | await self._held_by(slot.worker_id)
        rec.ended = rec.started + f.duration  # until the SIGCONT, which sets it exactly
        self._background(self._resume_later(slot, rec, f.duration))

    async def _resume_later(self, slot: CheckerWorker, rec: FaultRecord, delay: float) -> None:
        await asyncio.sleep(max(0.0, rec.started + delay - time.time()))
        if slot.alive:
            slot.send(signal.SIGCONT)
        slot.stopped = False
        rec.ended = time.time()
        slot.busy = False

    async def _fault_term(self, f: FaultPlan, rec: FaultRecord) -> None:
        slot = self._pick_slot(f.worker)
        if slot is None:
            rec.skipped = True
            return
        slot.busy, slot.expected_exit, rec.worker = True, True, slot.worker_id
        before = await self._held_by(slot.worker_id)
        rec.started = time.time()
        slot.send(signal.SIGTERM)
        rec.touched = before | await self._held_by(slot.worker_id)
        rec.ended = rec.started + self.plan.grace_s + 1.0  # until it exits, set exactly then
        self._background(self._after_term(slot, rec))

    async def _after_term(self, slot: CheckerWorker, rec: FaultRecord) -> None:
        await self._expect_clean_exit(slot)
        rec.ended = time.time()
        await self._start_slot(slot)

    async def _fault_redis(self, f: FaultPlan, rec: FaultRecord) -> None:
        async with self.lock:  # no worker is half-way through its start
            rec.touched = await self._live_ids()
            rec.started = time.time()
            await asyncio.to_thread(self.server.stop)  # SIGKILL: AOF has every write
            await asyncio.sleep(f.duration)
            await asyncio.to_thread(self.server.start, appendonly=True)
            rec.ended = time.time()

    async def _fault_flush(self, f: FaultPlan, rec: FaultRecord) -> None:
        await self._a("SCRIPT", "FLUSH")

    async def _fault_pubsub(self, f: FaultPlan, rec: FaultRecord) -> None:
        rec.note = f"killed {await self._a('CLIENT', 'KILL', 'TYPE', 'pubsub')} connections"

    async def _fault_xadd(self, f: FaultPlan, rec: FaultRecord) -> None:
        live = sorted(await self._live_ids())
        for form, data in f.garbage:
            stream = self.keys.stream_for(PRIORITIES[data[0] % 2])
            victim = live[(f.pick + data[1]) % len(live)] if live else data.hex()
            choices: dict[str, list[Any]] = {
                "nofield": ["junk", data],
                "ghost": ["i", data.hex()],
                "stale": ["i", victim],  # an entry that is not the task's generation
                "binary": [data, data],
                "notfirst": ["x", "1", "i", victim],
                "wake": ["w", data],
            }
            fields = choices[form]
            if form == "wake":
                stream = self.keys.wake
            await self._a("XADD", stream, "*", *fields)

    async def _fault_publish(self, f: FaultPlan, rec: FaultRecord) -> None:
        n = f.pick % len(self.clients)
        client = self.clients[n]
        waited = sorted(self.waiting[n])
        victim = waited[f.pick % len(waited)] if waited else f"{f.pick:032x}"
        rec.note = f"client {n} task {short_id(victim)}"
        channel = client.keys.inbox(client.client_id)
        for form, data in f.garbage:
            await self._a("PUBLISH", channel, _inbox_message(form, data, victim))


def _inbox_message(form: str, data: bytes, task_id: str) -> bytes:
    tid = task_id.encode()
    if form == "random":
        return data
    if form == "nocolon":
        return b"x" * 13 + data
    if form == "badlen":
        return b"%d:" % (len(tid) + 1000) + tid + data
    if form == "negative":
        return b"-3:" + tid + data
    return b"%d:" % len(tid) + tid + data  # junk, shape: a real waiter's id, a bad outcome
