"""A worker's care of the consumer group: creating it, taking back what an earlier
process under the same name left, and removing members that dead workers left."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Final

from redis import exceptions as rexc
from redis.asyncio import Redis

from .._keys import GROUP, Keys
from .._redact import redact_text
from .._redis import command, translate_errors
from .._scripts import Scripts

__all__ = ["STALE_CONSUMER_S", "Housekeeping"]

logger = logging.getLogger("relayq.worker")

#: A consumer-group member idle this long (seconds) with nothing pending belongs
#: to a worker that is gone (a live one reads at least every few seconds).
STALE_CONSUMER_S: Final = 3600
_RECOVER_LIMIT: Final = 10_000


class Housekeeping:
    """Consumer-group upkeep for one worker (``consumer``) of one queue."""

    def __init__(
        self, redis: Redis, scripts: Scripts, keys: Keys, consumer: str, priorities: Sequence[str]
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._keys = keys
        self._consumer = consumer
        self._priorities = list(priorities)

    async def ensure_groups(self) -> None:
        """Create the consumer group (and the streams) where they do not exist yet."""
        for priority in self._priorities:
            stream = self._keys.stream_for(priority)
            try:
                with translate_errors():
                    await command(self._redis, "XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM")
            except Exception as exc:
                cause = exc.__cause__
                if not (isinstance(cause, rexc.ResponseError) and "BUSYGROUP" in str(cause)):
                    raise

    async def recover(self) -> int:
        """Hand back what an earlier process under this worker's name left pending."""
        n = await self._scripts.recover(self._consumer, _RECOVER_LIMIT, self._priorities)
        if n:
            logger.warning(
                "handed back %d tasks that an earlier process named %s left unfinished",
                n,
                self._consumer,
            )
        return n

    async def prune(self, *, own: bool) -> int:
        """Delete consumer-group members that hold nothing: this worker's own (at
        exit, ``own=True``), or those idle for over :data:`STALE_CONSUMER_S`
        (workers that were killed). Checked and deleted in one script, so a member
        that takes a delivery in between keeps it. Returns how many went.
        """
        removed = await self._scripts.prune(
            self._consumer, own=own, stale_ms=STALE_CONSUMER_S * 1000, priorities=self._priorities
        )
        if removed and not own:
            logger.info("removed %d consumer(s) that dead workers left in the group", removed)
        return removed

    async def prune_forever(self, interval: float) -> None:
        """Prune dead workers' members every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.prune(own=False)
            except Exception as exc:
                logger.warning("pruning the consumer group failed: %s", redact_text(str(exc)))
            await asyncio.sleep(interval)

    async def close(self) -> None:
        """At exit: leave no member behind in the consumer groups if this worker
        holds nothing."""
        try:
            await self.prune(own=True)
        except Exception as exc:
            logger.debug("could not leave the consumer group: %s", exc)
