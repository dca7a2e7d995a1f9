"""The worker processes of a run: (re)starting them, watching for exits nobody
prompted and stopping them with SIGTERM at the end (invariant 5: no worker process
died unless it was killed, and SIGTERM always exits 0)."""

from __future__ import annotations

import asyncio
import signal
import subprocess

from tests.chaos.checker.app import CheckerWorker
from tests.chaos.checker.settings import READY_S, STARTUP_MARGIN_S
from tests.chaos.checker.state import RunState


class WorkerSlots(RunState):
    """Starts, watches and stops the run's worker slots."""

    def _kill_all(self) -> None:
        for slot in self.slots:
            if slot.stopped and slot.alive:
                slot.send(signal.SIGCONT)
            try:
                slot.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass

    async def _start_slot(self, slot: CheckerWorker) -> None:
        """(Re)start a worker; no Redis restart begins until it consumes (a worker
        that cannot reach Redis at start exits with 1, as documented)."""
        slot.busy = True
        async with self.lock:
            await self._start_unlocked(slot)

    async def _start_unlocked(self, slot: CheckerWorker) -> None:
        slot.busy = True
        slot.start()
        try:
            await slot.ready(timeout=READY_S)
            await asyncio.sleep(STARTUP_MARGIN_S)
        except AssertionError as exc:
            slot.reported = True
            self.violation("5-worker-exits", f"{slot.worker_id} did not start: {exc}"[:600])
        slot.busy = False

    async def _monitor(self) -> None:
        """A worker that exits without being killed breaks invariant 5 (and is restarted)."""
        while True:
            await asyncio.sleep(0.2)
            for slot in self.slots:
                if slot.proc is None or slot.alive or slot.expected_exit or slot.reported:
                    continue
                slot.reported = True
                self.violation(
                    "5-worker-exits",
                    f"{slot.worker_id} exited with {slot.returncode()} unprompted: {slot.tail()}",
                )
                slot.expected_exit = True
                self._background(self._start_slot(slot))

    async def _stop_workers(self) -> None:
        for slot in self.slots:
            if slot.alive:
                slot.expected_exit = True
                slot.send(signal.SIGTERM)
        for slot in self.slots:
            if slot.proc is None or slot.reported:
                continue
            await self._expect_clean_exit(slot)

    async def _expect_clean_exit(self, slot: CheckerWorker) -> None:
        try:
            code = await slot.wait_exit(self.plan.grace_s + 20)
        except AssertionError:
            self.violation("5-worker-exits", f"{slot.worker_id} ignored SIGTERM: {slot.tail()}")
            slot.kill()
            return
        if code != 0:
            self.violation(
                "5-worker-exits", f"{slot.worker_id} exited {code} after SIGTERM: {slot.tail()}"
            )
