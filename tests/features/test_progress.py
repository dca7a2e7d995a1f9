"""Progress: ``ctx.progress`` in a task, ``handle.progress()`` for its callers."""

from __future__ import annotations

import asyncio

import pytest

from sdk import Progress, TaskFailed, TaskNotFound, Worker, WrappedContext
from sdk.worker._live import PROGRESS_INTERVAL_S

# longer than the coalescing interval: every report of a slow task is written
_SLOW_STEP_S = PROGRESS_INTERVAL_S * 1.5


async def test_watcher_sees_every_report_in_order_and_stops_at_the_end(
    worker: Worker[None],
) -> None:
    @worker.task()
    async def train(ctx: WrappedContext[None], epochs: int) -> float:
        for epoch in range(1, epochs + 1):
            await asyncio.sleep(_SLOW_STEP_S)
            await ctx.progress(epoch / epochs, f"epoch {epoch}")
        return 0.99

    async with worker.running():
        handle = train.enqueue(5)
        seen = [p async for p in handle.progress()]  # sends the task, ends with it
        assert handle.sent
        assert await handle.result(timeout=5) == 0.99
    assert [(p.fraction, p.message) for p in seen] == [(k / 5, f"epoch {k}") for k in range(1, 6)]
    times = [p.time for p in seen]
    assert times == sorted(times)
    assert all(isinstance(p, Progress) for p in seen)


async def test_late_watcher_gets_the_last_report_first(worker: Worker[None]) -> None:
    reported, go_on = asyncio.Event(), asyncio.Event()

    @worker.task()
    async def export(ctx: WrappedContext[None]) -> str:
        await ctx.progress(0.25, "rows")
        await asyncio.sleep(_SLOW_STEP_S)
        await ctx.progress(0.5, "half way")
        reported.set()
        await go_on.wait()
        await asyncio.sleep(_SLOW_STEP_S)
        await ctx.progress(0.75)
        return "done"

    async with worker.running():
        handle = await export.enqueue()
        await asyncio.wait_for(reported.wait(), 5)
        info = await handle.info()
        assert info is not None and info.progress is not None
        assert (info.progress.fraction, info.progress.message) == (0.5, "half way")
        # a watcher that attaches now starts with the last report, not the first
        watcher = export.handle(handle.id).progress()
        first = await asyncio.wait_for(anext(watcher), 5)
        assert (first.fraction, first.message) == (0.5, "half way")
        go_on.set()
        rest = [p async for p in watcher]
        assert [(p.fraction, p.message) for p in rest] == [(0.75, None)]
        assert await handle.result(timeout=5) == "done"
        # after the end there is nothing to follow
        assert [p async for p in export.handle(handle.id).progress()] == []


async def test_a_tight_loop_is_coalesced_and_the_last_report_is_kept(
    worker: Worker[None],
) -> None:
    @worker.task()
    async def crawl(ctx: WrappedContext[None], pages: int) -> int:
        for page in range(1, pages + 1):
            await ctx.progress(page / pages)
            if page % 100 == 0:
                await asyncio.sleep(0.01)  # a real crawler awaits something
        return pages

    async with worker.running():
        handle = crawl.enqueue(2000)
        seen = [p async for p in handle.progress()]
        assert await handle.result(timeout=10) == 2000
    # 2,000 calls over ~0.2 s: a handful of writes, not one per call
    assert 1 <= len(seen) <= 20, len(seen)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0  # the report made just before the end is written


async def test_a_bad_report_fails_the_task_with_a_clear_error(worker: Worker[None]) -> None:
    @worker.task(max_tries=1)
    async def bad(ctx: WrappedContext[None]) -> None:
        await ctx.progress(150)  # a percentage where a fraction belongs

    async with worker.running():
        with pytest.raises(TaskFailed) as info:
            await bad.enqueue().result(timeout=5)
    assert info.value.exc_type == "ValueError"
    assert "from 0 to 1" in info.value.message


async def test_progress_of_an_unknown_task_is_not_found(worker: Worker[None]) -> None:
    @worker.task()
    async def job(ctx: WrappedContext[None]) -> None:
        return None

    async with worker:
        with pytest.raises(TaskNotFound):
            async for _ in job.handle("no-such-task").progress():
                pass


async def test_progress_outside_a_worker_is_checked_and_dropped(worker: Worker[None]) -> None:
    @worker.task()
    async def job(ctx: WrappedContext[None]) -> int:
        await ctx.progress(0.5, "local")
        return 1

    assert await job.run() == 1
    with pytest.raises(ValueError):

        @worker.task(name="bad_local")
        async def bad_local(ctx: WrappedContext[None]) -> None:
            await ctx.progress(-1)

        await bad_local.run()
