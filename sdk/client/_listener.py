"""Delivery of outcomes to waiting callers over Redis pub/sub.

One :class:`ResultListener` per event loop and Redis URL owns one dedicated
pub/sub connection that every waiter of the process shares (every client of the
same server included). Each waiter subscribes to its task's channel *before* it
looks at the stored outcome (or, for a task it has not sent yet, before it sends
it), so an outcome published in between cannot be missed; nothing polls.

Subscriptions requested in the same loop iteration go out as one ``SUBSCRIBE``
with many channels, so a thousand concurrent waiters cost a handful of writes.

When the connection breaks, the listener reconnects with capped exponential
backoff and jitter, subscribes to every channel again, and tells each waiter to
re-check the stored outcome: an outcome published while it was disconnected is
found there.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from .._aio import stop_task
from .._redis import DEAD_PEER_S, is_unavailable
from .._wire import decode_inbox_message
from ..errors import ResultTimeout
from ._subscription import Channel, Waiter

__all__ = ["ResultListener"]

logger = logging.getLogger("relayq.client")

_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 5.0
_MGET_CHUNK = 1000
# an idle pub/sub connection gets a PING this often, so a dead one is noticed
# within the connection's read timeout instead of never
_PING_EVERY_S = 10.0


class ResultListener:
    """The shared pub/sub connection of one process (per event loop and Redis URL).

    Get it with :meth:`acquire` and give it back with :meth:`release`; the
    connection closes when the last client releases it.
    """

    _registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, ResultListener]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, redis: Redis, url: str) -> None:
        self._redis = redis
        self._url = url
        self._users = 0
        self._channels: dict[str, Channel] = {}
        self._dirty: set[str] = set()
        self._conn: AbstractConnection | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._checks: list[tuple[str, Waiter]] = []
        self._checker: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    def acquire(cls, redis: Redis, url: str) -> ResultListener:
        """The listener of the running loop for ``url``; created on first use."""
        loop = asyncio.get_running_loop()
        per_loop = cls._registry.setdefault(loop, {})
        listener = per_loop.get(url)
        if listener is None or listener._closed:
            listener = per_loop[url] = cls(redis, url)
        listener._users += 1
        return listener

    async def release(self) -> None:
        """Drop one user; the last one closes the connection."""
        self._users -= 1
        if self._users > 0:
            return
        self._closed = True
        per_loop = self._registry.get(asyncio.get_running_loop(), {})
        if per_loop.get(self._url) is self:
            del per_loop[self._url]
        for task in (self._reader, self._flusher, self._checker):
            await stop_task(task)
        if self._conn is not None:
            await self._conn.disconnect()
            self._conn = None

    # -- waiting -------------------------------------------------------------------

    async def open_inbox(self, channel: str) -> None:
        """Subscribe to a client's inbox channel and wait until Redis confirmed it."""
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = Channel()
        entry.routes = {}
        confirmed = Waiter()
        entry.routes[""] = [confirmed]  # never a task id: only sees the confirmation
        try:
            self._mark_dirty(channel)
            while not confirmed.ready:
                await confirmed.changed()
        finally:
            del entry.routes[""]

    def close_inbox(self, channel: str) -> None:
        """Stop listening on an inbox channel."""
        entry = self._channels.get(channel)
        if entry is not None and entry.routes is not None:
            entry.routes = None
            self._mark_dirty(channel)

    def inbox_ready(self, channel: str) -> bool:
        """Whether the inbox is subscribed right now (else callers subscribe per task)."""
        entry = self._channels.get(channel)
        return entry is not None and entry.routes is not None and entry.state == "active"

    async def wait(
        self,
        channel: str,
        result_key: str,
        send: Callable[[], Awaitable[None]] | None,
        timeout: float | None,
        inbox: tuple[str, str] | None = None,
    ) -> bytes:
        """Wait for the outcome published on ``channel`` (or already stored at ``result_key``).

        :param send: for a task not sent yet, the coroutine function that sends it;
            it runs once the subscription is confirmed, and then no stored outcome
            can exist yet. ``None`` for a task sent earlier.
        :param timeout: seconds to wait in all, ``None`` for no limit.
        :param inbox: ``(inbox channel, task id)`` when ``send`` names this inbox as the
            task's reply channel: the outcome arrives there, and no per-task
            subscription (one round trip) is needed.
        :raises ResultTimeout: no outcome within ``timeout``.
        """
        if self._closed:
            raise RuntimeError("the result listener was closed (the client is not connected)")
        waiter = Waiter()
        route = None
        if inbox is not None and send is not None and self.inbox_ready(inbox[0]):
            channel, route = inbox
        entry = self._watch(channel, waiter, route)
        timer = None
        if timeout is not None:
            timer = asyncio.get_running_loop().call_later(timeout, waiter.expire)
        try:
            while True:
                if waiter.result is not None:
                    return waiter.result
                if waiter.expired:
                    raise ResultTimeout(f"no outcome on {channel} within {timeout} s")
                if waiter.ready and not waiter.checked:
                    waiter.checked = True
                    if send is not None:
                        await send()
                        send = None  # a re-check after a reconnect reads the stored outcome
                        continue
                    self._check(result_key, waiter)
                await waiter.changed()
        finally:
            if timer is not None:
                timer.cancel()
            self._unwatch(channel, entry, waiter, route)

    def listen(self, channel: str, callback: Callable[[bytes], None]) -> Callable[[], None]:
        """Call ``callback(message)`` for every message on ``channel`` until the
        returned function is called. Resubscribed after reconnects like waiters.
        """
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = Channel()
        entry.callbacks.append(callback)
        if entry.state != "active":
            self._mark_dirty(channel)

        def stop() -> None:
            entry.callbacks.remove(callback)
            if not entry.wanted:
                self._mark_dirty(channel)

        return stop

    def _check(self, result_key: str, waiter: Waiter) -> None:
        """Queue a read of a stored outcome; reads of one loop iteration share an MGET."""
        self._checks.append((result_key, waiter))
        if self._checker is None or self._checker.done():
            self._checker = asyncio.get_running_loop().create_task(self._check_all())

    async def _check_all(self) -> None:
        await asyncio.sleep(0)  # gather the checks of this loop iteration
        delay = _BACKOFF_MIN_S
        while self._checks and not self._closed:
            batch, self._checks = self._checks[:_MGET_CHUNK], self._checks[_MGET_CHUNK:]
            try:
                stored = await self._redis.mget([key for key, _ in batch])
            except Exception as exc:
                # the outcome may be stored already and never published again: retry
                logger.warning("cannot read stored outcomes (%s); retrying", exc)
                self._checks[:0] = batch
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            for (_, waiter), raw in zip(batch, stored, strict=True):
                if raw is not None and waiter.result is None:
                    waiter.result = raw if isinstance(raw, bytes) else raw.encode()
                    waiter.wake()

    def _watch(self, channel: str, waiter: Waiter, route: str | None) -> Channel:
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = Channel()
        if route is not None and entry.routes is not None:
            # an active inbox: nothing to subscribe, the task is not sent yet
            entry.routes.setdefault(route, []).append(waiter)
            waiter.ready = True
            return entry
        entry.waiters.append(waiter)
        if entry.state == "active":
            waiter.ready = True
        else:
            self._mark_dirty(channel)
        return entry

    def _unwatch(self, channel: str, entry: Channel, waiter: Waiter, route: str | None) -> None:
        if route is not None:
            waiters = entry.routes.get(route, []) if entry.routes is not None else []
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters and entry.routes is not None:
                    del entry.routes[route]
            return
        entry.waiters.remove(waiter)
        if not entry.wanted:
            self._mark_dirty(channel)

    def _mark_dirty(self, channel: str) -> None:
        self._dirty.add(channel)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    # -- the connection ------------------------------------------------------------

    async def _flush(self) -> None:
        """Send the subscription changes that accumulated (one writer at a time)."""
        await asyncio.sleep(0)  # let every waiter of this loop iteration register first
        while self._dirty and not self._closed:
            if self._reader is None or self._reader.done():
                self._reader = asyncio.get_running_loop().create_task(self._read_forever())
            await self._connected.wait()
            subscribe, unsubscribe = self._plan()
            conn = self._conn
            if conn is None:
                continue
            try:
                if subscribe:
                    await conn.send_command("SUBSCRIBE", *subscribe)
                if unsubscribe:
                    await conn.send_command("UNSUBSCRIBE", *unsubscribe)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                # the reader notices the broken connection and resubscribes everything

    def _plan(self) -> tuple[list[str], list[str]]:
        """Turn the dirty channels into (to subscribe, to unsubscribe), updating states."""
        subscribe, unsubscribe = [], []
        for channel in self._dirty:
            entry = self._channels.get(channel)
            if entry is None:
                continue
            wanted = entry.wanted
            if wanted and entry.state == "new":
                entry.state = "subscribing"
                subscribe.append(channel)
            elif not wanted and entry.state == "active":
                entry.state = "unsubscribing"
                unsubscribe.append(channel)
            elif not wanted and entry.state == "new":
                del self._channels[channel]
        self._dirty.clear()
        return subscribe, unsubscribe

    async def _read_forever(self) -> None:
        delay = _BACKOFF_MIN_S
        outage = False
        while not self._closed:
            try:
                pool = self._redis.connection_pool
                # an idle subscriber reads with a timeout: with the PINGs below, a
                # dead connection is noticed within DEAD_PEER_S
                conn = pool.connection_class(
                    **{**pool.connection_kwargs, "socket_timeout": DEAD_PEER_S}
                )
                await conn.connect()  # type: ignore[no-untyped-call]
                self._conn = conn
                self._on_connected()
                if outage:
                    logger.warning("result listener reconnected to Redis")
                    outage = False
                delay = _BACKOFF_MIN_S
                pinger = asyncio.get_running_loop().create_task(self._ping_forever(conn))
                try:
                    while True:
                        self._dispatch(await conn.read_response(disconnect_on_error=True))
                finally:
                    pinger.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_unavailable(exc):
                    logger.exception("result listener failed; reconnecting")
                elif not outage:
                    logger.warning("result listener lost Redis (%s); reconnecting", exc)
                outage = True
                self._on_disconnected()
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, _BACKOFF_MAX_S)

    async def _ping_forever(self, conn: AbstractConnection) -> None:
        while True:
            await asyncio.sleep(_PING_EVERY_S)
            try:
                await conn.send_command("PING")
            except Exception:
                return  # the reader sees the broken connection and reconnects

    def _on_connected(self) -> None:
        for channel, entry in self._channels.items():
            entry.state = "new"
            self._dirty.add(channel)
        self._connected.set()
        if self._dirty:
            self._mark_dirty(next(iter(self._dirty)))

    def _on_disconnected(self) -> None:
        self._connected.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            # drop the socket without awaiting: the reader is the only user of it
            asyncio.get_running_loop().create_task(conn.disconnect())
        for entry in self._channels.values():
            for waiter in entry.all_waiters():
                waiter.ready = waiter.checked = False

    def _deliver(self, channel: str, entry: Channel, data: bytes) -> None:
        if entry.routes is not None:
            task_id, data = decode_inbox_message(data)
            waiters = entry.routes.get(task_id, [])
        else:
            waiters = entry.waiters
        for waiter in waiters:
            waiter.result = data
            waiter.wake()
        for callback in list(entry.callbacks):
            try:
                callback(data)
            except Exception:
                logger.exception("pub/sub callback for %s failed", channel)

    def _dispatch(self, reply: Any) -> None:
        if reply[0] == b"pong":
            return
        kind, raw_channel, data = reply[0], reply[1], reply[2]
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        entry = self._channels.get(channel)
        if entry is None:
            return
        if kind == b"message":
            self._deliver(channel, entry, data)
        elif kind == b"subscribe":
            entry.state = "active"
            for waiter in entry.all_waiters():
                waiter.ready = True
                waiter.wake()
            if not entry.wanted:
                self._mark_dirty(channel)
        elif kind == b"unsubscribe" and entry.state == "unsubscribing":
            if entry.wanted:
                entry.state = "new"
                self._mark_dirty(channel)
            else:
                del self._channels[channel]
