"""Subscription state of the result listener: one record per waiter and per channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Channel", "Waiter"]


class Waiter:
    """One caller waiting for one message routed to it; woken whenever its state changes.

    :ivar ready: the channel it waits on is subscribed on the current connection
        (after a reconnect it is ``False`` until Redis confirms the subscription again).
    :ivar message: the routed message, once one arrived.
    :ivar error: set instead when the channel could not be subscribed.
    """

    __slots__ = ("error", "fut", "message", "ready")

    def __init__(self) -> None:
        self.ready = False
        self.message: bytes | None = None
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

    def all_waiters(self) -> list[Waiter]:
        """Every waiter of the channel, routed ones included."""
        routed = [w for ws in self.routes.values() for w in ws] if self.routes else []
        return self.watchers + routed
