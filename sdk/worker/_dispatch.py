"""The deliveries a worker holds, from the moment they are taken to their settlement.

The dispatcher runs up to ``concurrency`` of them at once, keeps the rest in
a small prefetch queue, settles each through the settler, acts on aborts,
drops the ones whose lease was lost, and on shutdown hands back what it may
not finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable

from .._aio import Supervisor
from .._scripts import Scripts
from ._delivery import Delivery, Stats
from ._executor import Executor
from ._settlement import Retrying, Settlement
from ._settler import Settler

__all__ = ["Dispatcher"]

logger = logging.getLogger("relayq.worker")


class Dispatcher:
    """Runs and settles the deliveries of one worker.

    :param concurrency: deliveries executing at once.
    :param fetch_limit: deliveries held at once (executing and prefetched).
    :param grace_s: on shutdown, how long executing ones may take to finish.
    """

    def __init__(
        self,
        *,
        supervisor: Supervisor,
        scripts: Scripts,
        executor: Executor,
        concurrency: int,
        fetch_limit: int,
        grace_s: float,
    ) -> None:
        self._supervisor = supervisor
        self._scripts = scripts
        self._executor = executor
        self._concurrency = concurrency
        self._fetch_limit = fetch_limit
        self._grace_s = grace_s
        #: Every delivery held, by :attr:`Delivery.key`.
        self.held: dict[tuple[str, bytes, int], Delivery] = {}
        self._ready: deque[Delivery] = deque()
        self._running = 0
        self._settling = 0  # executed, outcome not yet written
        self._room = asyncio.Event()
        self._stopping = False
        self._settler = Settler(supervisor, scripts, self._settled)
        self.stats = Stats()

    @property
    def running(self) -> int:
        """Deliveries executing right now."""
        return self._running

    def room(self) -> int:
        """How many more deliveries may be taken now.

        Deliveries that only wait for their outcome to be written do not take room
        (up to the limit again): the next fetch overlaps that write instead of
        alternating with it.
        """
        return self._fetch_limit - len(self.held) + min(self._settling, self._fetch_limit)

    async def wait_for_room(self) -> None:
        """Until a delivery was settled (or :meth:`stop` was called)."""
        self._room.clear()
        await self._room.wait()

    def take(self, deliveries: Iterable[Delivery]) -> None:
        """Hold new deliveries and start what concurrency allows."""
        for d in deliveries:
            self.held[d.key] = d
            self._ready.append(d)
        self._dispatch()

    def stop(self) -> None:
        """Start nothing more; :meth:`shutdown` then hands back what is not running."""
        self._stopping = True
        self._room.set()

    def force(self) -> None:
        """Cancel running deliveries now instead of waiting for the grace period."""
        self.stop()
        self._grace_s = 0.0
        for d in self.held.values():
            if d.task is not None and not d.task.done():
                d.task.cancel()

    def abort(self, task_id: str) -> None:
        """Abort a held task: cancel it if running, settle it as aborted if not started."""
        for d in list(self.held.values()):
            if d.task_id == task_id:
                self.abort_delivery(d)

    def abort_delivery(self, d: Delivery) -> None:
        """Abort one held delivery (a no-op for one already aborted or lost)."""
        if d.aborted or d.lost:
            return
        d.aborted = True
        if d.task is not None:
            if not d.task.done():
                d.task.cancel()
        elif d in self._ready:
            # prefetched, not started: settle now, not when a slot frees up
            self._ready.remove(d)
            self._settle(self._executor.aborted(d, 0))

    def lose(self, d: Delivery) -> None:
        """Our lease on ``d`` lapsed and another worker took the task over: stop
        running it (its outcome would be fenced out anyway) and let it go."""
        if d.lost or (d.task is not None and d.task.done()):
            # a run that already ended is being settled: a renewal that raced its
            # finish saw the task gone, and finish.lua alone says whether it counted
            return
        d.lost = True
        logger.warning(
            "lease on task %s[%s] try %d lapsed and another worker took it over; "
            "this run is cancelled",
            d.fn_name,
            d.task_id,
            d.tries,
        )
        if d.task is not None and not d.task.done():
            d.task.cancel()
        elif d.task is None and d in self._ready:
            self._ready.remove(d)
            self.held.pop(d.key, None)
            self._room.set()

    # -- running -------------------------------------------------------------------

    def _dispatch(self) -> None:
        while self._ready and self._running < self._concurrency and not self._stopping:
            d = self._ready.popleft()
            if d.aborted:
                self._settle(self._executor.aborted(d, 0))
                continue
            self._running += 1
            d.started = True
            # awaited (or cancelled, then awaited) by shutdown(), which every run ends with
            d.task = self._supervisor.spawn(self._execute(d), track=False)

    async def _execute(self, d: Delivery) -> None:
        try:
            settlement = await self._executor.execute(d)
        except asyncio.CancelledError:
            self._running -= 1
            if d.aborted:
                self._settle(self._executor.aborted(d, 0))
            elif d.lost:
                self.held.pop(d.key, None)
                self._room.set()
            else:
                raise  # cancelled at shutdown after the grace period: shutdown() hands it back
            self._dispatch()
            return
        except Exception as exc:
            # execute() turns every failure of the task into a settlement; reaching
            # here is a bug (or a hostile serializer), and the task must still end
            self._running -= 1
            logger.exception("internal error running task %s[%s]", d.fn_name, d.task_id)
            settlement = self._executor.internal_error(d, exc)
        else:
            self._running -= 1
        self._settle(settlement)
        self._dispatch()

    def _settle(self, settlement: Settlement) -> None:
        self._settling += 1
        self._settler.add(settlement)
        self._room.set()

    def _settled(self, settlement: Settlement, applied: bool) -> None:
        if not applied:
            self.stats.fenced += 1
        elif isinstance(settlement, Retrying):
            self.stats.retried += 1
        elif settlement.success:
            self.stats.done += 1
        else:
            self.stats.failed += 1
        self._settling -= 1
        self.held.pop(settlement.delivery.key, None)
        self._room.set()

    # -- shutdown ------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Hand back what never started, let running deliveries finish within the
        grace period, cancel and hand back the rest, and write every settlement."""
        self.stop()
        unstarted = list(self._ready)
        self._ready.clear()
        await self._release(unstarted, started=False)
        running = [d.task for d in self.held.values() if d.task is not None and not d.task.done()]
        if running:
            logger.info("waiting up to %.1f s for %d running tasks", self._grace_s, len(running))
            _, late = await asyncio.wait(running, timeout=self._grace_s)
            if late:
                logger.warning(
                    "grace period over: cancelling %d tasks, handing them back", len(late)
                )
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
        # cancelled by the grace deadline or by force() (a second signal)
        cancelled = [
            d
            for d in self.held.values()
            if d.task is not None and d.task.cancelled() and not d.aborted and not d.lost
        ]
        await self._release(cancelled, started=True)
        try:
            await asyncio.wait_for(self._settler.drain(), timeout=max(self._grace_s, 5.0))
        except asyncio.TimeoutError:
            logger.error(
                "could not store %d outcomes before exiting; their tasks will be re-run "
                "after their leases lapse",
                len(self.held),
            )

    async def _release(self, deliveries: list[Delivery], *, started: bool) -> None:
        if not deliveries:
            return
        try:
            n = await self._scripts.release([(d, started) for d in deliveries])
        except Exception as exc:
            logger.warning(
                "could not hand back %d tasks (%s); they return when their leases lapse",
                len(deliveries),
                exc,
            )
            return
        for d in deliveries:
            self.held.pop(d.key, None)
        logger.info("handed back %d tasks to the queue", n)
