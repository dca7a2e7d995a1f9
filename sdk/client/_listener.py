"""The one pub/sub connection of a process, and the messages it routes.

One :class:`ResultListener` per event loop and Redis URL owns one dedicated
pub/sub connection that every client of the process shares. It only listens:
it subscribes the channels it is asked to (each client's inbox, a worker's
control channel), routes each inbox message to the waiters of its task id, and
calls the callbacks of plain channels. Sending tasks and reading stored
outcomes is the client's business (see :mod:`sdk.client._waiting`).

Subscriptions requested in the same loop iteration go out as one ``SUBSCRIBE``.
When the connection breaks, the listener reconnects with capped backoff and
subscribes everything again; every waiter is marked not ready until Redis
confirms its channel, so its caller knows to look at the stored outcome again.
A channel this Redis user may not subscribe to fails its waiters with a
:class:`~sdk.errors.ConfigurationError` instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from .._aio import Backoff, Supervisor
from .._redact import redact_text, redact_url
from .._redis import ACL_DOCS, DEAD_PEER_S, is_unavailable
from ..errors import ConfigurationError, NotConnected
from ._subscription import Channel, Waiter

__all__ = ["ResultListener"]

logger = logging.getLogger("relayq.client")

# an idle pub/sub connection gets a PING this often, so a dead one is noticed
# within the connection's read timeout instead of never
_PING_EVERY_S = 10.0


class ResultListener:
    """The shared pub/sub connection of one process (per event loop and Redis URL).

    Get it with :meth:`acquire` and give it back with :meth:`release`; the
    connection closes when the last user releases it.
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
        self._changed = asyncio.Event()
        self._conn: AbstractConnection | None = None
        self._connected = asyncio.Event()
        # SUBSCRIBE commands sent and not yet confirmed, oldest first: an error
        # reply (NOPERM) belongs to the oldest
        self._inflight: deque[set[str]] = deque()
        self._supervisor = Supervisor(f"result listener for {redact_url(url)}")
        self._started = False
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
        await self._supervisor.stop()
        if self._conn is not None:
            await self._conn.disconnect()
            self._conn = None

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        # both loops are awaited by release() (Supervisor.stop), in reverse order
        self._supervisor.start("reader", self._read_forever())
        self._supervisor.start("subscriber", self._subscribe_forever())

    # -- what callers ask for ------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        """Subscribe to a channel that messages are routed on (a client's inbox) and
        wait until Redis confirmed it; messages carrying a task id go to the
        waiters :meth:`expect` registers.

        :raises ConfigurationError: this Redis user may not subscribe to ``channel``.
        """
        entry = self._entry(channel)
        entry.routes = {}
        await self._confirm(channel, entry)

    async def listen(self, channel: str, callback: Callable[[bytes], None]) -> Callable[[], None]:
        """Call ``callback(message)`` for every message on ``channel`` (resubscribed
        after reconnects) until the returned function is called; returns once
        Redis confirmed the subscription.

        :raises ConfigurationError: this Redis user may not subscribe to ``channel``.
        """
        entry = self._entry(channel)
        entry.callbacks.append(callback)

        def stop() -> None:
            if callback in entry.callbacks:
                entry.callbacks.remove(callback)
            if not entry.wanted:
                self._mark_dirty(channel)

        try:
            await self._confirm(channel, entry)
        except BaseException:
            stop()
            raise
        return stop

    async def _confirm(self, channel: str, entry: Channel) -> None:
        confirmed = Waiter()
        confirmed.ready = entry.state == "active"
        entry.watchers.append(confirmed)
        try:
            self._mark_dirty(channel)
            while not confirmed.ready:
                if confirmed.error is not None:
                    raise confirmed.error
                await confirmed.changed()
        finally:
            if confirmed in entry.watchers:
                entry.watchers.remove(confirmed)

    def unsubscribe(self, channel: str) -> None:
        """Stop routing messages of ``channel``; its waiters fail with :class:`NotConnected`."""
        entry = self._channels.get(channel)
        if entry is not None and entry.routes is not None:
            routes, entry.routes = entry.routes, None
            for waiters in routes.values():
                for waiter in waiters:
                    waiter.error = NotConnected("the client was closed while a caller waited")
                    waiter.wake()
            self._mark_dirty(channel)

    def expect(self, channel: str, task_id: str, *, live: bool = False) -> Waiter:
        """A waiter for the outcome routed to ``task_id`` on a subscribed channel (and,
        ``live``, its progress and items); give it back with :meth:`forget`."""
        waiter = Waiter(live=live)
        entry = self._channels.get(channel)
        if entry is None or entry.routes is None:
            waiter.error = RuntimeError(f"{channel} is not subscribed (the client is closed)")
            return waiter
        entry.routes.setdefault(task_id, []).append(waiter)
        waiter.ready = entry.state == "active"
        return waiter

    def forget(self, channel: str, task_id: str, waiter: Waiter) -> None:
        """Drop a waiter :meth:`expect` gave out."""
        entry = self._channels.get(channel)
        if entry is None or entry.routes is None:
            return
        waiters = entry.routes.get(task_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del entry.routes[task_id]

    def _entry(self, channel: str) -> Channel:
        if self._closed:
            raise RuntimeError("the result listener was closed (the client is not connected)")
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = Channel()
        return entry

    def _mark_dirty(self, channel: str) -> None:
        self._dirty.add(channel)
        self._changed.set()
        self._start()

    # -- the connection ------------------------------------------------------------

    async def _subscribe_forever(self) -> None:
        """Send the subscription changes that accumulated, one batch at a time."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(0)  # let every caller of this loop iteration register first
            self._changed.clear()
            await self._connected.wait()
            subscribe, unsubscribe = self._plan()
            conn = self._conn
            if conn is None:
                continue  # _on_connected marks everything to subscribe again
            try:
                if subscribe:
                    self._inflight.append(set(subscribe))
                    await conn.send_command("SUBSCRIBE", *subscribe)
                if unsubscribe:
                    await conn.send_command("UNSUBSCRIBE", *unsubscribe)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                # the reader notices the broken connection and subscribes everything again

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
        backoff = Backoff()
        while True:
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
                if backoff.recovered():
                    logger.warning("result listener reconnected to Redis")
                # awaited by Supervisor.stop or cancelled below when the connection ends
                pinger = self._supervisor.spawn(self._ping_forever(conn), report=False)
                try:
                    await self._read(conn)
                finally:
                    pinger.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not backoff.outage:
                    if is_unavailable(exc):
                        logger.warning(
                            "result listener lost Redis (%s); reconnecting", redact_text(str(exc))
                        )
                    else:
                        logger.exception("result listener failed; reconnecting")
                self._on_disconnected()
                await backoff.retry()

    async def _read(self, conn: AbstractConnection) -> None:
        while True:
            try:
                reply = await conn.read_response(disconnect_on_error=True)
            except rexc.ResponseError as exc:
                # an error reply, not a broken connection: a SUBSCRIBE was refused
                self._refused(exc)
                continue
            self._dispatch(reply)

    async def _ping_forever(self, conn: AbstractConnection) -> None:
        while True:
            await asyncio.sleep(_PING_EVERY_S)
            try:
                await conn.send_command("PING")
            except Exception:
                return  # the reader sees the broken connection and reconnects

    def _on_connected(self) -> None:
        self._inflight.clear()
        for channel, entry in self._channels.items():
            entry.state = "new"
            self._dirty.add(channel)
        self._connected.set()
        if self._dirty:
            self._changed.set()

    def _on_disconnected(self) -> None:
        self._connected.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            # drop the socket without waiting: the reader was its only user
            self._supervisor.spawn(conn.disconnect(), report=False)
        for entry in self._channels.values():
            # nothing is subscribed any more: a waiter registered from now on must
            # not believe it is (it would rely on a publish that reaches nobody)
            entry.state = "new"
            for waiter in entry.all_waiters():
                if waiter.ready:
                    waiter.ready = False
                    waiter.wake()

    def _refused(self, exc: rexc.ResponseError) -> None:
        """Fail the channels of the oldest unconfirmed SUBSCRIBE: Redis refused it."""
        if not self._inflight:
            logger.warning("result listener: Redis refused a command: %s", redact_text(str(exc)))
            return
        channels = self._inflight.popleft()
        for channel in channels:
            entry = self._channels.pop(channel, None)
            if entry is None:
                continue
            error = ConfigurationError(
                f"the Redis user may not subscribe to {channel} ({redact_text(str(exc))}); "
                f"relayq needs the channels &{channel.rsplit(':', 2)[0]}:*, see {ACL_DOCS}"
            )
            for waiter in entry.all_waiters():
                waiter.error = error
                waiter.wake()
            if entry.callbacks:
                logger.error("%s", error)

    def _deliver(self, entry: Channel, data: bytes) -> None:
        entry.route(data)
        for callback in list(entry.callbacks):
            try:
                callback(data)
            except Exception:
                logger.exception("pub/sub callback failed")

    def _dispatch(self, reply: Any) -> None:
        kind = reply[0]
        if kind == b"pong" or len(reply) < 3:
            return
        raw_channel, data = reply[1], reply[2]
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        entry = self._channels.get(channel)
        if kind == b"subscribe":
            self._confirmed(channel)
        if entry is None:
            return
        if kind == b"message":
            self._deliver(entry, data)
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

    def _confirmed(self, channel: str) -> None:
        if self._inflight and channel in self._inflight[0]:
            self._inflight[0].discard(channel)
            if not self._inflight[0]:
                self._inflight.popleft()
