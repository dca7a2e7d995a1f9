"""``Client``: the enqueue side of a queue, for services that never import worker code."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

from redis.asyncio import Redis
from typing_extensions import ParamSpec, Self

from .. import _codec
from .._keys import Keys
from .._models import TaskOutcome
from .._redis import ENQUEUE, connect, load_scripts, resolve_url, translate_errors
from .._wire import decode_outcome, encode_task, now_ms
from ..errors import ConfigurationError, NotConnected, PayloadTooLarge, RedisUnavailable
from ._listener import ResultListener
from ._result import TaskResult
from ._taskref import TaskRef, new_task_id

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "Client"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Encoded task payloads larger than this are refused at enqueue (Redis holds
#: every queued payload in memory; a 50 MB argument is almost always a bug).
DEFAULT_MAX_PAYLOAD_BYTES: Final = 1024 * 1024
# Tasks per EVALSHA in a batch: large enough to amortise the call, small enough
# that one script does not block Redis for long.
_BATCH_CHUNK: Final = 1000


def _check_priorities(
    priorities: Sequence[str], default: str | None
) -> tuple[tuple[str, ...], str]:
    names = tuple(priorities)
    if isinstance(priorities, str) or not names:
        raise ConfigurationError(
            f"priorities must be a non-empty list of names, got {priorities!r}"
        )
    for name in names:
        if not isinstance(name, str) or not name or "{" in name or "}" in name:
            raise ConfigurationError(f"invalid priority name {name!r}")
    if len(set(names)) != len(names):
        raise ConfigurationError(f"priority names must be distinct, got {names!r}")
    if default is None:
        default = "default" if "default" in names else names[-1]
    if default not in names:
        raise ConfigurationError(f"default_priority {default!r} is not one of {names!r}")
    return names, default


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
    :param serializer: encodes arguments (and, in workers, results); default msgpack.
    :param deserializer: the inverse of ``serializer``.
    :param max_payload_bytes: refuse tasks whose encoded payload is larger.
    :param signing_key: sign every task with HMAC-SHA256 under this key; workers
        with the same key reject tampered or unsigned tasks before decoding them.
    :param priorities: the queue's named priorities, highest first (must match the
        workers'); ``.start(priority=name)`` picks one.
    :param default_priority: the priority of tasks started without one; default
        ``"default"`` if it is among ``priorities``, else the lowest.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        queue_name: str = "default",
        *,
        serializer: _codec.Serializer | None = None,
        deserializer: _codec.Deserializer | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        signing_key: bytes | str | None = None,
        priorities: Sequence[str] = ("default",),
        default_priority: str | None = None,
    ) -> None:
        if (serializer is None) != (deserializer is None):
            raise ConfigurationError("pass serializer= and deserializer= together")
        try:
            self.keys = Keys(queue_name)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if max_payload_bytes <= 0:
            raise ConfigurationError(f"max_payload_bytes must be > 0, got {max_payload_bytes}")
        self.queue_name = queue_name
        self.redis_url = resolve_url(redis_url)
        self.serializer: _codec.Serializer = serializer or _codec.serialize
        self.deserializer: _codec.Deserializer = deserializer or _codec.deserialize
        self.max_payload_bytes = max_payload_bytes
        if isinstance(signing_key, str):
            signing_key = signing_key.encode()
        if signing_key is not None and len(signing_key) < 16:
            raise ConfigurationError("signing_key must be at least 16 bytes")
        self.signing_key: bytes | None = signing_key
        self.priorities, self.default_priority = _check_priorities(priorities, default_priority)
        #: The ready streams, highest priority first (index + 1 is what Lua receives).
        self.streams = [self.keys.stream_for(p) for p in self.priorities]
        self._priority_index = {p: i + 1 for i, p in enumerate(self.priorities)}
        self._redis: Redis | None = None
        self._listener: ResultListener | None = None
        #: This client's inbox channel: outcomes of the tasks it sends from
        #: ``.result()``/``.outcome()`` come here, so no per-task subscription is needed.
        self.inbox = self.keys.inbox(os.urandom(8).hex())
        self._entered = 0
        # group commit of single enqueues: one call goes out directly; calls made
        # while it is in flight are sent together in one EVALSHA by `_flusher`
        self._direct_busy = False
        self._pending: list[tuple[TaskResult[Any], bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Client queue={self.queue_name!r} url={self.redis_url!r}>"

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
        try:
            with translate_errors():
                await redis.ping()
                await load_scripts(redis)
        except RedisUnavailable as exc:
            await redis.aclose()
            raise RedisUnavailable(f"cannot connect to Redis at {self.redis_url}: {exc}") from exc
        self._redis = redis
        self._listener = ResultListener.acquire(redis, self.redis_url)
        await self._listener.open_inbox(self.inbox)

    async def _close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._listener is not None:
            self._listener.close_inbox(self.inbox)
            await self._listener.release()
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def connected(self) -> bool:
        """Whether ``async with`` has connected this client."""
        return self._redis is not None

    @property
    def listener(self) -> ResultListener:
        """The process' shared pub/sub listener (only while connected)."""
        if self._listener is None:
            raise NotConnected(f"{self!r} is not connected; use `async with client:`")
        return self._listener

    @property
    def redis(self) -> Redis:
        """The redis-py client (only while connected).

        :raises NotConnected: outside ``async with client:``.
        """
        if self._redis is None:
            raise NotConnected(
                f"{self!r} is not connected; use `async with client:` (or `async with worker:`)"
            )
        return self._redis

    # -- declaring and building calls ----------------------------------------------

    def stub(
        self, *, name: str | None = None, unique: bool = False
    ) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], TaskRef[P, R]]:
        """Declare a task this service calls but does not implement.

        The decorated function's signature is the contract (without the worker's
        ``ctx`` parameter); its body never runs.

        :param name: the task's registered name; default the function's ``__name__``.
        :param unique: match the worker's ``unique=True`` (one live instance per
            arguments); it decides the task id, so it must be declared here too.
        """

        def decorate(fn: Callable[P, Coroutine[Any, Any, R]]) -> TaskRef[P, R]:
            return TaskRef(
                self, name or fn.__name__, unique=unique, signature=inspect.signature(fn)
            )

        return decorate

    def enqueue_unsafe(self, fn_name: str, /, *args: Any, **kwargs: Any) -> TaskResult[Any]:
        """Build a call of a task by name, for dynamic callers; nothing is type-checked.

        Arguments are bound against the real signature only in the worker; a
        mismatch fails the task with a clear ``TaskFailed``.
        """
        return TaskResult(self, fn_name, args, kwargs, new_task_id())

    # -- sending ---------------------------------------------------------------------

    def _encode(self, handle: TaskResult[Any], reply_to: str = "") -> bytes:
        payload = encode_task(
            self.serializer,
            handle.fn_name,
            handle.args,
            handle.kwargs,
            now_ms(),
            self.signing_key,
            reply_to,
        )
        if len(payload) > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"task {handle.fn_name!r} encodes to {len(payload)} bytes, over the "
                f"max_payload_bytes limit of {self.max_payload_bytes}; pass a reference "
                "(a URL, a key) instead of the data, or raise the limit"
            )
        return payload

    def priority_index(self, priority: str | None) -> int:
        """The 1-based stream index of a priority name (``None``: the default).

        :raises ConfigurationError: not one of this client's priorities.
        """
        try:
            return self._priority_index[priority or self.default_priority]
        except KeyError:
            raise ConfigurationError(
                f"unknown priority {priority!r}; this queue's priorities are {self.priorities!r}"
            ) from None

    def _enqueue_command(
        self, handles: list[TaskResult[Any]], payloads: list[bytes]
    ) -> tuple[list[str], list[Any]]:
        k = self.keys
        keys = [k.tasks, k.delayed, k.wake, k.prio, *self.streams]
        argv: list[Any] = [len(handles), len(self.streams)]
        default = self._priority_index[self.default_priority]
        for handle, payload in zip(handles, payloads, strict=True):
            keys.append(k.result(handle.id))
            index = handle._priority or default
            name = "" if index == default else self.priorities[index - 1]
            argv += (handle.id, payload, handle._due_ms, index, name)
        return keys, argv

    async def _send(self, handle: TaskResult[Any], reply_to: str = "") -> None:
        handle._attempted = True
        redis = self.redis
        payload = self._encode(handle, reply_to)
        if self._direct_busy:
            fut = asyncio.get_running_loop().create_future()
            self._pending.append((handle, payload, fut))
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush_pending())
            await fut
            return
        self._direct_busy = True
        try:
            keys, argv = self._enqueue_command([handle], [payload])
            with translate_errors():
                await ENQUEUE(redis, keys, argv)
        finally:
            self._direct_busy = False
        handle._sent = True

    async def _flush_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_BATCH_CHUNK], self._pending[_BATCH_CHUNK:]
            handles = [h for h, _, _ in batch]
            try:
                keys, argv = self._enqueue_command(handles, [p for _, p, _ in batch])
                with translate_errors():
                    await ENQUEUE(self.redis, keys, argv)
            except Exception as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for handle, _, fut in batch:
                handle._sent = True
                if not fut.done():
                    fut.set_result(None)

    async def enqueue_many(self, handles: Iterable[TaskResult[T]]) -> list[TaskResult[T]]:
        """Send many task calls in one round trip (a pipeline of batched Lua calls).

        Every payload is encoded (and checked) before anything is sent, so a bad
        argument sends nothing. Returns the handles, in order.
        """
        batch = list(handles)
        for handle in batch:
            handle._attempted = True
        redis = self.redis
        for handle in batch:
            handle._prepare(None, None, None, None)
        payloads = [self._encode(h) for h in batch]
        with translate_errors():
            async with redis.pipeline(transaction=False) as pipe:
                for lo in range(0, len(batch), _BATCH_CHUNK):
                    hi = lo + _BATCH_CHUNK
                    keys, argv = self._enqueue_command(batch[lo:hi], payloads[lo:hi])
                    pipe.execute_command(*ENQUEUE.args(keys, argv))
                await pipe.execute()
        for handle in batch:
            handle._sent = True
        return batch

    # -- outcomes and status -----------------------------------------------------------

    async def _wait(self, handle: TaskResult[T], timeout: float | None) -> TaskOutcome[T]:
        listener = self.listener
        # a task sent right here names our inbox as its reply channel, unless its id
        # is shared (key/unique): then a live twin may absorb the send, and only the
        # per-task channel is sure to carry the outcome
        inbox = None if handle._fixed_id else self.inbox

        async def send() -> None:
            await self._send(handle, inbox or "")

        raw = await listener.wait(
            self.keys.channel(handle.id),
            self.keys.result(handle.id),
            None if handle._sent else send,
            timeout,
            None if inbox is None else (inbox, handle.id),
        )
        return decode_outcome(self.deserializer, handle.id, raw)

    def handle(self, task_id: str, fn_name: str = "?") -> TaskResult[Any]:
        """An untyped handle on a task sent earlier, by id (``TaskRef.handle`` is typed)."""
        return TaskResult.existing(self, fn_name, task_id)
