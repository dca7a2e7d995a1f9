"""The state of one run, which every part of the checker shares, and the checker's
own view of Redis (an admin connection that rides out restarts)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from redis import exceptions as rexc
from redis.asyncio import Redis

from sdk._keys import Keys
from sdk._redis import command
from sdk.client import Client, TaskRef
from tests.chaos.checker.app import CheckerWorker
from tests.chaos.checker.plan import Call, Plan
from tests.chaos.checker.records import FaultRecord, OpRecord, Report, WaitRecord
from tests.chaos.checker.settings import EXAMPLES, LEASE_S, MAX_TRIES
from tests.conftest import RedisServer


class RunState:
    """What a run of one :class:`Plan` knows: its Redis, worker slots and clients, and
    everything recorded so far; the parts of the checker are mixins on it."""

    def __init__(
        self, plan: Plan, server: RedisServer, app_dir: Path, env: Mapping[str, str]
    ) -> None:
        self.plan = plan
        self.server = server
        self.app_dir = app_dir
        self.queue = f"checker-{plan.seed}"
        self.ns = f"checker:{self.queue}"
        self.keys = Keys(self.queue)
        settings = {
            "RQ_REDIS_URL": server.url,
            "RQ_QUEUE": self.queue,
            "RQ_NS": self.ns,
            "RQ_LEASE": str(LEASE_S),
            "RQ_CONCURRENCY": str(plan.concurrency),
            "RQ_GRACE": str(plan.grace_s),
            "RQ_MAX_TRIES": str(MAX_TRIES),
            "RQ_HEALTH": "2",
            "RQ_STALL": "0.2",
        }
        worker_env = {k: v for k, v in env.items() if k != "REDIS_URL"} | settings
        self.slots = [
            CheckerWorker(f"s{plan.seed}w{n}", app_dir, worker_env, plan.fixed_ids)
            for n in range(plan.workers)
        ]
        self.admin: Redis = Redis.from_url(server.url, decode_responses=False)
        self.clients: list[Client] = []
        self.stubs: list[dict[str, TaskRef[..., int]]] = []
        self.waiting: list[Counter[str]] = [Counter() for _ in range(plan.clients)]
        self.ops: dict[int, OpRecord] = {}
        self.waits: list[WaitRecord] = []
        self.faults: list[FaultRecord] = []
        self.accepted: dict[str, list[Call]] = {}
        self.abort_requests: set[str] = set()
        self.touches: dict[str, set[int]] = defaultdict(set)
        self.report = Report(plan.seed, plan.window_s, Counter(), Counter())
        self.lock = asyncio.Lock()  # worker starts and Redis restarts never overlap
        self.background: set[asyncio.Task[None]] = set()
        self.op_tasks: list[asyncio.Task[None]] = []
        self.t0 = 0.0

    # -- recording violations ------------------------------------------------------------

    def violation(self, invariant: str, example: str) -> None:
        self.report.counts[invariant] += 1
        examples = self.report.violations.setdefault(invariant, [])
        if len(examples) < EXAMPLES:
            examples.append(example)

    # -- Redis, as the checker sees it ----------------------------------------------------

    async def _a(self, *args: Any) -> Any:
        """One admin command, retried while Redis restarts."""
        for _ in range(200):
            try:
                return await command(self.admin, *args)
            except (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError):
                await asyncio.sleep(0.05)
        return await command(self.admin, *args)

    async def _scan(self, pattern: str) -> list[bytes]:
        found: list[bytes] = []
        cursor: Any = 0
        while True:
            cursor, batch = await self._a("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found += batch
            if int(cursor) == 0:
                return found

    async def _live_ids(self) -> set[str]:
        keys = await self._scan(self.keys.tasks_pattern)
        return {self.keys.task_id_of(k.decode()) for k in keys}

    async def _held_by(self, worker_id: str) -> set[str]:
        held = set()
        for task_id in await self._live_ids():
            if await self._a("HGET", self.keys.task(task_id), "w") == worker_id.encode():
                held.add(task_id)
        return held

    # -- background tasks and the timeline ------------------------------------------

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _sleep_until(self, at: float) -> None:
        delay = self.t0 + at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
