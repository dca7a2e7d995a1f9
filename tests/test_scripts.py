"""Every Lua script of ``sdk/_lua``, called through the typed layer (:class:`Scripts`).

Each test pins a script's keys, arguments, reply or invariant by looking at the
Redis state before and after with plain redis-py commands. Organised by script;
each docstring names the invariant it pins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from sdk._envelope import DEFAULT_TTL_MS, NewTask
from sdk._keys import GROUP, Keys, lua_prelude
from sdk._scripts import TASK_TTL, AbortResult, Fetched, FinishAction, Scripts, TaskState

# -- helpers ------------------------------------------------------------------------------

NOW = 1_000_000  # the `now_ms` given to fetch/finish; due times are relative to it
DEAD_CAP = 1000
DEAD_BYTES = 10**9


@dataclass(frozen=True)
class Delivery:
    """What the tests' fetch factory builds; satisfies ``sdk._scripts.Token``."""

    priority: str
    entry_id: bytes
    raw_id: bytes
    args: bytes
    fn: bytes
    enqueue_ms: int
    signature: bytes
    tries: int
    abort: bool
    ttl_ms: int


def new_task(
    task_id: str,
    *,
    args: bytes = b"ARGS",
    fn: str = "fn",
    enqueue_ms: int = 1234,
    signature: bytes = b"",
    due_ms: int = 0,
    priority: str = "default",
    ttl_ms: int = 60_000,
    route: str = "",
    fresh: bool = True,
) -> NewTask:
    return NewTask(
        task_id=task_id,
        args=args,
        fn_name=fn,
        enqueue_ms=enqueue_ms,
        signature=signature,
        due_ms=due_ms,
        priority="" if priority == "default" else priority,
        ttl_ms=ttl_ms,
        route=route,
        fresh=1 if fresh else 0,
    )


@pytest.fixture
def keys(queue_name: str) -> Keys:
    return Keys(queue_name)


@pytest.fixture
def scripts(redis: Redis, keys: Keys) -> Scripts:
    return Scripts(redis, keys)


async def cmd(redis: Redis, *args: Any) -> Any:
    return await redis.execute_command(*args)  # type: ignore[no-untyped-call]


async def make_groups(redis: Redis, keys: Keys, *priorities: str) -> None:
    """What a worker does at start: the consumer group (and stream) of each priority."""
    for priority in priorities or ("default",):
        stream = keys.stream_for(priority)
        try:
            await cmd(redis, "XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


async def task_hash(redis: Redis, keys: Keys, task_id: str) -> dict[str, bytes]:
    raw: Any = await redis.hgetall(keys.task(task_id))
    return {k.decode(): v for k, v in raw.items()}


async def entries(redis: Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    raw: Any = await redis.xrange(stream, "-", "+")
    return [(entry_id, dict(fields)) for entry_id, fields in raw]


async def xadd(redis: Redis, stream: str, fields: dict[str, str]) -> bytes:
    entry: Any = await redis.xadd(stream, fields)  # type: ignore[arg-type]
    assert isinstance(entry, bytes)
    return entry


async def xlen(redis: Redis, key: str) -> int:
    n: Any = await redis.xlen(key)
    return int(n)


async def pending(redis: Redis, stream: str) -> dict[bytes, tuple[bytes, int, int]]:
    """The group's pending entries: entry id -> (consumer, idle ms, deliveries)."""
    raw: Any = await redis.xpending_range(stream, GROUP, "-", "+", 1000)
    return {
        p["message_id"]: (p["consumer"], p["time_since_delivered"], p["times_delivered"])
        for p in raw
    }


async def set_idle(redis: Redis, stream: str, consumer: str, entry: bytes, idle_ms: int) -> None:
    """Make ``entry`` pending for ``consumer`` with the given idle time (no sleeping)."""
    await redis.xclaim(stream, GROUP, consumer, 0, [entry], idle=idle_ms, justid=True)


async def fetch(
    scripts: Scripts,
    *,
    consumer: str = "w1",
    count: int = 10,
    now_ms: int = NOW,
    move_limit: int = 100,
    reclaim_ms: int = 0,
    priorities: Sequence[str] = ("default",),
    cursors: Sequence[str] | None = None,
) -> Fetched[Delivery]:
    return await scripts.fetch(
        Delivery,
        consumer=consumer,
        count=count,
        now_ms=now_ms,
        move_limit=move_limit,
        reclaim_ms=reclaim_ms,
        priorities=priorities,
        cursors=["-"] * len(priorities) if cursors is None else cursors,
    )


async def finish(
    scripts: Scripts,
    d: Delivery,
    action: FinishAction = FinishAction.DONE,
    data: bytes | int = b"OUT",
    ttl_ms: int = 60_000,
    reason: str = "",
    *,
    dead_cap: int = DEAD_CAP,
    dead_max_bytes: int = DEAD_BYTES,
) -> bool:
    (applied,) = await scripts.finish(
        [(d, action, data, ttl_ms, reason)],
        now_ms=NOW,
        dead_cap=dead_cap,
        dead_max_bytes=dead_max_bytes,
    )
    return applied


async def enqueue_and_fetch(
    scripts: Scripts, redis: Redis, keys: Keys, *tasks: NewTask, consumer: str = "w1"
) -> list[Delivery]:
    await make_groups(redis, keys)
    assert await scripts.enqueue(tasks) == [True] * len(tasks)
    fetched = await fetch(scripts, consumer=consumer, count=len(tasks))
    assert len(fetched.deliveries) == len(tasks)
    return fetched.deliveries


@asynccontextmanager
async def subscribed(redis: Redis, *channels: str) -> AsyncIterator[Any]:
    """A pub/sub connection whose subscriptions are confirmed before the body runs."""
    ps: Any = redis.pubsub()
    try:
        await ps.subscribe(*channels)
        confirmed = 0
        deadline = time.monotonic() + 5
        while confirmed < len(channels) and time.monotonic() < deadline:
            msg = await ps.get_message(timeout=1.0)
            if msg is not None and msg["type"] == "subscribe":
                confirmed += 1
        assert confirmed == len(channels)
        yield ps
    finally:
        await ps.aclose()


async def messages(ps: Any, n: int, *, timeout: float = 2.0) -> list[tuple[bytes, bytes]]:
    """``n`` (channel, data) messages; fewer if the timeout passes first."""
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and (left := deadline - time.monotonic()) > 0:
        msg = await ps.get_message(ignore_subscribe_messages=True, timeout=left)
        if msg is not None:
            got.append((msg["channel"], msg["data"]))
    return got


async def no_message(ps: Any) -> bool:
    return not await messages(ps, 1, timeout=0.15)


def wire(task_id: str, outcome: bytes) -> bytes:
    """An inbox message: ``<len>:<id><outcome>``."""
    return f"{len(task_id)}:{task_id}".encode() + outcome


# -- the Lua prelude -----------------------------------------------------------------------


async def test_lua_prelude_builds_the_same_names_as_keys(redis: Redis, keys: Keys) -> None:
    """The prelude's key functions and constants agree with :class:`Keys`."""
    source = lua_prelude() + (
        "return {task_key('x'), result_key('x'), inbox_channel('c'), stream_key('high'),"
        " stream_key(''), stream_key('default'), DELAYED, WAKE, DEAD, DEAD_BYTES, CRONS,"
        " CONTROL, GROUP}"
    )
    reply = await cmd(redis, "EVAL", source, 1, keys.base)
    assert [r.decode() for r in reply] == [
        keys.task("x"),
        keys.result("x"),
        keys.inbox("c"),
        keys.stream_for("high"),
        keys.stream,
        keys.stream,
        keys.delayed,
        keys.wake,
        keys.dead,
        keys.dead_bytes,
        keys.crons,
        keys.control,
        GROUP,
    ]


# -- enqueue.lua ---------------------------------------------------------------------------


async def test_enqueue_creates_the_hash_and_its_stream_entry(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """p,f,e,t,x always; s only when signed, q only for a non-default priority, r only
    with a route; x names the XADDed entry of the priority's stream."""
    full = new_task("a", args=b"\x00P", signature=b"SIG", priority="high", route="c1", ttl_ms=777)
    plain = new_task("b")
    assert await scripts.enqueue([full, plain]) == [True, True]

    a = await task_hash(redis, keys, "a")
    (entry_a, fields_a), *_ = await entries(redis, keys.stream_for("high"))
    assert fields_a == {b"i": b"a"}
    assert a == {
        "p": b"\x00P",
        "f": b"fn",
        "e": b"1234",
        "s": b"SIG",
        "t": b"777",
        "q": b"high",
        "r": b"c1",
        "x": entry_a,
    }
    b = await task_hash(redis, keys, "b")
    ((entry_b, fields_b),) = await entries(redis, keys.stream)
    assert fields_b == {b"i": b"b"}
    assert b == {"p": b"ARGS", "f": b"fn", "e": b"1234", "t": b"60000", "x": entry_b}
    assert await xlen(redis, keys.stream_for("high")) == 1
    assert not await redis.exists(keys.delayed, keys.wake)


async def test_enqueue_scheduled_goes_to_delayed_and_wakes_once(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """due>0: ZADD to delayed with the due time, x='' and no stream entry; one wake
    entry for the batch."""
    tasks = [new_task("a", due_ms=NOW + 5), new_task("b", due_ms=NOW + 9, priority="low")]
    assert await scripts.enqueue(tasks) == [True, True]
    assert await redis.zscore(keys.delayed, "a") == NOW + 5
    assert await redis.zscore(keys.delayed, "b") == NOW + 9
    assert (await task_hash(redis, keys, "a"))["x"] == b""
    assert (await task_hash(redis, keys, "b"))["q"] == b"low"
    assert not await redis.exists(keys.stream, keys.stream_for("low"))
    assert await xlen(redis, keys.wake) == 1


async def test_enqueue_of_a_live_id_only_adds_the_route_once(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A live id is not created again (False, nothing overwritten, no second entry);
    the caller's route is added, never twice."""
    assert await scripts.enqueue([new_task("a", route="c1")]) == [True]
    before = await task_hash(redis, keys, "a")
    again = [
        new_task("a", args=b"OTHER", route="c2"),
        new_task("a", route="c2"),
        new_task("a", route="c1"),
        new_task("a", route="c"),  # a prefix of c1/c2 is still a different client
        new_task("a"),
    ]
    assert await scripts.enqueue(again) == [False] * 5
    after = await task_hash(redis, keys, "a")
    assert after.pop("r") == b"c1 c2 c"
    before.pop("r")
    assert after == before
    assert await xlen(redis, keys.stream) == 1

    # a live task without routes gets its first one
    assert await scripts.enqueue([new_task("b"), new_task("b", route="c9")]) == [True, False]
    assert (await task_hash(redis, keys, "b"))["r"] == b"c9"


async def test_enqueue_fresh_false_drops_a_stale_result(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """fresh=False (a reused id) drops the old outcome; fresh=True leaves the key alone."""
    await redis.set(keys.result("reused"), b"old")
    await redis.set(keys.result("random"), b"old")
    created = await scripts.enqueue(
        [new_task("reused", fresh=False), new_task("random", fresh=True)]
    )
    assert created == [True, True]
    assert not await redis.exists(keys.result("reused"))
    assert await redis.get(keys.result("random")) == b"old"


async def test_enqueue_over_a_chunk_goes_through_run_many(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """>1000 tasks are sent as several script calls in one pipeline; still one bool per
    task, in order (live ids in later chunks report False)."""
    assert await scripts.enqueue([new_task("t5"), new_task("t1500")]) == [True, True]
    created = await scripts.enqueue([new_task(f"t{i}") for i in range(2500)])
    assert len(created) == 2500
    assert [i for i, c in enumerate(created) if not c] == [5, 1500]
    assert await xlen(redis, keys.stream) == 2500


# -- fetch.lua -----------------------------------------------------------------------------


async def test_fetch_takes_highest_priority_first_and_counts_the_try(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Entries come highest priority first; each take sets n+1 and w; the 10-tuple
    reaches the factory; last_ids is empty when something was taken."""
    prios = ("high", "default", "low")
    await make_groups(redis, keys, *prios)
    await scripts.enqueue(
        [
            new_task("l", priority="low"),
            new_task("d", priority="default"),
            new_task("h", priority="high", signature=b"SIG", ttl_ms=42, args=b"H"),
        ]
    )
    got = await fetch(scripts, count=2, priorities=prios)
    assert [d.raw_id for d in got.deliveries] == [b"h", b"d"]
    h_entry = (await task_hash(redis, keys, "h"))["x"]
    expected = Delivery("high", h_entry, b"h", b"H", b"fn", 1234, b"SIG", 1, False, 42)
    assert got.deliveries[0] == expected
    assert got.deliveries[1].priority == "default"
    assert got.last_ids == []
    assert got.cursors == ["-", "-", "-"]
    for tid in ("h", "d"):
        t = await task_hash(redis, keys, tid)
        assert (t["n"], t["w"]) == (b"1", b"w1")
    assert "n" not in await task_hash(redis, keys, "l")

    rest = await fetch(scripts, consumer="w2", priorities=prios)
    assert [(d.raw_id, d.priority) for d in rest.deliveries] == [(b"l", "low")]
    assert (await task_hash(redis, keys, "l"))["w"] == b"w2"


async def test_fetch_promotes_only_due_tasks(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """Due delayed tasks (score <= now) go to their priority's stream with a new entry
    id in x and are taken; later ones stay; next_due_ms is the earliest left."""
    await make_groups(redis, keys, "high", "default")
    await scripts.enqueue(
        [
            new_task("soon", due_ms=NOW - 1, priority="high"),
            new_task("now", due_ms=NOW),
            new_task("later", due_ms=NOW + 500),
        ]
    )
    got = await fetch(scripts, priorities=("high", "default"))
    assert [(d.raw_id, d.priority) for d in got.deliveries] == [
        (b"soon", "high"),
        (b"now", "default"),
    ]
    for d in got.deliveries:
        assert (await task_hash(redis, keys, d.raw_id.decode()))["x"] == d.entry_id
    assert [e for e, _ in await entries(redis, keys.stream_for("high"))] == [
        got.deliveries[0].entry_id
    ]
    assert await redis.zrange(keys.delayed, 0, -1) == [b"later"]
    assert (await task_hash(redis, keys, "later"))["x"] == b""
    assert got.next_due_ms == NOW + 500


async def test_fetch_move_limit_and_next_due(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """At most move_limit due tasks are promoted per call; next_due_ms is -1 when the
    delayed set is empty."""
    await make_groups(redis, keys)
    await scripts.enqueue([new_task(f"d{i}", due_ms=NOW - 10 + i) for i in range(3)])
    first = await fetch(scripts, move_limit=2)
    assert [d.raw_id for d in first.deliveries] == [b"d0", b"d1"]
    assert first.next_due_ms == NOW - 8
    second = await fetch(scripts, move_limit=2)
    assert [d.raw_id for d in second.deliveries] == [b"d2"]
    assert second.next_due_ms == -1


async def test_fetch_drops_stale_entries_unrun(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """An entry the hash no longer names (hash deleted, or the task pushed again) is
    acked and deleted, never returned; the current entry is taken once."""
    await make_groups(redis, keys)
    await scripts.enqueue([new_task("gone"), new_task("moved")])
    (gone_entry, _), (old_entry, _) = await entries(redis, keys.stream)
    await redis.delete(keys.task("gone"))
    new_entry = await xadd(redis, keys.stream, {"i": "moved"})
    await redis.hset(keys.task("moved"), "x", new_entry)

    got = await fetch(scripts)
    assert [(d.raw_id, d.entry_id) for d in got.deliveries] == [(b"moved", new_entry)]
    assert got.deliveries[0].tries == 1
    assert [e for e, _ in await entries(redis, keys.stream)] == [new_entry]
    assert list(await pending(redis, keys.stream)) == [new_entry]
    assert gone_entry not in await pending(redis, keys.stream)
    assert old_entry not in await pending(redis, keys.stream)


async def test_fetch_dead_letters_a_malformed_entry(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A stream entry without an 'i' field is copied to the dead stream with reason
    'malformed stream entry <id>' (counted against the stream's byte budget, so a
    flood of them is trimmed like any dead letter) and acked+deleted; nothing is
    returned."""
    await make_groups(redis, keys)
    bad = await xadd(redis, keys.stream, {"foo": "bar"})
    got = await fetch(scripts)
    assert got.deliveries == []
    reason = b"malformed stream entry " + bad
    ((_, dead),) = await entries(redis, keys.dead)
    assert dead == {
        b"id": b"",
        b"reason": reason,
        b"at": str(NOW).encode(),
        b"bytes": str(len(reason)).encode(),
    }
    assert await redis.get(keys.dead_bytes) == str(len(reason)).encode()
    assert await xlen(redis, keys.stream) == 0
    assert await pending(redis, keys.stream) == {}


async def test_fetch_trims_what_it_dead_letters(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """Malformed entries dead-lettered by fetch respect the stream's caps too."""
    await make_groups(redis, keys)
    for n in range(5):
        await xadd(redis, keys.stream, {"foo": str(n)})
    got = await scripts.fetch(
        Delivery,
        consumer="w1",
        count=10,
        now_ms=NOW,
        move_limit=100,
        reclaim_ms=0,
        priorities=("default",),
        cursors=("-",),
        dead_cap=2,
    )
    assert got.deliveries == []
    assert await xlen(redis, keys.dead) == 2


async def test_fetch_reads_past_a_long_run_of_stale_entries(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Stale entries take no room, but a call reads at most its budget of them (so it
    cannot block Redis for long): it then asks to be called again (no last_ids,
    rather than ids past the ready entry), and the next call takes the ready one."""
    await make_groups(redis, keys)
    await scripts.enqueue([new_task(f"stale{n}") for n in range(1200)] + [new_task("ready")])
    for n in range(1200):
        await redis.delete(keys.task(f"stale{n}"))
    first = await fetch(scripts, count=1)
    assert first.deliveries == [] and first.last_ids == []
    second = await fetch(scripts, count=1)
    assert [d.raw_id for d in second.deliveries] == [b"ready"]


async def test_fetch_fills_in_missing_hash_fields(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A hash that names the entry but lacks fields comes back with '' / 0 /
    DEFAULT_TTL_MS, so the worker can fail it as bad input."""
    await make_groups(redis, keys)
    entry = await xadd(redis, keys.stream, {"i": "bare"})
    await redis.hset(keys.task("bare"), "x", entry)
    (d,) = (await fetch(scripts)).deliveries
    assert d == Delivery("default", entry, b"bare", b"", b"", 0, b"", 1, False, DEFAULT_TTL_MS)


async def test_fetch_reports_a_pending_abort(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """A task with `a` set is delivered with abort=True."""
    await make_groups(redis, keys)
    await scripts.enqueue([new_task("a")])
    await redis.hset(keys.task("a"), "a", 1)
    (d,) = (await fetch(scripts)).deliveries
    assert d.abort is True


async def test_fetch_reclaims_lapsed_deliveries_of_other_consumers_only(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """An entry idle >= reclaim_ms held by another consumer is claimed (n bumps, w and
    the PEL owner change); one not idle long enough is left; the consumer's own lapsed
    entry is never reclaimed (a stalled worker must not take its own task again)."""
    (theirs, fresh) = await enqueue_and_fetch(
        scripts, redis, keys, new_task("theirs"), new_task("fresh"), consumer="w2"
    )
    (own,) = await enqueue_and_fetch(scripts, redis, keys, new_task("own"), consumer="w1")
    await set_idle(redis, keys.stream, "w2", theirs.entry_id, 60_000)
    await set_idle(redis, keys.stream, "w1", own.entry_id, 60_000)

    got = await fetch(scripts, consumer="w1", reclaim_ms=30_000)
    assert [(d.raw_id, d.entry_id, d.tries) for d in got.deliveries] == [
        (b"theirs", theirs.entry_id, 2)
    ]
    t = await task_hash(redis, keys, "theirs")
    assert (t["n"], t["w"]) == (b"2", b"w1")
    p = await pending(redis, keys.stream)
    assert p[theirs.entry_id][0] == b"w1"
    assert p[theirs.entry_id][2] == 2
    assert p[fresh.entry_id][0] == b"w2"
    assert p[own.entry_id][0] == b"w1"
    assert p[own.entry_id][1] >= 60_000  # not touched
    assert p[own.entry_id][2] == 1
    assert (await task_hash(redis, keys, "own"))["n"] == b"1"
    assert (await task_hash(redis, keys, "fresh"))["n"] == b"1"
    assert got.cursors == ["-"]  # fewer lapsed entries than wanted: start over next time


async def test_fetch_reclaim_acks_a_lapsed_stale_entry(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A lapsed entry of another consumer whose task is gone, or which was deleted from
    the stream while pending, is acked (dropped from the PEL), not returned."""
    (a, b) = await enqueue_and_fetch(
        scripts, redis, keys, new_task("a"), new_task("b"), consumer="w2"
    )
    await redis.delete(keys.task("a"))
    await redis.xdel(keys.stream, b.entry_id)
    for d in (a, b):
        await set_idle(redis, keys.stream, "w2", d.entry_id, 60_000)
    got = await fetch(scripts, consumer="w1", reclaim_ms=30_000)
    assert got.deliveries == []
    assert await pending(redis, keys.stream) == {}
    assert await xlen(redis, keys.stream) == 0


async def test_fetch_reclaim_cursor_reaches_a_lapsed_entry_behind_many(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """With more than count x 10 pending entries (own lapsed ones, and other consumers'
    live ones) before a lapsed one, fetches that pass the returned cursors on reach it
    (regression: a scan restarting from the beginning each time never got there)."""
    count = 1
    own = await enqueue_and_fetch(
        scripts, redis, keys, *[new_task(f"own{i}") for i in range(12)], consumer="w1"
    )
    live = await enqueue_and_fetch(
        scripts, redis, keys, *[new_task(f"live{i}") for i in range(6)], consumer="w3"
    )
    (lapsed,) = await enqueue_and_fetch(scripts, redis, keys, new_task("lapsed"), consumer="w2")
    assert len(own) + len(live) > count * 10
    for d in own:
        await set_idle(redis, keys.stream, "w1", d.entry_id, 60_000)
    await set_idle(redis, keys.stream, "w2", lapsed.entry_id, 60_000)

    cursors = ["-"]
    seen_cursors = []
    for _ in range(len(own) + 2):
        got = await fetch(scripts, consumer="w1", count=count, reclaim_ms=30_000, cursors=cursors)
        if got.deliveries:
            assert [d.raw_id for d in got.deliveries] == [b"lapsed"]
            assert got.deliveries[0].tries == 2
            break
        assert got.cursors != cursors, "the cursor did not move on"
        cursors = list(got.cursors)
        seen_cursors.append(cursors[0])
    else:
        pytest.fail(f"never reclaimed the lapsed entry; cursors {seen_cursors}")
    # own entries were passed over, not taken
    for d in own:
        assert (await task_hash(redis, keys, d.raw_id.decode()))["n"] == b"1"


async def test_fetch_last_ids_when_nothing_was_taken(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Nothing taken: last_ids names each stream's last entry ('0-0' if empty) and then
    the wake stream's, in that order."""
    await make_groups(redis, keys, "high", "default")
    got = await fetch(scripts, priorities=("high", "default"))
    assert (got.deliveries, got.last_ids, got.next_due_ms) == ([], [b"0-0", b"0-0", b"0-0"], -1)

    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a"))
    await scripts.enqueue([new_task("later", due_ms=NOW + 100)])
    (wake_id, _), *_ = await entries(redis, keys.wake)
    got = await fetch(scripts, priorities=("high", "default"))
    assert got.deliveries == []
    assert got.last_ids == [b"0-0", d.entry_id, wake_id]
    assert got.next_due_ms == NOW + 100


async def test_fetch_that_takes_all_that_is_ready_returns_last_ids_too(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Room to spare and every ready entry taken: last_ids come with the deliveries,
    so the worker waits for new entries instead of fetching again to find nothing;
    the room full: no last_ids (fetch again at once)."""
    await make_groups(redis, keys)
    await scripts.enqueue([new_task("a"), new_task("b")])
    got = await fetch(scripts, count=10)
    assert [d.raw_id for d in got.deliveries] == [b"a", b"b"]
    assert got.last_ids[0] == got.deliveries[-1].entry_id
    woken: Any = await redis.xread({keys.stream: got.last_ids[0]}, count=10)
    assert not woken, "nothing new after last_ids yet"
    await scripts.enqueue([new_task("c"), new_task("d")])
    full = await fetch(scripts, count=1)
    assert [d.raw_id for d in full.deliveries] == [b"c"] and full.last_ids == []


async def test_fetch_that_takes_nothing_leaves_no_ready_entry_behind_last_ids(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A fetch that returns nothing must not leave ready (never delivered) entries
    before the ids a blocking XREAD waits after, or the worker sleeps on ready work."""
    await make_groups(redis, keys)
    await scripts.enqueue([new_task("stale"), new_task("ready")])
    await redis.delete(keys.task("stale"))
    got = await fetch(scripts, count=1)
    if got.deliveries:
        return
    ready_entry = (await task_hash(redis, keys, "ready"))["x"]
    woken: Any = await redis.xread({keys.stream: got.last_ids[0]}, count=10)
    assert woken, f"ready entry {ready_entry!r} is not after last_ids {got.last_ids!r}"


# -- finish.lua ----------------------------------------------------------------------------


async def test_finish_done_delivers_and_forgets(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """'done': the hash goes, the outcome is stored with PX ttl and published as
    `<len>:<id><outcome>` to every route, the entry is acked and deleted."""
    await make_groups(redis, keys)
    await scripts.enqueue([new_task("job1", route="c1")])
    await scripts.enqueue([new_task("job1", route="c2")])
    (d,) = (await fetch(scripts)).deliveries
    async with subscribed(redis, keys.inbox("c1"), keys.inbox("c2"), keys.inbox("c3")) as ps:
        assert await finish(scripts, d, data=b"\x00RESULT", ttl_ms=60_000) is True
        got = await messages(ps, 2)
        assert sorted(got) == [
            (keys.inbox("c1").encode(), wire("job1", b"\x00RESULT")),
            (keys.inbox("c2").encode(), wire("job1", b"\x00RESULT")),
        ]
        assert await no_message(ps)
    assert not await redis.exists(keys.task("job1"))
    assert await redis.get(keys.result("job1")) == b"\x00RESULT"
    assert 59_000 < await redis.pttl(keys.result("job1")) <= 60_000
    assert await xlen(redis, keys.stream) == 0
    assert await pending(redis, keys.stream) == {}


@pytest.mark.parametrize(
    ("task_ttl", "ttl_ms", "expected_pttl"),
    [
        (60_000, -1, -1),  # forever
        (60_000, 0, None),  # not stored
        (123_456, TASK_TTL, 123_456),  # the hash's t
        (-1, TASK_TTL, -1),
        (0, TASK_TTL, None),
    ],
)
async def test_finish_result_ttl(
    scripts: Scripts,
    redis: Redis,
    keys: Keys,
    task_ttl: int,
    ttl_ms: int,
    expected_pttl: int | None,
) -> None:
    """-1 keeps the outcome forever, 0 stores nothing, TASK_TTL uses the hash's t."""
    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a", ttl_ms=task_ttl))
    assert await finish(scripts, d, data=b"R", ttl_ms=ttl_ms)
    pttl = await redis.pttl(keys.result("a"))
    if expected_pttl is None:
        assert not await redis.exists(keys.result("a"))
    elif expected_pttl == -1:
        assert pttl == -1
        assert await redis.get(keys.result("a")) == b"R"
    else:
        assert expected_pttl - 1000 < pttl <= expected_pttl


async def test_finish_dead_copies_the_task_to_the_dead_stream(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """'dead': XADD to the dead stream with id, reason, at, the task's fields (p,f,e,s,t,
    q,n; not routes/entry/holder) and their byte size; dead:bytes counts it; then as
    'done'."""
    await make_groups(redis, keys, "high")
    task = new_task("d1", args=b"AAAA", signature=b"SIG", priority="high", route="c1")
    assert await scripts.enqueue([task]) == [True]
    (d,) = (await fetch(scripts, priorities=("high",))).deliveries
    assert await finish(scripts, d, FinishAction.DEAD, b"OUT", reason="bad input")

    ((_, dead),) = await entries(redis, keys.dead)
    values = [b"d1", b"bad input", b"AAAA", b"fn", b"1234", b"SIG", b"60000", b"high", b"1"]
    size = sum(len(v) for v in values)
    assert dead == {
        b"id": b"d1",
        b"reason": b"bad input",
        b"at": str(NOW).encode(),
        b"p": b"AAAA",
        b"f": b"fn",
        b"e": b"1234",
        b"s": b"SIG",
        b"t": b"60000",
        b"q": b"high",
        b"n": b"1",
        b"bytes": str(size).encode(),
    }
    assert await redis.get(keys.dead_bytes) == str(size).encode()
    assert not await redis.exists(keys.task("d1"))
    assert await redis.get(keys.result("d1")) == b"OUT"
    assert await xlen(redis, keys.stream_for("high")) == 0


async def _dead_letter(scripts: Scripts, redis: Redis, keys: Keys, n: int, **caps: int) -> None:
    deliveries = await enqueue_and_fetch(
        scripts, redis, keys, *[new_task(f"t{i}") for i in range(n)]
    )
    for d in deliveries:
        assert await finish(scripts, d, FinishAction.DEAD, reason="r", **caps)


async def _dead_state(redis: Redis, keys: Keys) -> tuple[list[bytes], int]:
    dead = await entries(redis, keys.dead)
    total = sum(int(fields[b"bytes"]) for _, fields in dead)
    counter = await redis.get(keys.dead_bytes)
    assert int(counter or 0) == total, "dead:bytes does not follow the stream"
    return [fields[b"id"] for _, fields in dead], total


async def test_finish_dead_trims_by_count(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """The dead stream keeps at most dead_cap entries (oldest go); dead:bytes follows."""
    await _dead_letter(scripts, redis, keys, 3, dead_cap=2)
    ids, _ = await _dead_state(redis, keys)
    assert ids == [b"t1", b"t2"]


async def test_finish_dead_trims_by_bytes(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """The dead stream keeps at most dead_max_bytes of task data (oldest go);
    dead:bytes follows, and is reset when an entry alone is over the budget."""
    one = len(b"t0" + b"r" + b"ARGS" + b"fn" + b"1234" + b"60000" + b"1")
    await _dead_letter(scripts, redis, keys, 3, dead_max_bytes=2 * one)
    ids, total = await _dead_state(redis, keys)
    assert (ids, total) == ([b"t1", b"t2"], 2 * one)

    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("huge", args=b"X" * 500))
    assert await finish(scripts, d, FinishAction.DEAD, reason="r", dead_max_bytes=2 * one)
    assert await _dead_state(redis, keys) == ([], 0)


async def test_finish_retry_later_goes_to_delayed(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """'retry' with due>0: ZADD delayed, x='' and w='', entry acked and deleted, a wake
    entry; nothing stored or published; tries stay."""
    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a", route="c1"))
    async with subscribed(redis, keys.inbox("c1")) as ps:
        assert await finish(scripts, d, FinishAction.RETRY, NOW + 1000)
        assert await no_message(ps)
    t = await task_hash(redis, keys, "a")
    assert (t["x"], t["w"], t["n"]) == (b"", b"", b"1")
    assert await redis.zscore(keys.delayed, "a") == NOW + 1000
    assert await xlen(redis, keys.stream) == 0
    assert await pending(redis, keys.stream) == {}
    assert await xlen(redis, keys.wake) == 1
    assert not await redis.exists(keys.result("a"))


async def test_finish_retry_now_pushes_a_new_entry(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """'retry' with due<=0: a new entry in the task's stream, named by x; w=''."""
    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a"))
    assert await finish(scripts, d, FinishAction.RETRY, 0)
    ((entry, fields),) = await entries(redis, keys.stream)
    assert entry != d.entry_id
    assert fields == {b"i": b"a"}
    t = await task_hash(redis, keys, "a")
    assert (t["x"], t["w"], t["n"]) == (entry, b"", b"1")
    assert await pending(redis, keys.stream) == {}
    assert not await redis.exists(keys.delayed)
    (again,) = (await fetch(scripts)).deliveries
    assert (again.entry_id, again.tries) == (entry, 2)


async def test_finish_is_fenced_when_the_try_moved_on(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A settlement whose try no longer matches (the task was reclaimed) returns False:
    nothing stored, published, acked or deleted."""
    (old,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a", route="c1"))
    await set_idle(redis, keys.stream, "w1", old.entry_id, 60_000)
    (new,) = (await fetch(scripts, consumer="w2", reclaim_ms=30_000)).deliveries
    assert (new.entry_id, new.tries) == (old.entry_id, 2)
    before = await task_hash(redis, keys, "a")
    async with subscribed(redis, keys.inbox("c1")) as ps:
        for action, data in ((FinishAction.DONE, b"X"), (FinishAction.DEAD, b"X")):
            assert await finish(scripts, old, action, data) is False
        assert await finish(scripts, old, FinishAction.RETRY, 0) is False
        assert await no_message(ps)
    assert await task_hash(redis, keys, "a") == before
    assert not await redis.exists(keys.result("a"), keys.dead)
    assert (await pending(redis, keys.stream))[old.entry_id][0] == b"w2"
    assert await xlen(redis, keys.stream) == 1
    # and the current holder still settles
    assert await finish(scripts, new) is True


async def test_finish_is_fenced_when_the_entry_changed(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A settlement whose entry is no longer the task's (pushed again) returns False;
    in a batch, only the matching settlements apply."""
    (a, b) = await enqueue_and_fetch(scripts, redis, keys, new_task("a"), new_task("b"))
    new_entry = await xadd(redis, keys.stream, {"i": "a"})
    await redis.hset(keys.task("a"), "x", new_entry)
    applied = await scripts.finish(
        [(a, FinishAction.DONE, b"X", 60_000, ""), (b, FinishAction.DONE, b"Y", 60_000, "")],
        now_ms=NOW,
        dead_cap=DEAD_CAP,
        dead_max_bytes=DEAD_BYTES,
    )
    assert applied == [False, True]
    assert await redis.exists(keys.task("a"))
    assert not await redis.exists(keys.result("a"))
    assert a.entry_id in await pending(redis, keys.stream)
    assert await redis.get(keys.result("b")) == b"Y"


# -- renew.lua -----------------------------------------------------------------------------


async def test_renew_reports_lost_and_aborting_and_resets_own_idle(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Lost: (entry, try) no longer match; aborting: `a` set. Only the consumer's own
    current deliveries get their idle time reset (without a delivery count bump); an
    entry another consumer took over is never claimed back."""
    (mine, taken, aborting, gone) = await enqueue_and_fetch(
        scripts,
        redis,
        keys,
        *[new_task(t) for t in ("mine", "taken", "aborting", "gone")],
    )
    # `taken` lapsed and w2 reclaimed it; `gone` finished elsewhere
    await set_idle(redis, keys.stream, "w1", taken.entry_id, 60_000)
    (t2,) = (await fetch(scripts, consumer="w2", reclaim_ms=30_000)).deliveries
    assert t2.raw_id == b"taken"
    await set_idle(redis, keys.stream, "w2", taken.entry_id, 500_000)
    await redis.hset(keys.task("aborting"), "a", 1)
    assert await finish(scripts, gone)
    for d in (mine, aborting):
        await set_idle(redis, keys.stream, "w1", d.entry_id, 60_000)

    lost, abort = await scripts.renew("w1", [mine, taken, aborting, gone])
    assert (lost, abort) == ([1, 3], [2])
    p = await pending(redis, keys.stream)
    for d in (mine, aborting):
        consumer, idle, deliveries = p[d.entry_id]
        assert (consumer, deliveries) == (b"w1", 1)
        assert idle < 10_000
    consumer, idle, deliveries = p[taken.entry_id]
    assert (consumer, deliveries) == (b"w2", 2)
    assert idle >= 500_000
    assert (await task_hash(redis, keys, "taken"))["w"] == b"w2"


# -- release.lua ---------------------------------------------------------------------------


async def test_release_hands_back_and_fences_the_old_token(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Unstarted: n-1; started: n kept; both get a new entry and w=''; the old entries
    are acked and deleted; a stale delivery is not released; the count is returned. The
    old (entry, try) never matches again."""
    (unstarted, started, stale) = await enqueue_and_fetch(
        scripts, redis, keys, new_task("u"), new_task("s"), new_task("x")
    )
    await redis.hset(keys.task("x"), "n", 7)
    assert await scripts.release([(unstarted, False), (started, True), (stale, False)]) == 2

    u = await task_hash(redis, keys, "u")
    s = await task_hash(redis, keys, "s")
    assert (u["n"], u["w"], s["n"], s["w"]) == (b"0", b"", b"1", b"")
    stream = await entries(redis, keys.stream)
    assert [e for e, _ in stream] == [stale.entry_id, u["x"], s["x"]]
    assert u["x"] not in (unstarted.entry_id, started.entry_id)
    assert set(await pending(redis, keys.stream)) == {stale.entry_id}
    assert (await task_hash(redis, keys, "x"))["n"] == b"7"

    # the old tokens can never match again
    assert await scripts.release([(unstarted, False), (started, True)]) == 0
    assert await finish(scripts, unstarted) is False
    assert await finish(scripts, started) is False
    assert not await redis.exists(keys.result("u"), keys.result("s"))
    # an unstarted task's try was given back: the next delivery is try 1 again
    got = await fetch(scripts)
    assert [(d.raw_id, d.tries) for d in got.deliveries] == [(b"u", 1), (b"s", 2)]


# -- abort.lua -----------------------------------------------------------------------------


async def test_abort_not_live_writes_nothing(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """A missing task: NOT_LIVE and not a single key written."""
    before = await redis.keys(keys.base + "*")
    result = await scripts.abort(
        "nope", scheduled_only=False, outcome=b"ABORTED", fn_name="fn", enqueue_ms=1234
    )
    assert result is AbortResult.NOT_LIVE
    assert await redis.keys(keys.base + "*") == before == []


async def test_abort_changed_when_the_header_differs(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """fn or enqueue_ms differ from what the caller read: CHANGED and nothing done."""
    await scripts.enqueue([new_task("a")])
    before = await task_hash(redis, keys, "a")
    for fn, enq in (("other", 1234), ("fn", 999)):
        result = await scripts.abort(
            "a", scheduled_only=False, outcome=b"X", fn_name=fn, enqueue_ms=enq
        )
        assert result is AbortResult.CHANGED
    assert await task_hash(redis, keys, "a") == before
    assert await xlen(redis, keys.stream) == 1
    assert not await redis.exists(keys.result("a"))


async def test_abort_queued(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """A queued task: ABORTED, hash deleted, stream entry XDEL'd, the outcome published
    to its routes and stored with the hash's ttl."""
    await scripts.enqueue([new_task("a", route="c1 c2", ttl_ms=90_000, priority="high")])
    async with subscribed(redis, keys.inbox("c1"), keys.inbox("c2")) as ps:
        result = await scripts.abort(
            "a", scheduled_only=False, outcome=b"ABORTED", fn_name="fn", enqueue_ms=1234
        )
        assert result is AbortResult.ABORTED
        assert sorted(await messages(ps, 2)) == [
            (keys.inbox("c1").encode(), wire("a", b"ABORTED")),
            (keys.inbox("c2").encode(), wire("a", b"ABORTED")),
        ]
    assert not await redis.exists(keys.task("a"))
    assert await xlen(redis, keys.stream_for("high")) == 0
    assert await redis.get(keys.result("a")) == b"ABORTED"
    assert 89_000 < await redis.pttl(keys.result("a")) <= 90_000


async def test_abort_scheduled(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """A scheduled task: ABORTED (in either mode), ZREM'd, hash deleted, outcome stored."""
    for tid, scheduled_only in (("a", False), ("b", True)):
        await scripts.enqueue([new_task(tid, due_ms=NOW + 10, ttl_ms=-1)])
        result = await scripts.abort(
            tid, scheduled_only=scheduled_only, outcome=b"AB", fn_name="fn", enqueue_ms=1234
        )
        assert result is AbortResult.ABORTED
        assert await redis.zscore(keys.delayed, tid) is None
        assert not await redis.exists(keys.task(tid))
        assert await redis.get(keys.result(tid)) == b"AB"
        assert await redis.pttl(keys.result(tid)) == -1


async def test_abort_scheduled_only_leaves_a_queued_task(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """scheduled_only: a queued task is NOT_LIVE for it and untouched."""
    await scripts.enqueue([new_task("a")])
    before = await task_hash(redis, keys, "a")
    result = await scripts.abort(
        "a", scheduled_only=True, outcome=b"X", fn_name="fn", enqueue_ms=1234
    )
    assert result is AbortResult.NOT_LIVE
    assert await task_hash(redis, keys, "a") == before
    assert await xlen(redis, keys.stream) == 1
    assert not await redis.exists(keys.result("a"))


async def test_abort_held_requests(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """A held task: REQUESTED, a=1 set, the id published on the control channel; the
    task, its entry and the delivery stay."""
    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a", route="c1"))
    async with subscribed(redis, keys.control, keys.inbox("c1")) as ps:
        result = await scripts.abort(
            "a", scheduled_only=False, outcome=b"X", fn_name="fn", enqueue_ms=1234
        )
        assert result is AbortResult.REQUESTED
        assert await messages(ps, 2, timeout=0.3) == [(keys.control.encode(), b"a")]
    t = await task_hash(redis, keys, "a")
    assert (t["a"], t["w"], t["x"]) == (b"1", b"w1", d.entry_id)
    assert d.entry_id in await pending(redis, keys.stream)
    assert not await redis.exists(keys.result("a"))
    assert await scripts.renew("w1", [d]) == ([], [0])


# -- status.lua ----------------------------------------------------------------------------


async def test_status_of_each_state(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """missing, done, scheduled (due), running (holder, tries), queued."""
    await make_groups(redis, keys)
    assert await scripts.status("nope") == TaskState("missing", None, 0, 0, -1, None)
    await redis.set(keys.result("done"), b"R")
    assert await scripts.status("done") == TaskState("done", None, 0, 0, -1, None)

    await scripts.enqueue([new_task("sch", due_ms=NOW + 7, enqueue_ms=11, fn="f1")])
    assert await scripts.status("sch") == TaskState("scheduled", "f1", 11, 0, NOW + 7, None)

    await scripts.enqueue([new_task("run", enqueue_ms=22, fn="f2")])
    (d,) = (await fetch(scripts, consumer="wX")).deliveries
    assert await scripts.status("run") == TaskState("running", "f2", 22, 1, -1, "wX")

    # queued again after a retry: the tries it used show
    assert await finish(scripts, d, FinishAction.RETRY, 0)
    assert await scripts.status("run") == TaskState("queued", "f2", 22, 1, -1, None)
    await scripts.enqueue([new_task("q", enqueue_ms=33, fn="f3")])
    assert await scripts.status("q") == TaskState("queued", "f3", 33, 0, -1, None)


# -- watch.lua -----------------------------------------------------------------------------


async def test_watch(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """Live: True and the route added once; stored: the outcome bytes; nowhere: False."""
    await scripts.enqueue([new_task("live", route="c0")])
    await redis.set(keys.result("stored"), b"\x00OUT")
    await redis.set(keys.result("empty"), b"")
    reply = await scripts.watch("c1", ["live", "stored", "nowhere", "empty"])
    assert reply == [True, b"\x00OUT", False, b""]
    assert await scripts.watch("c1", ["live"]) == [True]
    assert (await task_hash(redis, keys, "live"))["r"] == b"c0 c1"
    assert not await redis.exists(keys.task("nowhere"), keys.result("nowhere"))


# -- live.lua and view.lua -----------------------------------------------------------------


async def test_live_progress_is_kept_and_published_to_viewers_only(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A progress report lands in the hash's ``g`` field and goes to the viewers (not
    to clients that only wait for the outcome)."""
    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a", route="waiter"))
    reply = await scripts.view("viewer", "a", "", 0)
    assert (reply.state, reply.progress, reply.tries, reply.outcome) == (1, None, 1, None)
    async with subscribed(redis, keys.inbox("viewer"), keys.inbox("waiter")) as ps:
        assert await scripts.progress(d, b"REPORT") is True
        got = await messages(ps, 2, timeout=0.5)
    assert got == [(keys.inbox("viewer").encode(), b"p" + wire("a", b"REPORT"))]
    fields = await task_hash(redis, keys, "a")
    assert (fields["g"], fields["v"], fields["r"]) == (b"REPORT", b"viewer", b"waiter viewer")
    # a viewer attaching later gets the last report in its reply
    assert (await scripts.view("late", "a", "", 0)).progress == b"REPORT"


async def test_live_items_are_numbered_by_try_and_kept(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Items get entry ids ``<try>-<seq>``, the stream is capped and expires after
    ``keep_ms`` (``-1``: never), and the prebuilt message reaches the viewers."""
    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a"))
    await scripts.view("viewer", "a", "", 0)
    async with subscribed(redis, keys.inbox("viewer")) as ps:
        ok = await scripts.items(
            d, [b"i1", b"i2"], first_seq=1, message=b"MSG", keep_ms=60_000, max_items=100
        )
        assert ok is True
        assert await messages(ps, 1) == [(keys.inbox("viewer").encode(), b"i" + wire("a", b"MSG"))]
    await scripts.items(d, [b"i3"], first_seq=3, message=b"M", keep_ms=-1, max_items=100)
    stored = await entries(redis, keys.items("a"))
    assert [(e, f[b"d"]) for e, f in stored] == [(b"1-1", b"i1"), (b"1-2", b"i2"), (b"1-3", b"i3")]
    assert await redis.pttl(keys.items("a")) == -1
    reply = await scripts.view("late", "a", "1-1", 10)  # after an entry: exclusive
    assert reply.items == [(b"1-2", b"i2"), (b"1-3", b"i3")]
    assert (await scripts.view("late", "a", "-", 2)).items == [(b"1-1", b"i1"), (b"1-2", b"i2")]


async def test_live_writes_are_fenced(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """A delivery that is no longer the task's current one (reclaimed: the try moved
    on) writes nothing: no report, no item, no message."""
    (old,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a"))
    await set_idle(redis, keys.stream, "w1", old.entry_id, 60_000)
    (new,) = (await fetch(scripts, consumer="w2", reclaim_ms=30_000)).deliveries
    await scripts.view("viewer", "a", "", 0)
    async with subscribed(redis, keys.inbox("viewer")) as ps:
        assert await scripts.progress(old, b"OLD") is False
        ok = await scripts.items(old, [b"x"], first_seq=1, message=b"M", keep_ms=1, max_items=9)
        assert ok is False
        assert await no_message(ps)
    assert "g" not in await task_hash(redis, keys, "a")
    assert not await redis.exists(keys.items("a"))
    assert await scripts.progress(new, b"NEW") is True


async def test_live_restart_drops_earlier_tries(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """First seq 0: a new try drops what earlier tries yielded and writes its mark."""
    (first,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a"))
    await scripts.items(first, [b"a", b"b"], first_seq=1, message=b"M", keep_ms=9000, max_items=9)
    await set_idle(redis, keys.stream, "w1", first.entry_id, 60_000)
    (second,) = (await fetch(scripts, consumer="w2", reclaim_ms=30_000)).deliveries
    ok = await scripts.items(second, [b"c"], first_seq=0, message=b"M", keep_ms=9000, max_items=9)
    assert ok is True
    stored = await entries(redis, keys.items("a"))
    assert [(e, f) for e, f in stored] == [(b"2-0", {b"r": b""}), (b"2-1", {b"d": b"c"})]


async def test_view_of_a_finished_and_a_missing_task(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Finished: state 2 with the stored outcome and the items; nowhere: state 0; no
    route or viewer is written for either."""
    (d,) = await enqueue_and_fetch(scripts, redis, keys, new_task("a"))
    await scripts.items(d, [b"x"], first_seq=1, message=b"M", keep_ms=9000, max_items=9)
    assert await finish(scripts, d, data=b"OUT") is True
    reply = await scripts.view("c", "a", "-", 10)
    assert (reply.state, reply.outcome, reply.items) == (2, b"OUT", [(b"1-1", b"x")])
    missing = await scripts.view("c", "nope", "-", 10)
    assert (missing.state, missing.outcome, missing.items) == (0, None, [])
    assert not await redis.exists(keys.task("a"), keys.task("nope"))


async def test_enqueue_of_a_reused_id_drops_its_old_items(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A new task under a reused id (``fresh`` false) starts without the items of the
    last one, as it starts without its outcome."""
    await redis.xadd(keys.items("k"), {"d": "old"}, id="1-1")
    await scripts.enqueue([new_task("k", fresh=False)])
    assert not await redis.exists(keys.items("k"))


# -- reschedule.lua ------------------------------------------------------------------------


async def test_reschedule(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """A scheduled task moves to the new due time and workers are woken; a task that is
    not scheduled (queued, missing) is left alone: False."""
    await scripts.enqueue([new_task("s", due_ms=NOW + 10), new_task("q")])
    wakes = await xlen(redis, keys.wake)
    assert await scripts.reschedule("s", NOW + 99) is True
    assert await redis.zscore(keys.delayed, "s") == NOW + 99
    assert await xlen(redis, keys.wake) == wakes + 1

    assert await scripts.reschedule("q", NOW + 5) is False
    assert await scripts.reschedule("nope", NOW + 5) is False
    assert await redis.zrange(keys.delayed, 0, -1) == [b"s"]
    assert await xlen(redis, keys.wake) == wakes + 1


# -- cron.lua ------------------------------------------------------------------------------


async def test_cron_claims_a_tick_once_and_enqueues(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """The first claim of a tick records it and creates the run like enqueue (dropping a
    stale outcome); a second claim of the same or an earlier tick returns 0."""
    await redis.set(keys.result("run1"), b"stale")
    run1 = new_task("run1", priority="high", route="c1", fresh=True)
    assert await scripts.cron("job", 1000, False, run1) == 1
    assert await redis.hget(keys.crons, "job") == b"1000"
    t = await task_hash(redis, keys, "run1")
    ((entry, _),) = await entries(redis, keys.stream_for("high"))
    assert t == {
        "p": b"ARGS",
        "f": b"fn",
        "e": b"1234",
        "t": b"60000",
        "q": b"high",
        "r": b"c1",
        "x": entry,
    }
    assert not await redis.exists(keys.result("run1"))

    assert await scripts.cron("job", 1000, False, new_task("run2")) == 0
    assert await scripts.cron("job", 999, False, new_task("run3")) == 0
    assert not await redis.exists(keys.task("run2"), keys.task("run3"))
    assert await redis.hget(keys.crons, "job") == b"1000"


async def test_cron_catchup_of_a_new_job_only_records(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """catchup for a job never seen: the tick is recorded, nothing runs; catchup for a
    known job with a later tick runs it."""
    assert await scripts.cron("job", 1000, True, new_task("r1")) == 0
    assert await redis.hget(keys.crons, "job") == b"1000"
    assert not await redis.exists(keys.task("r1"), keys.stream)
    assert await scripts.cron("job", 2000, True, new_task("r2")) == 1
    assert await redis.exists(keys.task("r2"))


async def test_cron_skips_while_the_unique_run_is_live(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """A unique run still live: -1, the tick is claimed anyway, the task untouched."""
    assert await scripts.cron("job", 1000, False, new_task("uniq")) == 1
    before = await task_hash(redis, keys, "uniq")
    assert await scripts.cron("job", 2000, False, new_task("uniq", args=b"NEW")) == -1
    assert await redis.hget(keys.crons, "job") == b"2000"
    assert await task_hash(redis, keys, "uniq") == before
    assert await xlen(redis, keys.stream) == 1


# -- prune.lua -----------------------------------------------------------------------------


async def consumers(redis: Redis, stream: str) -> set[bytes]:
    raw: Any = await cmd(redis, "XINFO", "CONSUMERS", stream, GROUP)
    names = set()
    for member in raw:
        info = (
            member
            if isinstance(member, dict)
            else dict(zip(member[::2], member[1::2], strict=True))
        )
        name = info.get(b"name", info.get("name"))
        names.add(name if isinstance(name, bytes) else str(name).encode())
    return names


async def test_prune_own_member_only_when_it_holds_nothing(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """'own' removes this consumer from each stream's group when it has nothing pending
    there, and never a member with pending entries."""
    await make_groups(redis, keys, "high", "default")
    await enqueue_and_fetch(scripts, redis, keys, new_task("a"), consumer="busy")
    for stream in (keys.stream, keys.stream_for("high")):
        await cmd(redis, "XGROUP", "CREATECONSUMER", stream, GROUP, "idle")
    await cmd(redis, "XGROUP", "CREATECONSUMER", keys.stream_for("high"), GROUP, "busy")

    assert await scripts.prune("idle", own=True, stale_ms=0, priorities=("high", "default")) == 2
    assert await scripts.prune("busy", own=True, stale_ms=0, priorities=("high", "default")) == 1
    assert await consumers(redis, keys.stream) == {b"busy"}
    assert await consumers(redis, keys.stream_for("high")) == set()


async def test_prune_stale_members(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """'stale' removes other members idle over stale_ms with nothing pending; never this
    consumer, a member with pending entries, or one idle for less."""
    await make_groups(redis, keys)
    await enqueue_and_fetch(scripts, redis, keys, new_task("a"), consumer="dead-busy")
    for name in ("me", "dead-idle"):
        await cmd(redis, "XGROUP", "CREATECONSUMER", keys.stream, GROUP, name)
    await asyncio.sleep(0.03)
    assert await scripts.prune("me", own=False, stale_ms=60_000, priorities=("default",)) == 0
    await cmd(redis, "XGROUP", "CREATECONSUMER", keys.stream, GROUP, "young")
    assert await scripts.prune("me", own=False, stale_ms=20, priorities=("default",)) == 1
    assert await consumers(redis, keys.stream) == {b"me", b"dead-busy", b"young"}


# -- recover.lua ---------------------------------------------------------------------------


async def test_recover_hands_back_own_pending_entries(
    scripts: Scripts, redis: Redis, keys: Keys
) -> None:
    """Entries pending for this consumer name go back as new entries (same n, w=''), the
    old ones acked and deleted; stale ones are only acked; other consumers' stay."""
    (a, b, stale) = await enqueue_and_fetch(
        scripts, redis, keys, new_task("a"), new_task("b"), new_task("stale"), consumer="w1"
    )
    (other,) = await enqueue_and_fetch(scripts, redis, keys, new_task("o"), consumer="w2")
    await redis.delete(keys.task("stale"))
    await finish(scripts, b, FinishAction.RETRY, 0)  # b got a new entry, re-taken by w1
    (b2,) = (await fetch(scripts, consumer="w1")).deliveries

    assert await scripts.recover("w1", 100, ["default"]) == 2
    for old in (a, b2):
        t = await task_hash(redis, keys, old.raw_id.decode())
        assert t["x"] != old.entry_id
        assert (t["n"], t["w"]) == (str(old.tries).encode(), b"")
    p = await pending(redis, keys.stream)
    assert set(p) == {other.entry_id}
    remaining = [e for e, _ in await entries(redis, keys.stream)]
    assert stale.entry_id not in remaining and a.entry_id not in remaining
    assert len(remaining) == 3  # other's, and the new entries of a and b
    got = await fetch(scripts, consumer="w1")
    assert sorted((d.raw_id, d.tries) for d in got.deliveries) == [(b"a", 2), (b"b", 3)]


# -- probe.lua -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["client", "worker"])
async def test_probe_default_user_may_do_everything(
    scripts: Scripts, redis: Redis, keys: Keys, role: str
) -> None:
    """The default (all-powerful) user is refused nothing; no probe key is left behind."""
    assert await scripts.probe(role) == []
    assert await redis.keys(keys.base + "*") == []


# -- NOSCRIPT ------------------------------------------------------------------------------


async def test_noscript_falls_back_to_eval_once(scripts: Scripts, redis: Redis, keys: Keys) -> None:
    """After SCRIPT FLUSH, a single call and a pipelined (>1000 tasks) enqueue both
    still work, and no task is created twice."""
    await cmd(redis, "SCRIPT", "FLUSH")
    assert await scripts.enqueue([new_task("single")]) == [True]
    await cmd(redis, "SCRIPT", "FLUSH")
    created = await scripts.enqueue([new_task(f"t{i}") for i in range(2100)])
    assert created == [True] * 2100
    assert await xlen(redis, keys.stream) == 2101
    await cmd(redis, "SCRIPT", "FLUSH")
    assert await scripts.enqueue([new_task(f"t{i}") for i in range(2100)]) == [False] * 2100
    assert await xlen(redis, keys.stream) == 2101
