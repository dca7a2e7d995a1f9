"""Waiting for an outcome: one path for every caller, however the task was sent.

A waiter listens on its client's inbox (one subscription per client, made at
connect) for its task id. Then exactly one of two things makes sure the
outcome will reach it:

- the caller sends the task itself with the client's route (``enqueue.lua``
  records it, also on a live twin with the same id), or
- the caller waits for a task sent earlier: ``watch.lua`` adds the route to the
  live task, or returns its stored outcome, or says it is nowhere, all in one
  atomic step, so nothing can finish unseen in between.

Every script that ends a task (finish, abort) delivers its outcome to all
routes. After the listener lost its connection, a waiter watches again: an
outcome published meanwhile is found stored. A wait therefore always ends: with
the outcome, :class:`ResultTimeout`, or :class:`TaskNotFound`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .._models import TaskOutcome
from .._scripts import WatchReply
from ..errors import ResultTimeout, SerializationError, TaskNotFound
from ._listener import ResultListener
from ._subscription import Waiter

__all__ = ["Wait"]

logger = logging.getLogger("relayq.client")


class Wait:
    """One caller waiting for the outcome of one task (use with ``async with``).

    :param watch: looks at the task once (see :meth:`Scripts.watch`): a future the
        client's batched watcher resolves.
    :param decode: turns a stored or published outcome into a :class:`TaskOutcome`.
    """

    __slots__ = (
        "_decode",
        "_expired",
        "_inbox",
        "_listener",
        "_timeout",
        "_timer",
        "_waiter",
        "_watch",
        "task_id",
    )

    def __init__(
        self,
        listener: ResultListener,
        inbox: str,
        task_id: str,
        timeout: float | None,
        watch: Callable[[str], asyncio.Future[WatchReply]],
        decode: Callable[[str, bytes], TaskOutcome[Any]],
    ) -> None:
        self._listener = listener
        self._inbox = inbox
        self.task_id: str = task_id
        self._timeout = timeout
        self._watch = watch
        self._decode = decode
        self._waiter: Waiter | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    async def __aenter__(self) -> Wait:
        self._waiter = self._listener.expect(self._inbox, self.task_id)
        if self._timeout is not None:
            self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._waiter is not None:
            self._listener.forget(self._inbox, self.task_id, self._waiter)

    def _expire(self) -> None:
        self._expired = True
        if self._waiter is not None:
            self._waiter.wake()

    @property
    def _w(self) -> Waiter:
        if self._waiter is None:
            raise RuntimeError("use `async with` around a Wait")
        return self._waiter

    def _check(self) -> None:
        waiter = self._w
        if waiter.error is not None:
            raise waiter.error
        if self._expired:
            raise ResultTimeout(f"no outcome of task {self.task_id} within {self._timeout} s")

    async def subscribed(self) -> None:
        """Wait until the inbox is subscribed on the listener's current connection.

        :raises ResultTimeout: not before the wait's timeout.
        """
        waiter = self._w
        while not waiter.ready:
            self._check()
            await waiter.changed()

    async def outcome(self, *, routed: bool) -> TaskOutcome[Any]:
        """Wait for the outcome.

        :param routed: the caller just sent the task with this client's route, so
            the outcome will be published to us; else the task is watched first.
        :raises ResultTimeout: no outcome within the wait's timeout.
        :raises TaskNotFound: the task is nowhere.
        """
        waiter = self._w
        watched = routed
        bad_message: SerializationError | None = None
        while True:
            message = waiter.message
            if message is not None:
                waiter.message = None
                try:
                    return self._decode(self.task_id, message)
                except SerializationError as exc:
                    # a published message we cannot read (forged, or garbage): the
                    # stored outcome is the authority, so look there
                    logger.warning(
                        "task %s: ignored an unreadable outcome message: %s", self.task_id, exc
                    )
                    bad_message, watched = exc, False
                    continue
            self._check()
            if not waiter.ready:
                watched = False  # the listener reconnected: messages may have been missed
                await waiter.changed()
                continue
            if not watched:
                watched = True
                reply = await self._watched()
                if isinstance(reply, bytes):
                    return self._decode(self.task_id, reply)
                if reply is False:
                    if bad_message is not None:
                        raise bad_message
                    raise TaskNotFound(self.task_id)
                continue
            await waiter.changed()

    async def _watched(self) -> WatchReply:
        """Watch the task, giving up when the wait's timeout runs out first (the
        client retries a watch while Redis is away; the caller's timeout still holds)."""
        watch = self._watch(self.task_id)
        waiter = self._w
        while not watch.done():
            await asyncio.wait((watch, waiter.future()), return_when=asyncio.FIRST_COMPLETED)
            waiter.fut = None
            if not watch.done():
                self._check()
        return watch.result()
