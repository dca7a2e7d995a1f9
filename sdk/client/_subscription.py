"""Subscription state of the result listener: one record per waiter and per channel."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from .._live import KIND_OUTCOME, decode_inbox_message

__all__ = ["Channel", "Waiter"]

logger = logging.getLogger("relayq.client")

#: Live messages kept for one watcher that does not keep up; past this they are
#: dropped and the watcher reads back from Redis instead (memory stays bounded).
LIVE_CAP = 256


class Waiter:
    """One caller waiting for one message routed to it; woken whenever its state changes.

    :ivar ready: the channel it waits on is subscribed on the current connection
        (after a reconnect it is ``False`` until Redis confirms the subscription again).
    :ivar message: the routed outcome, once one arrived.
    :ivar live: for a live watcher, the progress reports and item batches routed
        to it, oldest first, as ``(kind, body)``; ``None`` for a waiter that only
        wants the outcome (they are not kept for it).
    :ivar overflowed: live messages were dropped (the watcher fell more than
        :data:`LIVE_CAP` behind): it must read back what it missed.
    :ivar error: set instead when the channel could not be subscribed.
    """

    __slots__ = ("error", "fut", "live", "message", "overflowed", "ready")

    def __init__(self, *, live: bool = False) -> None:
        self.ready: bool = False
        self.message: bytes | None = None
        self.live: deque[tuple[str, bytes]] | None = deque() if live else None
        self.overflowed: bool = False
        self.error: BaseException | None = None
        self.fut: asyncio.Future[None] | None = None

    def wake(self) -> None:
        """Resume the waiting caller so it looks at its state again."""
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def future(self) -> asyncio.Future[None]:
        """A future that :meth:`wake` resolves (to wait for it beside something else)."""
        self.fut = asyncio.get_running_loop().create_future()
        return self.fut

    async def changed(self) -> None:
        """Suspend until :meth:`wake` is called."""
        try:
            await self.future()
        finally:
            self.fut = None


class Channel:
    """Subscription state of one channel: who waits on it, and what Redis knows.

    A channel is an inbox (messages carry a task id and go to that task's waiters,
    see ``routes``), has plain callbacks (the worker's control channel), or both.
    """

    __slots__ = ("callbacks", "routes", "state", "watchers")

    # state: "new" (to subscribe), "subscribing" (sent), "active", "unsubscribing" (sent)
    def __init__(self) -> None:
        self.state = "new"
        self.callbacks: list[Callable[[bytes], None]] = []
        #: task id -> the waiters of that task (an open inbox; ``None`` when closed)
        self.routes: dict[str, list[Waiter]] | None = None
        #: waiters of the subscription itself (an inbox being opened)
        self.watchers: list[Waiter] = []

    @property
    def wanted(self) -> bool:
        """Whether anyone still needs this channel subscribed."""
        return bool(self.callbacks or self.watchers) or self.routes is not None

    def route(self, data: bytes) -> None:
        """Hand an inbox message to the waiters of its task (and wake them)."""
        if not self.routes:
            return
        try:
            kind, task_id, body = decode_inbox_message(data)
        except (ValueError, UnicodeDecodeError):
            logger.warning("dropped a malformed message on an inbox channel (%d bytes)", len(data))
            return
        for waiter in self.routes.get(task_id, ()):
            if kind == KIND_OUTCOME:
                waiter.message = body
            elif waiter.live is not None:
                if len(waiter.live) >= LIVE_CAP:
                    waiter.live.clear()
                    waiter.overflowed = True
                waiter.live.append((kind, body))
            else:
                continue
            waiter.wake()

    def all_waiters(self) -> list[Waiter]:
        """Every waiter of the channel, routed ones included."""
        routed = [w for ws in self.routes.values() for w in ws] if self.routes else []
        return self.watchers + routed
