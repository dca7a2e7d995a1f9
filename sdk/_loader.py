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
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final

from redis import exceptions as rexc
from redis.asyncio import Redis

from . import _envelope, _keys
from ._redis import command, translate_errors

__all__ = [
    "ABORT",
    "ALL",
    "CRON",
    "ENQUEUE",
    "FETCH",
    "FINISH",
    "PROBE",
    "PRUNE",
    "RECOVER",
    "RELEASE",
    "RENEW",
    "RESCHEDULE",
    "STATUS",
    "WATCH",
    "Script",
]


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
        self.source = "\n".join(
            (_keys.lua_prelude(), _envelope.lua_prelude(), prelude, body)
        ).encode()
        self.sha = hashlib.sha1(self.source).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"

    async def run(self, redis: Redis, base: str, argv: Sequence[Any]) -> Any:
        """Run the script for the queue at ``base`` and return its raw reply."""
        with translate_errors():
            try:
                return await command(redis, "EVALSHA", self.sha, 1, base, *argv)
            except rexc.NoScriptError:
                return await command(redis, "EVAL", self.source, 1, base, *argv)

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
PROBE: Final = Script("probe")
PRUNE: Final = Script("prune")
RECOVER: Final = Script("recover")
RELEASE: Final = Script("release")
RENEW: Final = Script("renew")
RESCHEDULE: Final = Script("reschedule")
STATUS: Final = Script("status")
WATCH: Final = Script("watch")
ALL: Final = (
    ABORT,
    CRON,
    ENQUEUE,
    FETCH,
    FINISH,
    PROBE,
    PRUNE,
    RECOVER,
    RELEASE,
    RENEW,
    RESCHEDULE,
    STATUS,
    WATCH,
)
