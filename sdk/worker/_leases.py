"""Keeping the leases of held deliveries fresh, and noticing the ones that are gone.

A worker holds a lease on every delivery it has taken: its consumer-group
pending entry. Every third of the lease it resets their idle time
(``renew.lua``); entries idle for a whole lease belong to a worker that died or
stalled, and another worker reclaims them (``fetch.lua``). A renewal also
reports deliveries that are no longer the task's current one (reclaimed after
a stall of ours, or superseded): those runs are cancelled, since their outcome
would be fenced out anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from .._redact import redact_text
from .._scripts import Scripts
from ._delivery import LeaseConfig
from ._dispatch import Dispatcher

__all__ = ["Leases"]

logger = logging.getLogger("relayq.worker")

_RENEW_CHUNK: Final = 500


class Leases:
    """Renews the leases of one worker's held deliveries."""

    def __init__(
        self, scripts: Scripts, consumer: str, lease: LeaseConfig, dispatcher: Dispatcher
    ) -> None:
        self._scripts = scripts
        self._consumer = consumer
        self._lease = lease
        self._dispatcher = dispatcher

    async def renew_forever(self) -> None:
        """Renew every ``renew_s`` until cancelled; a failed renewal is retried next time."""
        while True:
            await asyncio.sleep(self._lease.renew_s)
            try:
                await self.renew()
            except Exception as exc:
                logger.warning("cannot renew leases (%s); will retry", redact_text(str(exc)))

    async def renew(self) -> None:
        """Renew every held delivery once (in chunks)."""
        held = [d for d in self._dispatcher.held.values() if not d.lost]
        for lo in range(0, len(held), _RENEW_CHUNK):
            chunk = held[lo : lo + _RENEW_CHUNK]
            lost, aborting = await self._scripts.renew(self._consumer, chunk)
            for i in aborting:
                self._dispatcher.abort_delivery(chunk[i])
            for i in lost:
                self._dispatcher.lose(chunk[i])
