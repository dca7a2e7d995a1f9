"""The least-privilege ACL rules of docs/acl.md, on the session's real redis-server.

The rules are read out of docs/acl.md (the code blocks after ``<!-- acl:<name> -->``),
so the page and these tests cannot drift apart: a worker user and a client user with
exactly those rules run a full round trip, and a user that lacks any one of the
commands or patterns is told so at connect (``ConfigurationError`` naming it and
pointing at docs/acl.md), promptly, instead of failing later or retrying forever.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import pytest
from redis.asyncio import Redis

from sdk import Retry, TaskAborted, TaskFailed, TaskStatus, Worker, WrappedContext
from sdk._keys import Keys
from sdk._redis import ACL_DOCS
from sdk.client import Client
from sdk.errors import ConfigurationError
from sdk.worker._inspect import read_status
from tests.helpers import wait_for_status, wait_until

_DOC: Final = Path(__file__).resolve().parents[1] / "docs" / "acl.md"
_BLOCK: Final = re.compile(r"<!-- acl:([\w-]+) -->\n```[\w-]*\n(.*?)\n```", re.S)
#: The example queue of docs/acl.md, replaced by the test's queue.
_DOC_QUEUE: Final = "orders"
#: A refused connect must end within this long (it is one round trip or a few).
_PROMPT_S: Final = 5.0
#: Refusals the documented rules leave on purpose (docs/acl.md, "not granted").
_TOLERATED: Final = {"config|get", "client|setinfo"}
EVERY_SECOND: Final = "* * * * * *"


def _doc_blocks() -> dict[str, str]:
    blocks = dict(_BLOCK.findall(_DOC.read_text()))
    assert blocks, f"no <!-- acl:... --> code blocks in {_DOC}"
    return blocks


def _rules(name: str) -> list[str]:
    """The rules of one ``ACL SETUSER`` block of docs/acl.md (without the user name)."""
    words = _doc_blocks()[name].split()
    assert words[:2] == ["ACL", "SETUSER"] and len(words) > 3, f"acl:{name} is not one SETUSER"
    return words[3:]


def _for_queue(rules: list[str], queue_name: str) -> list[str]:
    """The one-queue rules of the doc with the test's queue in the patterns."""
    doc_patterns = {f"~relayq:{{{_DOC_QUEUE}}}:*", f"&relayq:{{{_DOC_QUEUE}}}:*"}
    assert doc_patterns <= set(rules), f"the doc's rules lack {doc_patterns}"
    return [r.replace(f"{{{_DOC_QUEUE}}}", f"{{{queue_name}}}") for r in rules]


def _without(rules: list[str], rule: str) -> list[str]:
    assert rule in rules, f"{rule!r} is not among the documented rules {rules}"
    return [r for r in rules if r != rule]


async def _acl(redis: Redis, *args: Any) -> Any:
    return await redis.execute_command("ACL", *args)  # type: ignore[no-untyped-call]


class AclUsers:
    """Creates Redis users (``ACL SETUSER``) for one test; the fixture deletes them."""

    def __init__(self, redis: Redis, redis_url: str, queue_name: str) -> None:
        self.redis = redis
        self._address = urlsplit(redis_url).netloc
        self._prefix = f"relayq-test-{queue_name[:12]}"
        self.names: list[str] = []

    async def create(self, role: str, rules: list[str], password: str = "s3cret-pw") -> str:
        """Create the user ``<prefix>-<role>`` with ``rules`` (the doc's ``>password``
        replaced by ``password``); returns its ``redis://user:password@...`` URL."""
        name = f"{self._prefix}-{role}"
        rules = [f">{password}" if r.startswith(">") else r for r in rules]
        assert f">{password}" in rules, "the rules set no password"
        await _acl(self.redis, "SETUSER", name, *rules)
        if name not in self.names:
            self.names.append(name)
        return self.url(name, password)

    def url(self, name: str, password: str) -> str:
        return f"redis://{quote(name, safe='')}:{quote(password, safe='')}@{self._address}"

    async def refusals(self) -> list[str]:
        """What ``ACL LOG`` recorded as refused for these users (command, key or channel)."""
        found = []
        for entry in await _acl(self.redis, "LOG"):
            # recent redis-py parses each entry into a dict, 5.0 leaves a flat list
            pairs = (
                entry.items()
                if isinstance(entry, dict)
                else zip(entry[::2], entry[1::2], strict=True)
            )
            fields = {_text(k): _text(v) for k, v in pairs}
            if fields["username"] in self.names:
                found.append(fields["object"])
        return found

    async def delete_all(self) -> None:
        if self.names:
            await _acl(self.redis, "DELUSER", *self.names)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture
async def acl_users(redis: Redis, redis_url: str, queue_name: str) -> AsyncIterator[AclUsers]:
    """Users of this test only (named after its queue), deleted at its end."""
    users = AclUsers(redis, redis_url, queue_name)
    try:
        yield users
    finally:
        await users.delete_all()


async def _refused(connect: Callable[[], Awaitable[None]]) -> str:
    """Run ``connect``: it must raise ConfigurationError within _PROMPT_S; its message."""
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as info:
        await asyncio.wait_for(connect(), _PROMPT_S)
    assert time.monotonic() - started < _PROMPT_S
    return str(info.value)


def _connect_client(url: str, queue_name: str) -> Callable[[], Awaitable[None]]:
    async def connect() -> None:
        async with Client(url, queue_name):
            pytest.fail("the client connected with rules that lack a permission")

    return connect


def _start_worker(url: str, queue_name: str) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        worker = Worker(url, queue_name=queue_name, grace_period=1.0)

        @worker.task()
        async def noop(ctx: WrappedContext[None]) -> None:
            return None

        async with worker.running():
            pytest.fail("the worker started with rules that lack a permission")

    return start


# -- the page itself -------------------------------------------------------------------


def test_doc_blocks_agree() -> None:
    """The worker has every client rule; the all-queues rules differ from the one-queue
    rules only in the patterns; the aclfile lines are the SETUSER lines."""
    blocks = _doc_blocks()
    assert set(blocks) == {
        "client",
        "worker",
        "client-all-queues",
        "worker-all-queues",
        "aclfile",
    }
    client, worker = _rules("client"), _rules("worker")
    for rules in (client, worker):
        # each reset comes before what it resets, so running the line again replaces
        # the user's rules instead of adding to them
        password = next(i for i, r in enumerate(rules) if r.startswith(">"))
        first_command = next(i for i, r in enumerate(rules) if r.startswith("+"))
        assert rules.index("resetpass") < password
        assert rules.index("-@all") < first_command
        assert rules.index("resetkeys") < rules.index(f"~relayq:{{{_DOC_QUEUE}}}:*")
        assert rules.index("resetchannels") < rules.index(f"&relayq:{{{_DOC_QUEUE}}}:*")
        # nothing broad: single commands and the queue's patterns only
        assert not [r for r in rules if r.startswith(("+@", "allkeys", "allchannels", "~*", "&*"))]
        assert [r for r in rules if r[0] in "~&"] == [
            f"~relayq:{{{_DOC_QUEUE}}}:*",
            f"&relayq:{{{_DOC_QUEUE}}}:*",
        ]
    assert {r for r in client if r[0] != ">"} <= set(worker)
    for one, every in (("client", "client-all-queues"), ("worker", "worker-all-queues")):
        assert [r.replace(f"{{{_DOC_QUEUE}}}", "{*}") for r in _rules(one)] == _rules(every)
    aclfile = {line.split()[1]: line.split()[2:] for line in blocks["aclfile"].splitlines()}
    setuser = {blocks[n].split()[2]: _rules(n) for n in ("client", "worker")}
    assert aclfile == setuser


_LUA: Final = Path(__file__).resolve().parents[1] / "sdk" / "_lua"
#: A command in Lua: redis.call('CMD', pcall(redis.call, 'CMD', or a command table
#: {'CMD', ...} run with unpack(); the subcommand of XGROUP and XINFO follows it.
_LUA_COMMAND: Final = re.compile(
    r"(?:redis\.call\(|redis\.call,\s*|\{)'([A-Z]+)'(?:,\s*'([A-Z]+)')?"
)
_WITH_SUBCOMMAND: Final = {"xgroup", "xinfo"}
#: The scripts a client runs (sdk/_scripts.py, "the client's scripts").
_CLIENT_SCRIPTS: Final = ("enqueue", "watch", "status", "abort", "reschedule", "view")
#: What relayq sends itself, outside scripts: a client (Client._connect's PING, the
#: scripts' EVALSHA/EVAL, the result listener's SUBSCRIBE/UNSUBSCRIBE/PING) ...
_CLIENT_DIRECT: Final = {"ping", "evalsha", "eval", "subscribe", "unsubscribe"}
#: ... and a worker: INFO (version check, health), XREAD BLOCK (fetcher), XGROUP
#: CREATE (housekeeping), SET/DEL/XLEN/ZCARD (health), and `relayq status`'s
#: ZCARD/XLEN/XPENDING/SCAN/MGET (sdk/worker/_inspect.py). CONFIG GET is left out
#: on purpose (docs/acl.md).
_WORKER_DIRECT: Final = _CLIENT_DIRECT | {
    "info",
    "xread",
    "xgroup|create",
    "set",
    "del",
    "xlen",
    "zcard",
    "xpending",
    "scan",
    "mget",
}


def _lua_commands(source: str) -> set[str]:
    found = set()
    for name, sub in _LUA_COMMAND.findall(source):
        name = name.lower()
        found.add(f"{name}|{sub.lower()}" if name in _WITH_SUBCOMMAND else name)
    return found


def _script_commands(names: Iterable[str]) -> set[str]:
    """The commands the named scripts run, with those of the _prelude.lua steps they
    call (transitively)."""
    prelude = (_LUA / "_prelude.lua").read_text()
    starts = [
        (m.group(1), m.start()) for m in re.finditer(r"^local function (\w+)\(", prelude, re.M)
    ]
    steps = {
        name: prelude[start : (starts[i + 1][1] if i + 1 < len(starts) else len(prelude))]
        for i, (name, start) in enumerate(starts)
    }
    commands: set[str] = set()
    for script in names:
        pending, seen = [(_LUA / f"{script}.lua").read_text()], set()
        while pending:
            source = pending.pop()
            commands |= _lua_commands(source)
            for step, body in steps.items():
                if step not in seen and re.search(rf"\b{step}\(", source):
                    seen.add(step)
                    pending.append(body)
    return commands


def test_rules_grant_exactly_what_the_code_sends() -> None:
    """The documented commands are exactly those of the scripts (read from sdk/_lua)
    and of relayq's own calls: nothing missing, nothing more."""
    every_script = [p.stem for p in _LUA.glob("*.lua") if p.stem not in ("_prelude", "probe")]
    assert set(_CLIENT_SCRIPTS) < set(every_script)
    client = _script_commands(_CLIENT_SCRIPTS) | _CLIENT_DIRECT
    worker = _script_commands(every_script) | _WORKER_DIRECT
    assert {r[1:] for r in _rules("client") if r.startswith("+")} == client
    assert {r[1:] for r in _rules("worker") if r.startswith("+")} == worker


def test_probe_checks_only_documented_commands() -> None:
    """Every command the connect check (probe.lua) tries is granted by the documented
    rules of its role, so a user set up from docs/acl.md is never refused by it."""
    source = (Path(__file__).resolve().parents[1] / "sdk" / "_lua" / "probe.lua").read_text()
    client_part, worker_part = source.split("if ARGV[2] == 'worker' then")
    tried = re.compile(r"try\('([\w|]+)'")
    assert {f"+{c}" for c in tried.findall(client_part)} <= set(_rules("client"))
    assert {f"+{c}" for c in tried.findall(worker_part)} <= set(_rules("worker"))


# -- the documented rules work -----------------------------------------------------------


async def _client_round_trip(client: Client, redis: Redis, cron_ran: asyncio.Event) -> None:
    @client.stub()
    async def add(a: int, b: int) -> int:
        raise NotImplementedError

    @client.stub()
    async def flaky() -> int:
        raise NotImplementedError

    @client.stub()
    async def hang() -> None:
        raise NotImplementedError

    assert await add.enqueue(1, 2).result(timeout=5) == 3
    # the server loses its script cache: the next calls go by EVAL once
    await redis.script_flush()
    handles = await client.enqueue_many([add.enqueue(i, i) for i in range(5)])
    assert [await h.result(timeout=5) for h in handles] == [0, 2, 4, 6, 8]

    delayed = await add.enqueue(2, 3).start(delay=0.3)
    assert await delayed.status() == TaskStatus.SCHEDULED
    assert await delayed.result(timeout=5) == 5
    moved = await add.enqueue(4, 4).start(delay=60)
    assert await moved.reschedule(delay=0.2) is True
    assert await moved.result(timeout=5) == 8
    dropped = await add.enqueue(5, 5).start(delay=60)
    assert await dropped.unschedule() is True
    with pytest.raises(TaskAborted):
        await dropped.result(timeout=2)

    # a running task: the abort goes to its worker over the control channel
    running = await hang.enqueue().start()
    await wait_for_status(running, TaskStatus.RUNNING)
    assert (await running.info()) is not None
    assert await running.abort(timeout=5) is True
    with pytest.raises(TaskAborted):
        await running.result(timeout=2)

    assert await flaky.enqueue().result(timeout=5) == 2  # one retry
    # bad input is failed and dead-lettered (HGETALL, INCRBY, XLEN in finish.lua)
    with pytest.raises(TaskFailed, match="no task named 'missing'"):
        await client.enqueue_unsafe("missing").result(timeout=5)
    await asyncio.wait_for(cron_ran.wait(), 5)


@pytest.mark.timeout(30)
async def test_documented_rules_run_a_full_round_trip(
    acl_users: AclUsers, redis: Redis, queue_name: str
) -> None:
    worker_url = await acl_users.create("worker", _for_queue(_rules("worker"), queue_name))
    client_url = await acl_users.create("client", _for_queue(_rules("client"), queue_name))
    keys = Keys(queue_name)
    cron_ran = asyncio.Event()
    # a short lease, so leases are renewed (XCLAIM JUSTID) and reclaims looked for
    worker = Worker(
        worker_url, queue_name=queue_name, lease=1.0, health_check_interval=0.2, grace_period=2
    )

    @worker.task()
    async def add(ctx: WrappedContext[None], a: int, b: int) -> int:
        return a + b

    @worker.task(max_tries=3)
    async def flaky(ctx: WrappedContext[None]) -> int:
        if ctx.tries < 2:
            raise Retry(delay=0.05)
        return ctx.tries

    @worker.task()
    async def hang(ctx: WrappedContext[None]) -> None:
        await asyncio.sleep(60)

    @worker.cron(EVERY_SECOND)
    async def tick(ctx: WrappedContext[None]) -> None:
        cron_ran.set()

    async with worker.running():
        async with Client(client_url, queue_name) as client:
            await _client_round_trip(client, redis, cron_ran)

        # `relayq status` with the worker's credentials
        async with Client(worker_url, queue_name) as status_client:

            async def listed() -> bool:
                status = await read_status(status_client)
                return [w.get("worker_id") for w in status.workers] == [worker.id]

            await wait_until(listed, what="the worker's health record in relayq status")
            status = await read_status(status_client)
        assert status.queue_name == queue_name and status.scheduled == 0

    assert await redis.xlen(keys.dead) == 1
    # nothing the documented rules lack was refused along the way (pcall in scripts,
    # the health reporter and the listener would only have logged it)
    assert set(await acl_users.refusals()) <= _TOLERATED


async def test_all_queues_rules_serve_any_queue(
    acl_users: AclUsers, redis_url: str, queue_name: str
) -> None:
    worker_url = await acl_users.create("worker", _rules("worker-all-queues"))
    client_url = await acl_users.create("client", _rules("client-all-queues"))
    worker = Worker(worker_url, queue_name=queue_name, grace_period=1.0)

    @worker.task()
    async def echo(ctx: WrappedContext[None], text: str) -> str:
        return text

    async with worker.running(), Client(client_url, queue_name) as client:
        assert await client.enqueue_unsafe("echo", "hi").result(timeout=5) == "hi"
    assert set(await acl_users.refusals()) <= _TOLERATED


async def test_one_queue_rules_do_not_reach_another_queue(
    acl_users: AclUsers, queue_name: str
) -> None:
    url = await acl_users.create("client", _for_queue(_rules("client"), queue_name))
    other = f"{queue_name}-other"
    message = await _refused(_connect_client(url, other))
    assert f"lacks the key pattern ~relayq:{{{other}}}:*" in message
    assert ACL_DOCS in message


# -- a missing permission is named at connect -------------------------------------------

_CLIENT_REMOVALS: Final = [
    ("+evalsha", "lacks the command(s) evalsha/eval"),
    ("+eval", "lacks the command(s) eval "),
    ("+hset", "lacks the command(s) hset"),
    ("+zadd", "lacks the command(s) zadd"),
    ("+get", "lacks the command(s) get"),
    ("+publish", "lacks the command(s) publish"),
    ("+ping", "'ping' command"),
    ("+subscribe", "'subscribe' command"),
    ("~relayq:{Q}:*", "lacks the key pattern ~relayq:{Q}:*"),
    ("&relayq:{Q}:*", "lacks the channel pattern &relayq:{Q}:*"),
]

_WORKER_REMOVALS: Final = [
    ("+xreadgroup", "lacks the command(s) xreadgroup"),
    ("+xclaim", "lacks the command(s) xclaim"),
    ("+xread", "lacks the command(s) xread"),
    ("+xgroup|create", "lacks the command(s) xgroup|create"),
    ("+xinfo|consumers", "lacks the command(s) xinfo|consumers"),
    ("+hgetall", "lacks the command(s) hgetall"),
    ("+zcard", "lacks the command(s) zcard"),
    ("+zrange", "lacks the command(s) zrange"),
    ("~relayq:{Q}:*", "lacks the key pattern ~relayq:{Q}:*"),
    ("&relayq:{Q}:*", "lacks the channel pattern &relayq:{Q}:*"),
    pytest.param(
        "+info",
        "'info' command",
    ),
]


def _expected(text: str, queue_name: str) -> str:
    return text.replace("{Q}", f"{{{queue_name}}}")


@pytest.mark.parametrize(("removed", "named"), _CLIENT_REMOVALS)
async def test_client_missing_one_permission_is_told_at_connect(
    acl_users: AclUsers, queue_name: str, removed: str, named: str
) -> None:
    rules = _without(_for_queue(_rules("client"), queue_name), _expected(removed, queue_name))
    url = await acl_users.create("client", rules)
    message = await _refused(_connect_client(url, queue_name))
    assert _expected(named, queue_name) in message
    assert ACL_DOCS in message


@pytest.mark.parametrize(("removed", "named"), _WORKER_REMOVALS)
async def test_worker_missing_one_permission_is_told_at_start(
    acl_users: AclUsers, queue_name: str, removed: str, named: str
) -> None:
    rules = _without(_for_queue(_rules("worker"), queue_name), _expected(removed, queue_name))
    url = await acl_users.create("worker", rules)
    message = await _refused(_start_worker(url, queue_name))
    assert _expected(named, queue_name) in message
    assert ACL_DOCS in message


# -- credentials ---------------------------------------------------------------------------


async def test_wrong_password_is_a_configuration_error_without_the_password(
    acl_users: AclUsers, queue_name: str
) -> None:
    await acl_users.create("worker", _for_queue(_rules("worker"), queue_name), "right-pw")
    name = acl_users.names[0]
    wrong = "Wr0ng-pa55word-7f3a"
    for connect in (
        _connect_client(acl_users.url(name, wrong), queue_name),
        _start_worker(acl_users.url(name, wrong), queue_name),
        _connect_client(acl_users.url(f"{name}-unknown", wrong), queue_name),
    ):
        message = await _refused(connect)
        assert "credentials" in message
        assert wrong not in message and quote(wrong, safe="") not in message
