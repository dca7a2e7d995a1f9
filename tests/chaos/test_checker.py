"""The seeded fault-injection checker (the engine is ``tests/chaos/checker/``).

- ``test_checker_fixed_seeds``: the default run, a few fixed seeds in about 60 s;
- ``test_checker_soak`` (``pytest -m soak``): consecutive seeds for
  ``RELAYQ_SOAK_SECONDS`` (default 600), starting at ``RELAYQ_SOAK_SEED`` (1000);
- ``test_checker_seed`` (``pytest tests/chaos/test_checker.py --seed N``): replays one seed;
- minimal reproductions of the sdk bugs the checker found (both fixed in 10857fc;
  they stay as end-to-end regression tests).

Each seed prints its seed first and one summary line at the end; a violation
fails the test with the seed and examples per invariant.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path

import msgpack
import pytest
from redis.asyncio import Redis

from sdk import _aio
from sdk.client import Client
from sdk.errors import ResultTimeout, TaskAborted
from tests.chaos._support import app_env
from tests.chaos.checker import APP_MODULE, WINDOW_S, Report, run_seed
from tests.helpers import wait_until

#: The default run: these seeds, within about DEFAULT_BUDGET_S (together they draw
#: every kind of fault, fixed and fresh worker ids, 2 and 3 workers and clients).
DEFAULT_SEEDS = (1, 17, 27, 34)
DEFAULT_BUDGET_S = 60.0
SOAK_S = float(os.environ.get("RELAYQ_SOAK_SECONDS", "600"))
SOAK_FIRST_SEED = int(os.environ.get("RELAYQ_SOAK_SEED", "1000"))


@pytest.fixture
def checker_env(app_dir: Path, subprocess_env: dict[str, str]) -> dict[str, str]:
    """The worker processes' environment, with ``checkerapp.py`` in ``app_dir``."""
    (app_dir / "checkerapp.py").write_text(APP_MODULE)
    return app_env(subprocess_env, app_dir)


async def _run_seeds(
    seeds: Iterable[int],
    budget_s: float,
    app_dir: Path,
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> list[Report]:
    """Run seeds in order until the budget is spent (no seed starts after that);
    print each seed's summary line."""
    started = time.monotonic()
    reports: list[Report] = []
    for seed in seeds:
        if reports and time.monotonic() - started >= budget_s:
            break
        with capsys.disabled():
            report = await run_seed(seed, app_dir, env, say=print)
            print(report.line())
        reports.append(report)
    return reports


def _fail_on_violations(reports: list[Report]) -> None:
    broken = [r for r in reports if r.total]
    if broken:
        pytest.fail("\n\n".join(r.failure() for r in broken), pytrace=False)


@pytest.mark.timeout(240)
async def test_checker_fixed_seeds(
    request: pytest.FixtureRequest,
    app_dir: Path,
    checker_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if request.config.getoption("seed", None) is not None:
        pytest.skip("--seed given: test_checker_seed replays just that seed")
    reports = await _run_seeds(DEFAULT_SEEDS, DEFAULT_BUDGET_S, app_dir, checker_env, capsys)
    assert len(reports) >= 2, "the budget allowed fewer than two seeds"
    _fail_on_violations(reports)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_S + 300)
async def test_checker_soak(
    app_dir: Path, checker_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = range(SOAK_FIRST_SEED, SOAK_FIRST_SEED + 1_000_000)
    reports = await _run_seeds(seeds, SOAK_S, app_dir, checker_env, capsys)
    with capsys.disabled():
        print(
            f"\nsoak: {len(reports)} seeds ({reports[0].seed}..{reports[-1].seed}), "
            f"{sum(r.tasks for r in reports)} tasks, {sum(r.executions for r in reports)} "
            f"executions, {sum(sum(r.faults.values()) for r in reports)} faults, "
            f"violations={sum(r.total for r in reports)} "
            f"in seeds {[r.seed for r in reports if r.total]}"
        )
    _fail_on_violations(reports)


@pytest.mark.timeout(WINDOW_S + 150)
async def test_checker_seed(
    request: pytest.FixtureRequest,
    app_dir: Path,
    checker_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = request.config.getoption("seed", None)
    if seed is None:
        pytest.skip("replays one seed: pytest tests/chaos/test_checker.py --seed N")
    reports = await _run_seeds([int(seed)], float("inf"), app_dir, checker_env, capsys)
    _fail_on_violations(reports)


async def test_malformed_outcome_message_is_ignored_by_the_waiter(
    redis_url: str, queue_name: str, redis: Redis
) -> None:
    """Found by the checker (seeds 1 and 2, ``publish`` faults of the ``shape`` form;
    fixed in 10857fc). A message on a client's inbox that names a waited-for task and
    carries a msgpack outcome of the right arity but a wrong shape (here: a failure
    whose body is an int, not ``[type, message, traceback]``) must be ignored like any
    unreadable message (the stored outcome is the authority); ``decode_outcome`` let
    ``TypeError`` out of it, and the caller's ``result()`` raised it.
    """
    async with Client(redis_url, queue_name) as client:
        handle = await client.enqueue_unsafe("nobody_runs_this").start()  # stays queued
        waiter = asyncio.ensure_future(handle.result(timeout=1.0))

        async def routed() -> bool:
            route = await redis.hget(client.keys.task(handle.id), "r")
            return route == client.client_id.encode()

        await wait_until(routed, what="the waiter's route on the task")
        outcome = msgpack.packb([1, 1, 7, 1, 0, 0, 0, "w", "f"], use_bin_type=True)
        message = f"{len(handle.id)}:{handle.id}".encode() + outcome
        await redis.publish(client.keys.inbox(client.client_id), message)
        with pytest.raises(ResultTimeout):  # the task is still queued: no outcome in time
            await waiter


@pytest.mark.timeout(30)
async def test_wait_started_while_the_listener_reconnects_gets_its_outcome(
    redis_url: str, queue_name: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the checker (seed 1: a ``result()`` without timeout sent 0.3 s after a
    Redis restart hung although its outcome was stored; seed 1006: the same for an
    ``abort()`` without timeout; fixed in 10857fc). The listener's channels kept
    ``state == "active"`` after the connection broke, and ``expect()`` made new waiters
    ready from that state: a wait begun before the listener resubscribed sent its task
    at once, its outcome was published while nobody listened on the inbox, and once
    the listener was back nothing told the waiter to look at the stored outcome.
    """

    async def slow_retry(self: _aio.Backoff) -> None:
        self.outage = True
        await asyncio.sleep(1.5)  # a listener reconnecting after a longer outage

    async with Client(redis_url, queue_name) as client:
        monkeypatch.setattr(_aio.Backoff, "retry", slow_retry)
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # type: ignore[no-untyped-call]
        await asyncio.sleep(0.2)  # the listener noticed; it reconnects in 1.5 s
        handle = client.enqueue_unsafe("nobody_runs_this")
        waiter = asyncio.ensure_future(handle.result())  # no timeout

        async def live() -> bool:
            return bool(await redis.exists(client.keys.task(handle.id)))

        await wait_until(live, timeout=5, what="the task to be sent")
        assert await client.handle(handle.id).abort()  # queued: aborted and published now
        with pytest.raises(TaskAborted):
            await asyncio.wait_for(waiter, 5)
