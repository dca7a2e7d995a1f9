"""SIGKILL chaos: worker processes die mid-task, over and over; nothing is lost.

Three ``chaosapp`` worker processes consume a steady stream of tasks while one
of them (round robin) is SIGKILLed and restarted every 1.5 s. Each task counts
its executions in Redis; the test process holds a waiter on every task. At the
end every waiter must have its task's value, every task must have run, Redis
must hold no leftover task state, and the duplicate executions (at-least-once)
are printed and must stay within what the kills can explain: a killed worker
holds at most ``queue_fetch_limit`` deliveries, each of which may have run.
"""

from __future__ import annotations

import asyncio
import math
import random
import signal
import time
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from sdk import TaskOutcome
from sdk.client import Client
from tests.chaos._support import ChaosStubs, Spawner, WorkerProcess
from tests.helpers import live_task_ids


@dataclass(frozen=True)
class Plan:
    tasks: int
    kill_for_s: float
    kill_every_s: float = 1.5
    workers: int = 3
    concurrency: int = 10
    fetch_limit: int = 20
    lease_s: float = 1.5
    # every delivery is a try, and a task can be held (prefetched) by several
    # killed workers in a row: give it room, the test reports the highest seen
    max_tries: int = 25
    sleep_s: tuple[float, float] = (0.02, 0.2)


@dataclass
class Report:
    kills: int = 0
    duplicates: int = 0
    lost: int = 0
    max_tries: int = 0
    elapsed_s: float = 0.0
    last_kill: float = 0.0
    drained_s: float = 0.0
    tries_histogram: dict[int, int] = field(default_factory=dict)


async def _killer(slots: list[WorkerProcess], plan: Plan, report: Report) -> None:
    deadline = time.monotonic() + plan.kill_for_s
    victim = 0
    while time.monotonic() + plan.kill_every_s <= deadline:
        await asyncio.sleep(plan.kill_every_s)
        slot = slots[victim % len(slots)]
        victim += 1
        slot.kill()
        report.kills += 1
        report.last_kill = time.monotonic()
        slot.start()


async def _producer(
    stubs: ChaosStubs, client: Client, plan: Plan, waiters: list[asyncio.Task[TaskOutcome[int]]]
) -> None:
    rng = random.Random(4)
    tick = 0.05
    per_tick = max(1, math.ceil(plan.tasks / (plan.kill_for_s / tick)))
    for lo in range(0, plan.tasks, per_tick):
        batch = [
            stubs.record.enqueue(i, round(rng.uniform(*plan.sleep_s), 3))
            for i in range(lo, min(lo + per_tick, plan.tasks))
        ]
        for handle in await client.enqueue_many(batch):
            waiters.append(asyncio.ensure_future(handle.outcome()))
        await asyncio.sleep(tick)


async def _run_chaos(
    plan: Plan, spawn: Spawner, client: Client, stubs: ChaosStubs, redis: Redis
) -> Report:
    slots = [
        spawn(
            f"w{n}",
            lease=plan.lease_s,
            concurrency=plan.concurrency,
            fetch_limit=plan.fetch_limit,
            max_tries=plan.max_tries,
            grace=5.0,
        )
        for n in range(plan.workers)
    ]
    for slot in slots:
        await slot.ready()
    report = Report()
    waiters: list[asyncio.Task[TaskOutcome[int]]] = []
    started = time.monotonic()
    await asyncio.gather(_producer(stubs, client, plan, waiters), _killer(slots, plan, report))
    # the last kill's deliveries come back after one lease; allow for slow restarts
    done, pending = await asyncio.wait(waiters, timeout=plan.lease_s * 4 + 30)
    report.drained_s = time.monotonic() - report.last_kill
    report.elapsed_s = time.monotonic() - started
    for task in pending:
        task.cancel()

    outcomes = [w.result() for w in waiters if w in done]
    failed = [o for o in outcomes if not o.success]
    assert not failed, f"{len(failed)} tasks failed, e.g. {failed[0].error!r}"
    for outcome in outcomes:
        report.tries_histogram[outcome.tries] = report.tries_histogram.get(outcome.tries, 0) + 1
    report.max_tries = max((o.tries for o in outcomes), default=0)
    values = {o.value for o in outcomes}

    ns = spawn.ns
    execs = {int(k): int(v) for k, v in (await redis.hgetall(ns + ":execs")).items()}
    finished = {int(k): int(v) for k, v in (await redis.hgetall(ns + ":finished")).items()}
    never_ran = [i for i in range(plan.tasks) if execs.get(i, 0) < 1 or finished.get(i, 0) < 1]
    no_value = [i for i in range(plan.tasks) if 2 * i not in values]
    report.lost = len(pending) + len(set(never_ran) | set(no_value))
    report.duplicates = sum(n - 1 for n in execs.values())

    # nothing left behind: no live task, lease or pending delivery
    keys = client.keys
    assert not await live_task_ids(redis, keys)
    assert (await redis.xpending(keys.stream, "workers"))["pending"] == 0

    for slot in slots:  # a restarted worker still stops gracefully
        await slot.ready()  # (one killed at the very end may still be importing)
        slot.send(signal.SIGTERM)
    for slot in slots:
        code = await slot.wait_exit(15)
        assert code == 0, f"{slot!r} exited {code}:\n{slot.log()}"
    return report


def _print(report: Report, plan: Plan, capsys: pytest.CaptureFixture[str]) -> None:
    bound = report.kills * plan.fetch_limit
    with capsys.disabled():
        print(
            f"\nchaos: tasks={plan.tasks} workers={plan.workers} kills={report.kills} "
            f"duplicates={report.duplicates} (bound {bound} = kills x fetch limit "
            f"{plan.fetch_limit}) lost={report.lost} max_tries={report.max_tries} "
            f"tries={dict(sorted(report.tries_histogram.items()))} "
            f"all done {report.drained_s:.1f} s after the last kill, "
            f"{report.elapsed_s:.1f} s in all"
        )


def _check(report: Report, plan: Plan) -> None:
    assert report.lost == 0
    assert report.kills >= int(plan.kill_for_s / plan.kill_every_s) - 1
    assert report.duplicates <= report.kills * plan.fetch_limit
    assert report.max_tries < plan.max_tries


@pytest.mark.timeout(120)
async def test_sigkill_chaos_short(
    spawn: Spawner,
    client: Client,
    stubs: ChaosStubs,
    redis: Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = Plan(tasks=400, kill_for_s=6.5)
    report = await _run_chaos(plan, spawn, client, stubs, redis)
    _print(report, plan, capsys)
    _check(report, plan)


@pytest.mark.chaos_long
@pytest.mark.timeout(300)
async def test_sigkill_chaos_long(
    spawn: Spawner,
    client: Client,
    stubs: ChaosStubs,
    redis: Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = Plan(tasks=2500, kill_for_s=16.0)
    report = await _run_chaos(plan, spawn, client, stubs, redis)
    _print(report, plan, capsys)
    _check(report, plan)
