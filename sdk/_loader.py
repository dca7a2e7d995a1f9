"""Loading the Lua scripts of ``sdk/_lua`` and calling them.

Each script is loaded as one source: the key and field names rendered by
:mod:`sdk._keys` and :mod:`sdk._envelope`, the shared helpers of
``_prelude.lua``, then the script. It is called by SHA (``EVALSHA``); a server
that lost its script cache (a restart, ``SCRIPT FLUSH``) gets the source again
through ``EVAL`` on the first ``NOSCRIPT``, in pipelines too. Every call
translates redis-py errors (:func:`sdk._redis.translate_errors`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final

from redis import exceptions as rexc
from redis.asyncio import Redis

from . import _envelope, _keys
from ._redis import command, translate_errors, translated

__all__ = [
    "ABORT",
    "assemble",
    "ALL",
    "CRON",
    "ENQUEUE",
    "FETCH",
    "FINISH",
    "LIVE",
    "PROBE",
    "PRUNE",
    "RECOVER",
    "RELEASE",
    "RENEW",
    "RESCHEDULE",
    "STATUS",
    "VIEW",
    "WATCH",
    "Script",
]


_DEFINITION = re.compile(r"^local (?:function (\w+)|([\w, ]+?)\s*=)", re.MULTILINE)
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")
_COMMENT = re.compile(r"--[^\n]*")


def _names(lua: str) -> set[str]:
    return set(_NAME.findall(_COMMENT.sub("", lua)))


def assemble(prelude: str, body: str) -> str:
    """The prelude's definitions that ``body`` uses (directly or through each other),
    in their order, then ``body``.

    The prelude is one definition per paragraph. Redis runs a script's whole text
    on every call, so a local function defined but unused still costs its closure:
    a script carries only what it needs.
    """
    chunks = []
    for text in re.split(r"\n\s*\n", prelude.strip()):
        defined = {a or b for a, b in _DEFINITION.findall(text)}
        defined = {n.strip() for name in defined for n in name.split(",")}
        chunks.append((defined, _names(text) - defined, text))
    needed = _names(body)
    kept = [False] * len(chunks)
    changed = True
    while changed:
        changed = False
        for i, (defined, used, _text) in enumerate(chunks):
            if not kept[i] and defined & needed:
                kept[i] = changed = True
                needed |= used
    return "\n\n".join(text for i, (_d, _u, text) in enumerate(chunks) if kept[i]) + "\n" + body


class Script:
    """One Lua script with the shared prelude in front, called by SHA.

    :param name: the file name in ``sdk/_lua`` without ``.lua``.
    """

    __slots__ = ("name", "sha", "source")

    def __init__(self, name: str) -> None:
        lua = resources.files("sdk").joinpath("_lua")
        body = lua.joinpath(f"{name}.lua").read_text()
        prelude = lua.joinpath("_prelude.lua").read_text()
        self.name = name
        shared = "\n\n".join((_keys.lua_prelude(), _envelope.lua_prelude(), prelude))
        self.source = assemble(shared, body).encode()
        self.sha = hashlib.sha1(self.source).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"

    async def run(self, redis: Redis, base: str, argv: Sequence[Any]) -> Any:
        """Run the script for the queue at ``base`` and return its raw reply."""
        # try/except rather than translate_errors(): this is every task's hot path
        try:
            try:
                return await command(redis, "EVALSHA", self.sha, 1, base, *argv)
            except rexc.NoScriptError:
                return await command(redis, "EVAL", self.source, 1, base, *argv)
        except rexc.RedisError as exc:
            raise translated(exc) from exc

    async def run_many(self, redis: Redis, base: str, calls: Sequence[Sequence[Any]]) -> list[Any]:
        """Run the script once per ``argv`` of ``calls`` in one pipeline; the replies in order.

        A call refused with ``NOSCRIPT`` never ran, so it alone is sent again with
        its source; any other error is raised after the pipeline completed.
        """
        with translate_errors():
            async with redis.pipeline(transaction=False) as pipe:
                for argv in calls:
                    pipe.execute_command("EVALSHA", self.sha, 1, base, *argv)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            for i, reply in enumerate(replies):
                if isinstance(reply, rexc.NoScriptError):
                    replies[i] = await command(redis, "EVAL", self.source, 1, base, *calls[i])
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies


ABORT: Final = Script("abort")
CRON: Final = Script("cron")
ENQUEUE: Final = Script("enqueue")
FETCH: Final = Script("fetch")
FINISH: Final = Script("finish")
LIVE: Final = Script("live")
PROBE: Final = Script("probe")
PRUNE: Final = Script("prune")
RECOVER: Final = Script("recover")
RELEASE: Final = Script("release")
RENEW: Final = Script("renew")
RESCHEDULE: Final = Script("reschedule")
STATUS: Final = Script("status")
VIEW: Final = Script("view")
WATCH: Final = Script("watch")
ALL: Final = (
    ABORT,
    CRON,
    ENQUEUE,
    FETCH,
    FINISH,
    LIVE,
    PROBE,
    PRUNE,
    RECOVER,
    RELEASE,
    RENEW,
    RESCHEDULE,
    STATUS,
    VIEW,
    WATCH,
)
