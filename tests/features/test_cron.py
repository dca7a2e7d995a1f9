"""Cron: once per tick across workers, one catch-up tick at most, dynamic add/remove."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest
from redis.asyncio import Redis

from sdk import Worker, WrappedContext
from sdk._keys import Keys
from sdk.errors import ConfigurationError
from sdk.worker._scheduler import CronJob, CronScheduler
from tests.conftest import WorkerFactory
from tests.helpers import live_task_ids, wait_until

from ._support import assert_stops_promptly

EVERY_SECOND = "* * * * * *"  # six fields: the seconds field is last (croniter)
YEARLY = "0 0 1 1 *"  # a tick that never comes during a test run


def _tick_of(task_id: str) -> int:
    """The tick (ms) of a non-unique cron run, from its id ``cron:<name>:<tick_ms>``."""
    return int(task_id.rsplit(":", 1)[1])


@pytest.mark.timeout(40)
async def test_two_workers_run_each_tick_exactly_once(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """Two workers (as in two processes: separate ids and connections) over 10 ticks of
    a cron every second: every tick runs, and only once. ``heartbeat`` has one run id
    per tick (``unique=False``); ``pulse`` is a default (unique) job: one id per job."""
    runs: list[tuple[int, str]] = []
    pulses: list[tuple[str, float]] = []
    ten = asyncio.Event()

    def build(worker_id: str) -> Worker[None]:
        worker = make_worker(worker_id=worker_id)

        @worker.cron(EVERY_SECOND, unique=False)
        async def heartbeat(ctx: WrappedContext[None]) -> None:
            runs.append((_tick_of(ctx.task_id), ctx.worker_id))
            if len({tick for tick, _ in runs}) >= 10:
                ten.set()

        @worker.cron(EVERY_SECOND)
        async def pulse(ctx: WrappedContext[None]) -> None:
            pulses.append((ctx.task_id, time.time()))

        return worker

    a, b = build("cron-a"), build("cron-b")
    async with a.running(), b.running():
        await asyncio.wait_for(ten.wait(), 15)
    ticks = [tick for tick, _ in runs]
    print(
        f"cron runs: {len(runs)} over {len(set(ticks))} ticks; by worker:",
        {w: sum(1 for _, x in runs if x == w) for w in ("cron-a", "cron-b")},
    )
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {sorted(ticks)}"
    ordered = sorted(ticks)
    assert len(ordered) >= 10
    # consecutive seconds: no tick was skipped
    assert [t - ordered[0] for t in ordered] == [1000 * i for i in range(len(ordered))]
    assert all(t % 1000 == 0 for t in ordered)
    last = await redis.hget(keys.crons, "heartbeat")
    assert last is not None and int(last) >= ordered[-1]

    assert {task_id for task_id, _ in pulses} == {"cron:pulse"}
    seconds = [int(at) for _, at in pulses]
    assert len(seconds) == len(set(seconds)), f"a second saw two pulses: {pulses}"
    assert len(seconds) >= 9


async def test_catch_up_runs_at_most_one_missed_tick(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """Downtime is simulated by an old 'last tick' in Redis: of the several missed
    ticks only the latest runs, once, even with two workers starting."""
    runs: list[str] = []
    ran = asyncio.Event()
    three_years_ago_ms = int((time.time() - 3 * 366 * 86400) * 1000)
    await redis.hset(keys.crons, "yearly", three_years_ago_ms)

    def build(worker_id: str) -> Worker[None]:
        worker = make_worker(worker_id=worker_id)

        @worker.cron(YEARLY, unique=False, tz=timezone.utc)
        async def yearly(ctx: WrappedContext[None]) -> None:
            runs.append(ctx.task_id)
            ran.set()

        return worker

    a, b = build("catchup-a"), build("catchup-b")
    async with a.running(), b.running():
        await asyncio.wait_for(ran.wait(), 5)

        async def drained() -> bool:
            return len(await live_task_ids(redis, keys)) == 0

        await wait_until(drained, what="the catch-up run to finish")
    this_year = datetime(datetime.now(timezone.utc).year, 1, 1, tzinfo=timezone.utc)
    expected_tick = int(this_year.timestamp() * 1000)
    # the claims are made when the schedulers start, so after both started and the
    # queue drained, no other run can come before next New Year
    assert runs == [f"cron:yearly:{expected_tick}"]
    assert int(await redis.hget(keys.crons, "yearly") or 0) == expected_tick


async def test_a_new_job_does_not_catch_up(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """A job never seen before has no missed tick: starting records a baseline only."""
    worker = make_worker()
    runs: list[str] = []

    @worker.cron(YEARLY)
    async def fresh(ctx: WrappedContext[None]) -> None:
        runs.append(ctx.task_id)

    async with worker.running():

        async def baseline() -> bool:
            return await redis.hexists(keys.crons, "fresh")

        await wait_until(baseline, what="the baseline tick")
        assert len(await live_task_ids(redis, keys)) == 0
    assert runs == []


@pytest.mark.timeout(20)
async def test_dynamic_add_and_remove(make_worker: WorkerFactory) -> None:
    worker = make_worker()
    ticks: list[int] = []
    ticked = asyncio.Event()

    @worker.task()
    async def unrelated(ctx: WrappedContext[None]) -> int:
        return 1

    async with worker.running():
        assert not worker.crons

        @worker.cron(EVERY_SECOND, unique=False)
        async def added(ctx: WrappedContext[None]) -> None:
            ticks.append(_tick_of(ctx.task_id))
            ticked.set()

        assert set(worker.crons) == {"added"}
        await asyncio.wait_for(ticked.wait(), 3)
        worker.remove_cron("added")
        removed_ms = time.time() * 1000
        assert not worker.crons
        assert "added" in worker.tasks  # the task stays registered
        # no tick after the removal is claimed (one claimed just before may still run)
        await asyncio.sleep(1.2)
        assert await unrelated.enqueue().result(timeout=5) == 1
    assert all(t <= removed_ms for t in ticks), (ticks, removed_ms)
    assert 1 <= len(ticks) <= 2
    with pytest.raises(ConfigurationError, match="no cron job"):
        worker.remove_cron("added")


@pytest.mark.timeout(20)
async def test_unique_cron_skips_ticks_while_its_run_is_live(
    make_worker: WorkerFactory, redis: Redis, keys: Keys
) -> None:
    """A default (unique) job whose run outlasts a tick does not start a second run:
    the tick is claimed and skipped."""
    worker = make_worker()
    runs: list[float] = []
    started = asyncio.Event()
    release = asyncio.Event()

    @worker.cron(EVERY_SECOND)
    async def slow(ctx: WrappedContext[None]) -> None:
        runs.append(time.time())
        started.set()
        await release.wait()

    async with worker.running():
        await asyncio.wait_for(started.wait(), 3)
        first_tick = int(await redis.hget(keys.crons, "slow") or 0)

        async def next_tick_claimed() -> bool:
            return int(await redis.hget(keys.crons, "slow") or 0) > first_tick

        await wait_until(next_tick_claimed, timeout=3, what="the next tick to be claimed")
        assert len(runs) == 1
        assert len(await live_task_ids(redis, keys)) == 1  # only the live run
        release.set()
    assert len(runs) == 1


@pytest.mark.parametrize(
    "crontab",
    ["not a crontab", "* * * *", "61 * * * *", "* * * * * * * *", "", "* * 32 * *"],
)
def test_invalid_crontab_is_rejected(worker: Worker[None], crontab: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid crontab"):
        worker.cron(crontab)
    assert not worker.crons and not worker.tasks


def test_valid_crontabs_are_accepted(worker: Worker[None]) -> None:
    @worker.cron("*/5 * * * *")
    async def five_fields(ctx: WrappedContext[None]) -> None:
        return None

    @worker.cron("* * * * * */10", name="six_fields")
    def sync_job(ctx: WrappedContext[None]) -> None:
        return None

    @worker.cron("30 9 * * mon-fri", tz=timezone.utc)
    async def weekdays(ctx: WrappedContext[None]) -> None:
        return None

    assert set(worker.crons) == {"five_fields", "six_fields", "weekdays"}
    assert worker.crons["six_fields"].crontab == "* * * * * */10"
    with pytest.raises(ConfigurationError, match="already registered"):

        @worker.cron("* * * * *", name="weekdays")
        async def duplicate(ctx: WrappedContext[None]) -> None:
            return None


async def test_worker_stops_promptly_when_redis_py_swallows_the_scheduler_cancel(
    make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: on stop the cron scheduler is cancelled, possibly mid-claim; on
    Python 3.11 redis-py can swallow that cancellation (CPython gh-86296). The
    scheduler would then wait for its next tick (next year here) and the worker's
    stop with it. The claim below stands in for such a Redis call."""
    in_flight = asyncio.Event()

    async def claim_losing_the_cancel(
        self: CronScheduler, job: CronJob, tick_s: float, mode: str
    ) -> None:
        in_flight.set()
        try:
            await asyncio.sleep(0.5)  # a Redis command in flight ...
        except asyncio.CancelledError:
            pass  # ... whose cancellation redis-py lost

    monkeypatch.setattr(CronScheduler, "_claim", claim_losing_the_cancel)
    worker = make_worker()

    @worker.cron(YEARLY)
    async def yearly(ctx: WrappedContext[None]) -> None:
        return None

    await assert_stops_promptly(worker, in_flight)
