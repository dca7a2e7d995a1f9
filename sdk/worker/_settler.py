"""Writing settlements to Redis in batches (group commit).

Settlements that arrive while a ``finish.lua`` call is in flight go out
together in the next one, so under load one round trip acknowledges, stores
and publishes many tasks. A write that fails because Redis is away is retried
with capped backoff until it lands: a settled task is never dropped (the
fencing in ``finish.lua`` makes a repeated write harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from .._aio import Backoff, GroupCommit, Supervisor
from .._redact import redact_text
from .._redis import is_unavailable
from .._scripts import Scripts
from .._time import now_ms
from ._settlement import Settlement, finish_row

__all__ = ["Settler"]

logger = logging.getLogger("relayq.worker")

_MAX_BATCH: Final = 500


class Settler:
    """Batches settlements into ``finish.lua`` calls.

    :param on_settled: called for each settlement once it is written, with whether
        it applied (``False``: fenced out), to free its slot.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        scripts: Scripts,
        on_settled: Callable[[Settlement, bool], None],
    ) -> None:
        self._scripts = scripts
        self._on_settled = on_settled
        self._commit = GroupCommit(supervisor, "settler", self._write, _MAX_BATCH)

    def add(self, settlement: Settlement) -> None:
        """Queue a settlement for the next write."""
        self._commit.add(settlement)

    async def drain(self) -> None:
        """Wait until every queued settlement has been written."""
        await self._commit.drain()

    async def _write(self, batch: list[Settlement]) -> None:
        backoff = Backoff()
        while True:
            try:
                applied = await self._scripts.finish(
                    [finish_row(s) for s in batch], now_ms=now_ms()
                )
                break
            except Exception as exc:
                if not backoff.outage:
                    if is_unavailable(exc):
                        logger.warning(
                            "cannot store outcomes, Redis unavailable (%s); retrying",
                            redact_text(str(exc)),
                        )
                    else:
                        logger.exception("storing outcomes failed; retrying")
                await backoff.retry()
        if backoff.recovered():
            logger.warning("Redis is back; outcomes stored")
        for settlement, ok in zip(batch, applied, strict=True):
            if not ok:
                d = settlement.delivery
                logger.warning(
                    "task %s[%s] try %d: outcome discarded, another worker holds the task "
                    "now (this worker's lease lapsed) or it was aborted and sent again",
                    d.fn_name,
                    d.task_id,
                    d.tries,
                )
            self._on_settled(settlement, ok)
