"""Cron jobs: computing ticks and claiming each one exactly once across workers.

Every worker runs the same schedule; at each tick they all try to claim it with
``cron.lua``, which accepts the first claim of a tick and refuses the rest, so a
job runs once per tick however many workers there are, without a leader. The
claimed run is an ordinary task on the queue (retries, timeouts, leases apply).
After downtime, at most one missed tick is caught up at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from croniter import croniter

from .._envelope import NewTask, encode_args
from .._priorities import Priorities
from .._time import from_ms, now_ms
from ..errors import ConfigurationError
from ._task import Task

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["CronJob", "CronScheduler", "validate_crontab"]

logger = logging.getLogger("relayq.cron")


def validate_crontab(crontab: str) -> None:
    """Raise :class:`ConfigurationError` unless croniter accepts ``crontab``.

    Five fields (minute hour day month weekday), or six with seconds last.
    """
    if not isinstance(crontab, str) or not croniter.is_valid(crontab):
        raise ConfigurationError(
            f"invalid crontab {crontab!r}: expected 5 fields (minute hour day month weekday) "
            "or 6 with a seconds field last, e.g. '*/5 * * * *' or '* * * * * */10'"
        )


class CronJob:
    """One cron schedule bound to a registered task.

    :ivar name: the job's name (also the task's name).
    :ivar task: the task run at each tick.
    :ivar crontab: the schedule.
    :ivar tz: the time zone the schedule is read in.
    """

    __slots__ = ("crontab", "name", "task", "tz")

    def __init__(self, name: str, task: Task[Any, Any], crontab: str, tz: tzinfo) -> None:
        validate_crontab(crontab)
        self.name: str = name
        self.task: Task[Any, Any] = task
        self.crontab: str = crontab
        self.tz: tzinfo = tz

    def next_after(self, at_s: float) -> float:
        """The first tick strictly after ``at_s`` (epoch seconds)."""
        start = datetime.fromtimestamp(at_s, self.tz)
        return float(croniter(self.crontab, start).get_next(float))

    def last_at_or_before(self, at_s: float) -> float:
        """The latest tick at or before ``at_s``."""
        start = datetime.fromtimestamp(at_s, self.tz)
        it = croniter(self.crontab, start)
        nxt = float(it.get_next(float))
        if nxt <= at_s:
            return nxt
        return float(croniter(self.crontab, start).get_prev(float))

    def task_id(self, tick_ms: int) -> str:
        """The id of the run for ``tick_ms``: per job if unique (runs never overlap),
        else per tick."""
        if self.task.unique:
            return f"cron:{self.name}"
        return f"cron:{self.name}:{tick_ms}"


class CronScheduler:
    """Fires the cron jobs of one worker until cancelled.

    Jobs can be added and removed while it runs (:meth:`changed` wakes it).
    """

    def __init__(self, client: Client, jobs: dict[str, CronJob]) -> None:
        self._client = client
        self._jobs = jobs
        self._changed = asyncio.Event()
        self._next: dict[str, float] = {}

    def changed(self) -> None:
        """Tell the scheduler the set of jobs changed."""
        self._changed.set()

    async def run(self) -> None:
        """Catch up, then claim every tick as it comes."""
        while True:
            self._changed.clear()
            now = time.time()
            for name, job in list(self._jobs.items()):
                if name not in self._next:
                    await self._claim(job, job.last_at_or_before(now), "catchup")
                    self._next[name] = job.next_after(now)
            for name in list(self._next):
                if name not in self._jobs:
                    del self._next[name]
            if not self._next:
                await self._changed.wait()
                continue
            due = min(self._next.values())
            try:
                await asyncio.wait_for(self._changed.wait(), max(due - time.time(), 0.0))
                continue  # jobs changed: recompute
            except asyncio.TimeoutError:
                pass
            now = time.time()
            for name, tick in list(self._next.items()):
                due_job = self._jobs.get(name)
                if due_job is not None and tick <= now:
                    await self._claim(due_job, tick, "run")
                    self._next[name] = due_job.next_after(max(tick, now))

    def _run_of(self, job: CronJob, tick_ms: int) -> NewTask:
        client = self._client
        task_id = job.task_id(tick_ms)
        args = encode_args(client.serializer, job.name, (), {})
        at = now_ms()
        signer = client.signer
        signature = b"" if signer is None else signer.sign_task(task_id, job.name, at, args)
        return NewTask(
            task_id,
            args,
            job.name,
            at,
            signature,
            0,
            Priorities.wire_name(client.resolve_priority(None)),
            job.task.options.ttl_ms,
            "",
            0,
        )

    async def _claim(self, job: CronJob, tick_s: float, mode: str) -> None:
        tick_ms = int(round(tick_s * 1000))
        run = self._run_of(job, tick_ms)
        try:
            result = await self._client.scripts.cron(job.name, tick_ms, mode == "catchup", run)
        except Exception as exc:
            logger.warning("cron %s: could not claim tick %d: %s", job.name, tick_ms, exc)
            return
        if result == 1:
            logger.info("cron %s: tick %s enqueued as %s", job.name, from_ms(tick_ms), run.task_id)
        elif result == -1:
            logger.warning("cron %s: tick skipped, the previous run is still going", job.name)
