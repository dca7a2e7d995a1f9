"""The seeded plan: :func:`make_plan` draws everything a run does from
``random.Random(seed)``: how many workers and clients, their settings, a timeline
of client operations and a timeline of faults."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

from tests.chaos.checker.settings import KEY_SPACE, PRIORITIES, WINDOW_S


@dataclass(frozen=True)
class Call:
    """One task call: its function, arguments and the token it returns."""

    fn: str
    args: tuple[Any, ...]
    token: int


@dataclass(frozen=True)
class OpPlan:
    """One client operation at ``at`` seconds into the window."""

    index: int
    at: float
    client: int
    kind: str
    calls: tuple[Call, ...] = ()
    key: str | None = None
    delay: float | None = None
    priority: str | None = None
    wait: str = "none"  # "none" | "result" | "outcome"
    timeout: float | None = None
    routed: bool = False  # send through result()/outcome() (the route rides along)
    target: int = -1  # the earlier operation whose task this one acts on
    pick: int = 0  # which of the target's tasks


@dataclass(frozen=True)
class FaultPlan:
    """One fault at ``at`` seconds into the window."""

    index: int
    at: float
    kind: str
    worker: int = 0
    duration: float = 0.0
    pick: int = 0
    garbage: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything one seed decides."""

    seed: int
    window_s: float
    workers: int
    clients: int
    concurrency: int
    grace_s: float
    fixed_ids: bool
    ops: tuple[OpPlan, ...]
    faults: tuple[FaultPlan, ...]


_FNS: Final = (("quick", 35), ("nap", 20), ("blocking", 12), ("boom", 10), ("flaky", 15))
_OP_KINDS: Final = (
    ("send_wait", 20),
    ("start", 20),
    ("send_many", 8),
    ("unique", 8),
    ("wait", 12),
    ("abort", 8),
    ("reschedule", 6),
    ("unschedule", 3),
    ("status", 3),
)
_SENDS: Final = frozenset({"send_wait", "start", "send_many", "unique"})
_FAULT_KINDS: Final = (
    ("kill", 3),
    ("stop", 3),
    ("term", 2),
    ("redis", 2),
    ("flush", 1),
    ("pubsub", 2),
    ("xadd", 2),
    ("publish", 3),
)
_MAX_REDIS_RESTARTS: Final = 2


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in table], [weight for _, weight in table])[0]


def _call(rng: random.Random, token: int) -> Call:
    fn = _weighted(rng, _FNS)
    args: tuple[Any, ...] = (token,)
    if fn == "nap":
        args = (token, round(rng.uniform(0.1, 2.5), 2))
    elif fn == "blocking":
        args = (token, round(rng.uniform(0.05, 1.0), 2))
    elif fn == "flaky":
        args = (token, rng.randint(0, 2))
    return Call(fn, args, token)


def _timeout(rng: random.Random) -> float | None:
    if rng.random() < 0.3:
        return None
    return round(rng.choice((0.05, 0.3, 1.0, 3.0, 6.0)) * rng.uniform(0.5, 1.5), 3)


def _wait_mode(rng: random.Random, p_none: float) -> str:
    return "none" if rng.random() < p_none else rng.choice(("result", "outcome"))


@dataclass
class _Drawing:
    """What :func:`make_plan` knows while it draws operations."""

    rng: random.Random
    clients: int
    senders: list[int] = field(default_factory=list)
    delayed: list[int] = field(default_factory=list)


def _op_send_wait(d: _Drawing, i: int, at: float, c: int) -> OpPlan:
    mode = d.rng.choice(("result", "outcome"))
    calls = (_call(d.rng, i * 100),)
    return OpPlan(i, at, c, "send_wait", calls, wait=mode, timeout=_timeout(d.rng), routed=True)


def _op_start(d: _Drawing, i: int, at: float, c: int) -> OpPlan:
    rng = d.rng
    key = rng.choice(KEY_SPACE) if rng.random() < 0.35 else None
    delay = round(rng.uniform(0.1, 2.0), 2) if rng.random() < 0.25 else None
    priority = rng.choice(PRIORITIES) if rng.random() < 0.3 else None
    if delay is not None:
        d.delayed.append(i)
    return OpPlan(
        i,
        at,
        c,
        "start",
        (_call(rng, i * 100),),
        key=key,
        delay=delay,
        priority=priority,
        wait=_wait_mode(rng, 0.5),
        timeout=_timeout(rng),
    )


def _op_send_many(d: _Drawing, i: int, at: float, c: int) -> OpPlan:
    rng = d.rng
    calls = tuple(_call(rng, i * 100 + j) for j in range(rng.randint(2, 6)))
    return OpPlan(
        i,
        at,
        c,
        "send_many",
        calls,
        wait=_wait_mode(rng, 0.5),
        timeout=_timeout(rng),
        pick=rng.randrange(len(calls)),
    )


def _op_unique(d: _Drawing, i: int, at: float, c: int) -> OpPlan:
    rng = d.rng
    k = rng.randrange(3)
    routed = rng.random() < 0.5
    return OpPlan(
        i,
        at,
        c,
        "unique",
        (Call("uniq", (k,), k),),
        wait=rng.choice(("result", "outcome")) if routed else _wait_mode(rng, 0.5),
        timeout=_timeout(rng),
        routed=routed,
    )


def _op_on_target(d: _Drawing, i: int, at: float, c: int, kind: str) -> OpPlan:
    rng = d.rng
    pool = d.delayed if kind in ("reschedule", "unschedule") and d.delayed else d.senders
    if rng.random() < 0.3:
        pool = d.senders
    target = rng.choice(pool[-40:])  # mostly recent tasks: some are still live
    timeout = _timeout(rng) if kind == "wait" else None
    if kind == "abort" and rng.random() < 0.8:
        timeout = round(rng.uniform(0.1, 3.0), 2)
    return OpPlan(
        i,
        at,
        c,
        kind,
        wait=rng.choice(("result", "outcome")) if kind == "wait" else "none",
        delay=round(rng.uniform(0.1, 1.5), 2) if kind == "reschedule" else None,
        timeout=timeout,
        target=target,
        pick=rng.randrange(6),
    )


_DRAW_OP: Final[dict[str, Callable[[_Drawing, int, float, int], OpPlan]]] = {
    "send_wait": _op_send_wait,
    "start": _op_start,
    "send_many": _op_send_many,
    "unique": _op_unique,
}


def _bad_outcome(rng: random.Random) -> bytes:
    """A well-framed outcome (a msgpack array) that is wrong in exactly one way,
    so it can never pass for a real one."""
    kind = rng.choice((0, 1, 2, 3))
    body: Any = b"\x91\x01" if kind == 0 else ["E", "message", ""]
    ms = 1_700_000_000_000
    fields: list[Any] = [1, kind, body, 1, ms, ms, ms, "forger", "quick"]
    bad = rng.choice(("body", "time", "kind", "arity"))
    if bad == "body":
        fields[1] = rng.choice((1, 2, 3))
        fields[2] = rng.choice((7, [], ["only"], "ab", None))
    elif bad == "time":
        fields[4] = rng.choice(("x", None, [1]))
    elif bad == "kind":
        fields[1] = [0]
    else:
        fields = fields[: rng.randint(0, 8)]
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def _inbox_garbage(rng: random.Random) -> tuple[tuple[str, bytes], ...]:
    out: list[tuple[str, bytes]] = []
    for _ in range(rng.randint(1, 4)):
        form = rng.choice(("random", "nocolon", "badlen", "negative", "junk", "shape", "shape"))
        data = _bad_outcome(rng) if form == "shape" else rng.randbytes(rng.randint(0, 32))
        out.append((form, data))
    return tuple(out)


def _stream_garbage(rng: random.Random) -> tuple[tuple[str, bytes], ...]:
    forms = ("nofield", "ghost", "stale", "stale", "binary", "notfirst", "wake")
    return tuple((rng.choice(forms), rng.randbytes(8)) for _ in range(rng.randint(1, 4)))


def _fault(rng: random.Random, index: int, at: float, workers: int, restarts: int) -> FaultPlan:
    kind = _weighted(rng, _FAULT_KINDS)
    while kind == "redis" and restarts >= _MAX_REDIS_RESTARTS:
        kind = _weighted(rng, _FAULT_KINDS)
    duration = {
        "kill": rng.uniform(0.0, 1.0),  # until the restart
        "stop": rng.uniform(1.5, 3.0),  # SIGSTOP to SIGCONT: past the 1 s lease
        "redis": rng.uniform(0.2, 1.0),  # the outage
    }.get(kind, 0.0)
    garbage: tuple[tuple[str, bytes], ...] = ()
    if kind == "xadd":
        garbage = _stream_garbage(rng)
    elif kind == "publish":
        garbage = _inbox_garbage(rng)
    return FaultPlan(
        index, at, kind, rng.randrange(workers), round(duration, 3), rng.randrange(1000), garbage
    )


def make_plan(seed: int, window_s: float = WINDOW_S) -> Plan:
    """Draw everything a run does from ``random.Random(seed)``."""
    rng = random.Random(seed)
    workers = rng.choice((2, 3))
    clients = rng.choice((2, 3))
    concurrency = rng.choice((3, 4, 8))
    grace_s = rng.choice((0.5, 1.0, 2.0, 3.0))
    fixed_ids = rng.random() < 0.5
    drawing = _Drawing(rng, clients)
    ops: list[OpPlan] = []
    rate = rng.uniform(8.0, 18.0)
    at = 0.0
    while True:
        at += rng.expovariate(rate)
        if at >= window_s:
            break
        i, c = len(ops), rng.randrange(clients)
        kind = _weighted(rng, _OP_KINDS)
        if kind not in _SENDS and not drawing.senders:
            kind = "send_wait"
        draw = _DRAW_OP.get(kind)
        op = draw(drawing, i, at, c) if draw else _op_on_target(drawing, i, at, c, kind)
        if kind in _SENDS:
            drawing.senders.append(i)
        ops.append(op)
    faults: list[FaultPlan] = []
    at = rng.uniform(0.3, 1.0)
    while at < window_s - 0.5:
        restarts = sum(f.kind == "redis" for f in faults)
        faults.append(_fault(rng, len(faults), round(at, 3), workers, restarts))
        at += rng.uniform(0.4, 1.6)
    return Plan(
        seed, window_s, workers, clients, concurrency, grace_s, fixed_ids, tuple(ops), tuple(faults)
    )
