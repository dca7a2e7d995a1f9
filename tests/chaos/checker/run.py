"""One seed's run: :class:`Checker` plays a plan (its operations and faults at once),
lets the system quiesce, checks the invariants and stops the workers;
:func:`run_seed` runs one seed on a private AOF Redis."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path

from redis import exceptions as rexc

from sdk.client import Client
from tests.chaos.checker.app import checker_stubs
from tests.chaos.checker.executions import ExecutionChecks
from tests.chaos.checker.faults import Faults
from tests.chaos.checker.keys import KeyChecks
from tests.chaos.checker.operations import Operations
from tests.chaos.checker.plan import make_plan
from tests.chaos.checker.records import Report, short_id
from tests.chaos.checker.settings import (
    HANG_GRACE_S,
    PRIORITIES,
    QUIESCE_S,
    WAIT_SLACK_S,
    WINDOW_S,
)
from tests.chaos.checker.waits import WaitChecks
from tests.conftest import private_redis_server


class Checker(Operations, Faults, WaitChecks, ExecutionChecks, KeyChecks):
    """Plays one :class:`Plan` and checks the invariants (see the package docstring).

    The parts: :class:`Operations` and :class:`Faults` play the plan (on the worker
    slots of ``WorkerSlots``), ``Evidence`` reads what the run left behind and the
    ``*Checks`` judge it; all share the state of ``RunState``."""

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> Report:
        started = time.monotonic()
        async with AsyncExitStack() as stack:
            stack.callback(self._kill_all)
            stack.push_async_callback(self.admin.aclose)
            await asyncio.gather(*(self._start_unlocked(slot) for slot in self.slots))
            for n in range(self.plan.clients):
                # clients 0 and 2 share this process' pub/sub connection, client 1 has its own
                url = self.server.url + ("/0" if n == 1 else "")
                client = Client(url, self.queue, priorities=PRIORITIES)
                await stack.enter_async_context(client)
                self.clients.append(client)
                self.stubs.append(checker_stubs(client))
            stack.push_async_callback(self._cancel_leftovers)  # runs before the clients close
            self.t0 = time.time()
            monitor = asyncio.ensure_future(self._monitor())
            try:
                await asyncio.gather(self._play_ops(), self._play_faults())
                await self._quiesce()
            finally:
                monitor.cancel()
                await asyncio.gather(monitor, return_exceptions=True)
            await self._check()
            await self._stop_workers()
        self.report.elapsed_s = time.monotonic() - started
        self.report.logs = str(self.app_dir)
        self.report.timeline = " ".join(
            f"{f.kind}@+{f.started - self.t0:.2f}..{f.ended - self.t0:.2f}"
            + (f"[{f.worker}]" if f.worker else "")
            + (f"({f.note})" if f.note else "")
            for f in self.faults
            if not f.skipped
        )
        return self.report

    async def _cancel_leftovers(self) -> None:
        """Only when the run itself failed: operations and fault steps still going."""
        left = [t for t in (*self.op_tasks, *self.background) if not t.done()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    # -- quiescence ------------------------------------------------------------------------

    async def _quiesce(self) -> None:
        """No more faults: resume and restart everything, then wait until no task is
        live, nothing is scheduled or leased, and every operation ended."""
        while self.background:
            await asyncio.gather(*list(self.background), return_exceptions=True)
        for slot in self.slots:
            if slot.stopped and slot.alive:
                slot.send(signal.SIGCONT)
                slot.stopped = False
        if not self.server.running:
            await asyncio.to_thread(self.server.start, appendonly=True)
        for slot in self.slots:
            if not slot.alive:
                slot.expected_exit = True
                await self._start_slot(slot)
        deadline = time.monotonic() + QUIESCE_S
        left = await self._leftovers()
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            left = await self._leftovers()
        for what in left:
            self.violation("1-one-outcome", f"after {QUIESCE_S:g} s of quiet: {what}")
        pending = [t for t in self.op_tasks if not t.done()]
        if pending:
            # waits without timeout end soon after their tasks, the others by their timeout
            bounds = [
                rec.started + (rec.plan.timeout or 0.0) + WAIT_SLACK_S - time.time()
                for rec in self.ops.values()
                if not rec.ended
            ]
            grace = max([HANG_GRACE_S, *bounds])
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _leftovers(self) -> list[str]:
        left = []
        for task_id in sorted(await self._live_ids()):
            fields = await self._a("HGETALL", self.keys.task(task_id))
            info = {k.decode(): v[:40] for k, v in fields.items()}
            info.pop("p", None)
            left.append(f"task {short_id(task_id)} still live: {info}")
        scheduled = int(await self._a("ZCARD", self.keys.delayed))
        if scheduled:
            left.append(f"{scheduled} tasks still in the delayed set")
        for priority in PRIORITIES:
            try:
                pending = await self._a("XPENDING", self.keys.stream_for(priority), "workers")
            except rexc.ResponseError:
                continue
            if pending and int(pending["pending"]):
                left.append(f"{int(pending['pending'])} deliveries still leased on {priority}")
        return left

    # -- checks ----------------------------------------------------------------------------

    async def _check(self) -> None:
        await self._read_stalls()
        runs = await self._read_runs()
        ids = set(self.accepted) | set(runs) | {w.task_id for w in self.waits}
        stored = {task_id: await self._read_result(task_id) for task_id in sorted(ids)}
        self._compute_touches(runs)
        report = self.report
        report.tasks = len(self.accepted)
        report.executions = sum(len(rs) for rs in runs.values())
        self._check_outcomes(stored, runs)
        self._check_waits(stored, runs)
        self._check_calls(stored)
        self._check_runs(runs)
        await self._check_keys(stored)


async def run_seed(
    seed: int,
    app_dir: Path,
    env: Mapping[str, str],
    *,
    say: Callable[[str], None],
    window_s: float = WINDOW_S,
) -> Report:
    """Run one seed on a private AOF Redis and return its report; ``say`` gets the seed
    first (the caller prints :meth:`Report.line` at the end).

    ``app_dir`` must hold ``checkerapp.py`` (:data:`APP_MODULE`); ``env`` is the
    environment of the worker processes (``PYTHONPATH`` with ``app_dir`` and the repo).
    """
    plan = make_plan(seed, window_s)
    say(
        f"\nchecker: seed={seed} workers={plan.workers} clients={plan.clients} "
        f"concurrency={plan.concurrency} grace={plan.grace_s:g}s "
        f"{'fixed' if plan.fixed_ids else 'fresh'} worker ids, {len(plan.ops)} ops, "
        f"{len(plan.faults)} faults (replay: pytest tests/chaos/test_checker.py --seed {seed})"
    )
    with private_redis_server("relayq-checker-", appendonly=True) as server:
        return await Checker(plan, server, app_dir, env).run()
