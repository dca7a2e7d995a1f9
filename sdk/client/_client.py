"""``Client``: the enqueue side of a queue, for services that never import worker code."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Final, TypeVar

from redis.asyncio import Redis
from typing_extensions import Self, Unpack

from .. import _codec
from .._aio import Backoff, GroupCommit, Supervisor
from .._envelope import DEFAULT_TTL_MS, NewTask, new_task_id
from .._keys import Keys
from .._models import TaskInfo, TaskOutcome, TaskStatus
from .._outcome import decode_outcome
from .._permissions import require_permissions
from .._redis import connect, is_unavailable, translate_errors
from .._scripts import ENQUEUE_CHUNK, Scripts, ViewReply, WatchReply
from .._signing import Signer
from .._time import seconds
from ..errors import NotConnected, RedisUnavailable
from ._config import ClientConfig, ClientOptions
from ._control import BackgroundAborts, abort_task, reschedule_task, task_status
from ._listener import ResultListener
from ._request import TaskRequest, new_task, new_tasks
from ._result import TaskResult, send_all
from ._stub import StubDecorator
from ._viewing import View
from ._waiting import Wait

__all__ = ["Client"]

T = TypeVar("T")

_WATCH_CHUNK: Final = 1000

# a send and the future its caller awaits (None: written in the caller's own task)
_Send = tuple[NewTask, "asyncio.Future[None] | None"]
_Watch = tuple[str, "asyncio.Future[WatchReply]"]


def _retrieved(fut: asyncio.Future[Any]) -> None:
    # a waiter that gave up never reads its watch: asyncio must not report that
    if not fut.cancelled():
        fut.exception()


class Client:
    """Connection to one queue for enqueueing tasks and awaiting their outcomes.

    ::

        client = Client(redis_url="redis://localhost:6379", queue_name="default")

        @client.stub()
        async def fetch(url: str) -> int:
            raise NotImplementedError

        async with client:
            n = await fetch.enqueue("https://example.com").result(timeout=10)

    :param redis_url: Redis to use; default ``$REDIS_URL``, else ``redis://localhost:6379``.
    :param queue_name: the queue (must match the workers').
    :param options: see :class:`~sdk.client.ClientOptions`: ``serializer``,
        ``deserializer``, ``max_payload_bytes``, ``signing_key``, ``signing_ttl``,
        ``priorities``, ``default_priority``.
    :raises ConfigurationError: an invalid or unknown option.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        queue_name: str = "default",
        **options: Unpack[ClientOptions],
    ) -> None:
        self.config: ClientConfig = ClientConfig.build(redis_url, queue_name, options)
        #: This client's id: its inbox channel receives the outcomes its callers wait for.
        self.client_id: str = os.urandom(8).hex()
        self._inbox = self.config.keys.inbox(self.client_id)
        self._entered = 0
        self._redis: Redis | None = None
        self._scripts: Scripts | None = None
        self._listener: ResultListener | None = None
        self._supervisor: Supervisor | None = None
        self._sends: GroupCommit[_Send] | None = None
        self._watches: GroupCommit[_Watch] | None = None
        self._aborts: BackgroundAborts | None = None

    def __repr__(self) -> str:
        return f"<Client queue={self.queue_name!r} url={self.config.safe_url!r}>"

    @property
    def queue_name(self) -> str:
        """The queue this client sends to."""
        return self.config.queue_name

    @property
    def redis_url(self) -> str:
        """The Redis URL (with its password, if any: show :attr:`safe_url` instead)."""
        return self.config.redis_url

    @property
    def safe_url(self) -> str:
        """The Redis URL without its password."""
        return self.config.safe_url

    @property
    def keys(self) -> Keys:
        """The queue's key schema."""
        return self.config.keys

    @property
    def serializer(self) -> _codec.Serializer:
        """Encodes arguments (and, in workers, results)."""
        return self.config.serializer

    @property
    def deserializer(self) -> _codec.Deserializer:
        """The inverse of :attr:`serializer`."""
        return self.config.deserializer

    @property
    def signer(self) -> Signer | None:
        """Signs tasks and seals outcomes (``None`` without a ``signing_key``)."""
        return self.config.signer

    @property
    def priorities(self) -> tuple[str, ...]:
        """The queue's named priorities, highest first."""
        return self.config.priorities.names

    @property
    def default_priority(self) -> str:
        """The priority of tasks started without one."""
        return self.config.priorities.default

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered == 0:
            await self._connect()
        self._entered += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered == 0:
            await self._close()

    async def _connect(self) -> None:
        redis = connect(self.redis_url)
        scripts = Scripts(redis, self.keys)
        try:
            try:
                with translate_errors():
                    await redis.ping()
                await require_permissions(scripts, "client")
            except RedisUnavailable as exc:
                raise RedisUnavailable(
                    f"cannot connect to Redis at {self.safe_url}: {exc}"
                ) from exc
            listener = ResultListener.acquire(redis, self.redis_url)
            try:
                await listener.subscribe(self._inbox)
            except BaseException:
                await listener.release()
                raise
        except BaseException:
            await redis.aclose()
            raise
        self._redis, self._scripts, self._listener = redis, scripts, listener
        supervisor = self._supervisor = Supervisor(f"client of queue {self.queue_name!r}")
        self._sends = GroupCommit(supervisor, "enqueue", self._write_sends, ENQUEUE_CHUNK)
        self._watches = GroupCommit(supervisor, "watch", self._write_watches, _WATCH_CHUNK)
        self._aborts = BackgroundAborts(supervisor, self._sends, self.abort)

    async def _close(self) -> None:
        if self._sends is not None:
            await self._sends.drain()  # every send a caller awaits gets its answer
        if self._aborts is not None:  # the aborts of cancelled callers still reach Redis
            await self._aborts.drain()
        if self._listener is not None:
            self._listener.unsubscribe(self._inbox)  # waiting callers fail with NotConnected
            await self._listener.release()
        if self._supervisor is not None:
            await self._supervisor.stop()
        if self._redis is not None:
            await self._redis.aclose()
        self._redis = self._scripts = self._listener = None
        self._supervisor = self._sends = self._watches = self._aborts = None

    @property
    def connected(self) -> bool:
        """Whether ``async with`` has connected this client."""
        return self._redis is not None

    def _not_connected(self) -> NotConnected:
        return NotConnected(
            f"{self!r} is not connected; use `async with client:` (or `async with worker:`)"
        )

    @property
    def redis(self) -> Redis:
        """The redis-py client (only while connected).

        :raises NotConnected: outside ``async with client:``.
        """
        if self._redis is None:
            raise self._not_connected()
        return self._redis

    @property
    def scripts(self) -> Scripts:
        """The queue's scripts on this client's connection (only while connected)."""
        if self._scripts is None:
            raise self._not_connected()
        return self._scripts

    async def listen(self, channel: str, callback: Callable[[bytes], None]) -> Callable[[], None]:
        """Call ``callback`` with every message on ``channel`` (this process' shared
        pub/sub connection) until the returned function is called.

        :raises ConfigurationError: the Redis user may not subscribe to it.
        """
        if self._listener is None:
            raise self._not_connected()
        return await self._listener.listen(channel, callback)

    # -- declaring and building calls ----------------------------------------------

    def stub(
        self,
        *,
        name: str | None = None,
        unique: bool = False,
        ttl: timedelta | float | None = None,
    ) -> StubDecorator:
        """Declare a task this service calls but does not implement.

        The decorated function's signature is the contract (without the worker's
        ``ctx`` parameter); its body never runs. A streaming task is declared as an
        async generator (``-> AsyncIterator[Item]`` with a ``yield`` in the body)
        and becomes a :class:`StreamRef`.

        :param name: the task's registered name; default the function's ``__name__``.
        :param unique: match the worker's ``unique=True`` (one live instance per
            arguments); it decides the task id, so it must be declared here too.
        :param ttl: how long an outcome written on the task's behalf before a worker
            ran it (an abort) is kept; default 5 minutes, as the worker's ``ttl``.
        """
        ttl_s = seconds(ttl, "ttl")
        ttl_ms = DEFAULT_TTL_MS if ttl_s is None else int(ttl_s * 1000)
        return StubDecorator(self, name, unique, ttl_ms)

    def enqueue_unsafe(self, fn_name: str, /, *args: Any, **kwargs: Any) -> TaskResult[Any]:
        """Build a call of a task by name, for dynamic callers; nothing is type-checked.

        Arguments are bound against the real signature only in the worker; a
        mismatch fails the task with a clear ``TaskFailed``.
        """
        return TaskResult(self, TaskRequest(fn_name, args, kwargs, new_task_id()))

    def handle(self, task_id: str, fn_name: str = "?") -> TaskResult[Any]:
        """An untyped handle on a task sent earlier, by id (``TaskRef.handle`` is typed)."""
        return TaskResult.existing(self, fn_name, task_id)

    async def enqueue_many(self, handles: Iterable[TaskResult[T]]) -> list[TaskResult[T]]:
        """Send many task calls in one round trip (a pipeline of batched Lua calls).

        Every payload is encoded (and checked) before anything is sent, so a bad
        argument sends nothing. Returns the handles, in order.
        """
        return await send_all(self, handles)

    # -- the Sender protocol of TaskResult ---------------------------------------------

    def resolve_priority(self, name: str | None) -> str:
        """Check a priority name (``None``: the queue's default).

        :raises ConfigurationError: not one of this queue's priorities.
        """
        return self.config.priorities.resolve(name)

    async def send(self, request: TaskRequest, *, reply: bool) -> None:
        """Send one task; with ``reply`` its outcome is routed to this client's inbox.

        Sends made while another is in flight go out together in one call.
        """
        sends = self._sends
        if sends is None:
            raise self._not_connected()
        task = new_task(self.config, request, self.client_id if reply else "")
        if sends.idle:
            await sends.write_now((task, None))  # raises what the write raised
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sends.add((task, fut))
        await fut

    async def _write_sends(self, batch: list[_Send]) -> None:
        try:
            await self.scripts.enqueue([task for task, _ in batch])
        except Exception as exc:
            for _, fut in batch:
                if fut is None:
                    raise  # written now, in its caller's task
                if not fut.done():
                    fut.set_exception(exc)
            return
        for _, fut in batch:
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def send_many(self, requests: Sequence[TaskRequest]) -> None:
        """Send many tasks in one round trip; all are encoded before any is sent."""
        tasks = new_tasks(self.config, requests, "")
        await self.scripts.enqueue(tasks)

    def wait(self, task_id: str, timeout: float | None) -> Wait:
        """A wait for the outcome of ``task_id``, over this client's inbox (``async with``)."""
        if self._listener is None:
            raise self._not_connected()
        return Wait(self._listener, self._inbox, task_id, timeout, self._watch, self._decode)

    def view(self, task_id: str) -> View:
        """A live watch of ``task_id``'s progress or items, over this client's inbox."""
        if self._listener is None:
            raise self._not_connected()
        scripts, client_id = self.scripts, self.client_id

        def read(after: str, count: int) -> Awaitable[ViewReply]:
            return scripts.view(client_id, task_id, after, count)

        config = self.config
        listener, inbox = self._listener, self._inbox
        return View(
            listener, inbox, task_id, read, self._decode, config.signer, config.deserializer
        )

    def _watch(self, task_id: str) -> asyncio.Future[WatchReply]:
        if self._watches is None:
            raise self._not_connected()
        fut: asyncio.Future[WatchReply] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieved)
        self._watches.add((task_id, fut))
        return fut

    async def _write_watches(self, batch: list[_Watch]) -> None:
        backoff = Backoff()
        while True:
            try:
                replies = await self.scripts.watch(self.client_id, [t for t, _ in batch])
                break
            except Exception as exc:
                if is_unavailable(exc) and self._redis is not None:
                    await backoff.retry()  # a waiter's own timeout bounds its wait
                    continue
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                return
        for (_, fut), reply in zip(batch, replies, strict=True):
            if not fut.done():
                fut.set_result(reply)

    def _decode(self, task_id: str, stored: bytes) -> TaskOutcome[Any]:
        return decode_outcome(self.config.deserializer, task_id, stored, self.config.signer)

    async def abort(self, task_id: str, timeout: float | None) -> bool:
        """Abort a task; see :meth:`TaskResult.abort`."""
        return await abort_task(self.scripts, self.signer, self.wait, task_id, timeout)

    def abort_soon(self, task_id: str) -> None:
        """Abort a task in the background (its caller was cancelled), after every send
        queued so far went out: a send of it still in flight lands first."""
        if self._aborts is not None:
            self._aborts.add(task_id)

    async def reschedule(self, task_id: str, due_ms: int) -> bool:
        """Move a scheduled task to ``due_ms`` (0: unschedule it)."""
        return await reschedule_task(self.scripts, self.signer, task_id, due_ms)

    async def status(self, task_id: str) -> tuple[TaskStatus, TaskInfo | None]:
        """Where a task is, and its details while it is live."""
        return await task_status(self.scripts, self.signer, task_id)
