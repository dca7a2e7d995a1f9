"""Raw-Redis floor: relayq's Redis work done by a minimal hand-written pipeline.

The same work relayq does per task, with the commands relayq needs (XADD /
XREADGROUP / XACK / SET / PUBLISH) and as little Python as possible in between:
no client library, just a ~60-line pipelining RESP client (commands packed by
hand, replies parsed by hiredis, concurrent callers share a connection in FIFO
order) on asyncio protocols. Payloads and results are msgpack, like relayq's.

- enqueue: one write of N ``XADD stream * t <id> p <payload>``;
- worker: ``XREADGROUP COUNT <room>`` (at most 2 x concurrency held, like relayq's
  default prefetch), one asyncio task per entry, at most ``concurrency`` running;
  completions are group-committed: one write of one ``XACK`` (many ids) plus
  ``SET result PX`` and ``PUBLISH`` per task, sent while the next ones run;
- round trip: ``SUBSCRIBE`` the task's channel, wait for the confirmation,
  ``XADD``, wait for the message (subscribe-then-send, as relayq does).

No leases, fencing, retries, scheduling, payload hash or crash recovery: a floor
to measure relayq against, not a queue. Runs in the relayq venv (hiredis, msgpack).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Any
from urllib.parse import urlparse

import benchrt
import hiredis
import msgpack

NAME = "raw-Redis floor"
VERSION = "floor"
EXTRA_DISTS = ["hiredis"]
NOTES = {
    "enqueue": "one write of N XADD (task id + msgpack payload in the entry)",
    "worker": "XREADGROUP COUNT room (<= 2x concurrency held), a task per entry, <= concurrency "
    "running; completions group-committed: XACK(ids) + SET PX + PUBLISH per task in one write",
    "rtt": "SUBSCRIBE channel (wait for confirmation) -> XADD -> wait for the message",
    "config": "hand-packed RESP + hiredis parser on asyncio protocols (no client library); "
    "no leases / fencing / retries / payload hash: a floor, not a queue",
}

STREAM = b"floor:stream"
GROUP = b"workers"
RESULT = b"floor:result:"
CHANNEL = b"floor:done:"
TTL_MS = b"300000"
SETTLE_BATCH = 500

_packb = msgpack.Packer(use_bin_type=True).pack


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Conn(asyncio.Protocol):
    """A pipelining connection: replies resolve the callers' futures in order.

    With ``on_push`` set (pub/sub), every reply goes to it instead.
    """

    def __init__(self) -> None:
        self.parser = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.on_push: Any = None

    @classmethod
    async def open(cls, url: str) -> Conn:
        u = urlparse(url)
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, u.hostname or "127.0.0.1", u.port or 6379)
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while (reply := self.parser.gets()) is not False:
            if self.on_push is not None:
                self.on_push(reply)
                continue
            fut = self.waiting.popleft()
            if isinstance(reply, hiredis.ReplyError):
                fut.set_exception(reply)
            elif not fut.done():
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(exc or ConnectionError("connection closed"))

    def send(self, cmds: list[tuple[Any, ...]]) -> asyncio.Future[Any]:
        """Send commands in one write; returns the future of the last reply."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        for _ in range(len(cmds) - 1):
            self.waiting.append(loop.create_future())
        self.waiting.append(fut)
        self.transport.write(b"".join(pack(c) for c in cmds))
        return fut

    async def call(self, *args: Any) -> Any:
        return await self.send([args])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


_url = ""
_cmd: Conn | None = None
_pubsub: Conn | None = None
_subs: dict[bytes, tuple[asyncio.Future[None], asyncio.Future[bytes]]] = {}
_worker: Worker | None = None


def _conn() -> Conn:
    assert _cmd is not None, "setup() first"
    return _cmd


def _on_pubsub(reply: list[Any]) -> None:
    kind, channel = reply[0], reply[1]
    futs = _subs.get(channel)
    if futs is None:
        return
    if kind == b"subscribe":
        futs[0].set_result(None)
    elif kind == b"message" and not futs[1].done():
        futs[1].set_result(reply[2])


async def setup(redis_url: str, role: str) -> None:
    global _url, _cmd, _pubsub
    _url = redis_url
    _cmd = await Conn.open(redis_url)
    if role == "worker":
        try:
            await _cmd.call(b"XGROUP", b"CREATE", STREAM, GROUP, b"0", b"MKSTREAM")
        except hiredis.ReplyError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
    else:
        _pubsub = await Conn.open(redis_url)
        _pubsub.on_push = _on_pubsub


async def enqueue_many(n: int, task: str) -> None:
    await _conn().send(
        [
            (b"XADD", STREAM, b"*", b"t", os.urandom(16).hex(), b"p", _packb([task, i]))
            for i in range(n)
        ]
    )


class Worker:
    def __init__(self, settle: Conn, concurrency: int, burst: bool) -> None:
        self.fetch_conn = _conn()
        self.settle_conn = settle
        self.consumer = f"floor-{os.getpid()}-{os.urandom(3).hex()}"
        self.concurrency = concurrency
        self.fetch_limit = 2 * concurrency
        self.burst = burst
        self.ready: deque[tuple[bytes, bytes, bytes]] = deque()
        self.settled: list[tuple[bytes, bytes, bytes]] = []
        self.room = asyncio.Event()
        self.held = self.running = 0
        self.writer: asyncio.Task[None] | None = None
        self.stopping = False

    def dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self.ready and self.running < self.concurrency:
            self.running += 1
            loop.create_task(self.execute(*self.ready.popleft()))

    async def execute(self, entry_id: bytes, task_id: bytes, payload: bytes) -> None:
        task, i = msgpack.unpackb(payload)
        if task == "sleep":
            await asyncio.sleep(benchrt.sleep_s)
        benchrt.task_done(i)
        self.settled.append((entry_id, task_id, _packb(i)))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.get_running_loop().create_task(self.write_settled())
        self.running -= 1
        self.dispatch()

    async def write_settled(self) -> None:
        while self.settled:
            batch = self.settled[:SETTLE_BATCH]
            del self.settled[:SETTLE_BATCH]
            cmds: list[tuple[Any, ...]] = [(b"XACK", STREAM, GROUP, *(e for e, _, _ in batch))]
            for _, task_id, out in batch:
                cmds.append((b"SET", RESULT + task_id, out, b"PX", TTL_MS))
                cmds.append((b"PUBLISH", CHANNEL + task_id, out))
            await self.settle_conn.send(cmds)
            self.held -= len(batch)
            self.room.set()

    async def run(self) -> None:
        while not self.stopping:
            space = self.fetch_limit - self.held
            entries: list[Any] = []
            if space > 0:
                block = () if self.burst or self.held else (b"BLOCK", b"1000")
                head = (b"XREADGROUP", b"GROUP", GROUP, self.consumer, b"COUNT", space)
                reply = await self.fetch_conn.call(*head, *block, b"STREAMS", STREAM, b">")
                entries = reply[0][1] if reply else []
            if not entries:
                if self.burst and self.held == 0:
                    break
                if self.held:
                    self.room.clear()
                    await self.room.wait()
                continue
            self.held += len(entries)
            for entry_id, fields in entries:  # fields: [b"t", id, b"p", payload]
                self.ready.append((entry_id, fields[1], fields[3]))
            self.dispatch()
        while self.held:  # stop(): let what runs finish and settle
            self.room.clear()
            await self.room.wait()


async def _run(concurrency: int, burst: bool) -> None:
    global _worker
    settle = await Conn.open(_url)
    try:
        _worker = Worker(settle, concurrency, burst)
        await _worker.run()
    finally:
        settle.close()


async def run_worker_burst(concurrency: int) -> int:
    await _run(concurrency, burst=True)
    return benchrt.executed


async def run_worker(concurrency: int) -> None:
    await _run(concurrency, burst=False)


async def stop() -> None:
    if _worker is not None:
        _worker.stopping = True


async def roundtrip(i: int) -> Any:
    assert _pubsub is not None
    loop = asyncio.get_running_loop()
    task_id = os.urandom(16).hex().encode()
    channel = CHANNEL + task_id
    subscribed: asyncio.Future[None] = loop.create_future()
    message: asyncio.Future[bytes] = loop.create_future()
    transport = _pubsub.transport
    assert transport is not None
    _subs[channel] = (subscribed, message)
    try:
        transport.write(pack((b"SUBSCRIBE", channel)))
        await subscribed
        await _conn().call(b"XADD", STREAM, b"*", b"t", task_id, b"p", _packb(["noop", i]))
        raw = await message
    finally:
        del _subs[channel]
        transport.write(pack((b"UNSUBSCRIBE", channel)))
    return msgpack.unpackb(raw)


async def teardown() -> None:
    global _cmd, _pubsub
    for conn in (_cmd, _pubsub):
        if conn is not None:
            conn.close()
    _cmd = _pubsub = None
