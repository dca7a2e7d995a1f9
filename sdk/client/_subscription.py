"""Subscription state of the result listener: one record per waiter and per channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Channel", "Waiter"]


class Waiter:
    """One caller waiting for one outcome; woken whenever its state changes."""

    __slots__ = ("checked", "expired", "fut", "ready", "result")

    def __init__(self) -> None:
        self.ready = False  # our subscription is confirmed on the current connection
        self.checked = False  # the stored outcome was read (or the task sent) since `ready`
        self.expired = False
        self.result: bytes | None = None
        self.fut: asyncio.Future[None] | None = None

    def wake(self) -> None:
        """Resume the waiting caller so it looks at its state again."""
        fut = self.fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def changed(self) -> None:
        """Suspend until :meth:`wake` is called."""
        self.fut = asyncio.get_running_loop().create_future()
        try:
            await self.fut
        finally:
            self.fut = None

    def expire(self) -> None:
        """Mark the caller's wait as timed out (a timer callback)."""
        self.expired = True
        self.wake()


class Channel:
    """Subscription state of one channel: who waits, and what Redis knows."""

    __slots__ = ("callbacks", "routes", "state", "waiters")

    # state: "new" (to subscribe), "subscribing" (sent), "active", "unsubscribing" (sent)
    def __init__(self) -> None:
        self.state = "new"
        self.waiters: list[Waiter] = []
        self.callbacks: list[Callable[[bytes], None]] = []
        # an inbox: messages carry a task id and go to that task's waiters only
        self.routes: dict[str, list[Waiter]] | None = None

    @property
    def wanted(self) -> bool:
        """Whether anyone still needs this channel subscribed."""
        return bool(self.waiters or self.callbacks) or self.routes is not None

    def all_waiters(self) -> list[Waiter]:
        """Every waiter of the channel, routed (inbox) ones included."""
        if self.routes is None:
            return self.waiters
        return [w for ws in self.routes.values() for w in ws]
