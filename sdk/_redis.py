"""The Redis boundary: the connection factory and error translation.

Everything relayq sends to Redis goes through a client made by :func:`connect`,
and redis-py exceptions are translated to :mod:`sdk.errors` in exactly one place
(:func:`translate_errors`), chained with ``raise ... from``. The Lua scripts are
called through :mod:`sdk._scripts`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

try:  # hiredis is a dependency (redis[hiredis]); stay correct without it
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover
    _hiredis_pack = None  # type: ignore[assignment]

from ._redact import redact_text
from .errors import ConfigurationError, RedisCommandError, RedisUnavailable, RelayqError

__all__ = [
    "ACL_DOCS",
    "DEAD_PEER_S",
    "DEFAULT_REDIS_URL",
    "command",
    "connect",
    "eviction_risk",
    "is_unavailable",
    "require_supported_server",
    "resolve_url",
    "translate_errors",
    "translated",
]

#: Where the least-privilege ACL rules are documented (named in permission errors).
ACL_DOCS: Final = "docs/acl.md"

DEFAULT_REDIS_URL: Final = "redis://localhost:6379"
#: How long a connection may go without any sign of life from Redis before it is
#: treated as dead (seconds). Enforced by the kernel (TCP keepalive and
#: TCP_USER_TIMEOUT) rather than a per-command read timeout: redis-py wraps every
#: command in an extra timeout task when one is set, about 6% of a worker's CPU.
DEAD_PEER_S: Final = 30

_KEEPALIVE: Final[dict[int, int]] = {
    opt: value
    for name, value in (
        ("TCP_KEEPIDLE", 10),
        ("TCP_KEEPINTVL", 5),
        ("TCP_KEEPCNT", 4),
        ("TCP_USER_TIMEOUT", DEAD_PEER_S * 1000),
    )
    if (opt := getattr(socket, name, None)) is not None
}

# redis-py raises these for a broken or unreachable server; everything else that
# derives from RedisError is the server refusing one command.
_UNAVAILABLE: Final = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError)


def resolve_url(redis_url: str | None) -> str:
    """The URL to use: the argument, else ``$REDIS_URL``, else ``redis://localhost:6379``."""
    return redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


class _HiredisPackingConnection(Connection):
    """A plain TCP connection that packs commands with hiredis' C packer.

    redis-py's asyncio connection packs every argument in Python, which was about
    40% of a worker's CPU per task in profiles (a settlement carries ~11
    arguments); hiredis does the same in C. Anything it cannot pack (or a
    multi-word command name, which redis-py splits) takes redis-py's path.
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0] if args else None
        if _hiredis_pack is not None and not (isinstance(first, str) and " " in first):
            try:
                return [_hiredis_pack(args)]
            except TypeError:
                pass
        return super().pack_command(*args)


def connect(redis_url: str | None) -> Redis:
    """Make the (lazily connecting) redis-py client relayq uses for commands.

    Responses stay ``bytes``: payloads are binary, and decoding every reply would
    cost time on the hot path.
    """
    url = resolve_url(redis_url)
    extra: dict[str, Any] = {}
    if url.startswith("redis://"):  # TLS and unix sockets keep redis-py's own classes
        extra["connection_class"] = _HiredisPackingConnection
    # annotated: redis-py 5.0 types from_url as returning Any
    client: Redis = Redis.from_url(
        url,
        decode_responses=False,
        # RESP2 on every redis-py version: replies (and the pub/sub messages the
        # result listener reads off its own connection) keep one shape
        protocol=2,
        # a half-open TCP connection must not hang a worker forever (see DEAD_PEER_S)
        socket_keepalive=True,
        socket_keepalive_options=_KEEPALIVE,
        socket_connect_timeout=10,
        socket_timeout=None,
        **extra,
    )
    return client


def translated(exc: rexc.RedisError) -> RelayqError:
    """The relayq error for a redis-py error (raise it ``from exc``):
    :class:`ConfigurationError` for refused credentials or a missing ACL permission
    (retrying cannot help), :class:`RedisUnavailable` for a broken connection,
    :class:`RedisCommandError` for any other refusal. Messages never carry a password.
    """
    text = redact_text(str(exc))
    if isinstance(exc, rexc.AuthenticationError):
        return ConfigurationError(f"Redis refused the credentials: {text}")
    if isinstance(exc, rexc.NoPermissionError) or (
        isinstance(exc, rexc.ResponseError) and _refused_inside_a_script(exc)
    ):
        return ConfigurationError(
            f"the Redis user lacks a permission relayq needs ({text}); "
            f"see {ACL_DOCS} for the rules a worker and a client need"
        )
    if isinstance(exc, _UNAVAILABLE):
        return RedisUnavailable(f"Redis is unavailable: {text}")
    return RedisCommandError(f"Redis refused a command: {text}")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise redis-py errors as relayq's (see :func:`translated`)."""
    try:
        yield
    except rexc.RedisError as exc:
        raise translated(exc) from exc


# how Redis words an ACL refusal of a command run by a script (6.2/7.0, then 7.2+):
# a plain error reply, not NOPERM, so redis-py does not raise NoPermissionError
_SCRIPT_REFUSALS: Final = ("user executing the script can't run", "acl failure in script")


def _refused_inside_a_script(exc: rexc.ResponseError) -> bool:
    text = str(exc).lower()
    return any(wording in text for wording in _SCRIPT_REFUSALS)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (raw or translated) means the connection to Redis is broken."""
    return isinstance(exc, RedisUnavailable) or (
        isinstance(exc, _UNAVAILABLE) and not isinstance(exc, rexc.AuthenticationError)
    )


async def command(redis: Redis, *args: Any) -> Any:
    """Send one raw command (redis-py leaves ``execute_command`` untyped)."""
    return await redis.execute_command(*args)  # type: ignore[no-untyped-call]


#: Oldest Redis relayq runs on: the oldest CI tests (Debian 12's and Ubuntu 24.04's
#: redis-server). relayq's commands exist since 6.2 (XPENDING ... IDLE, ZRANGE ...
#: BYSCORE, exclusive XRANGE starts), but an untested version is not promised.
MIN_REDIS_VERSION: Final = (7, 0)


async def require_supported_server(redis: Redis) -> None:
    """Refuse a Redis too old for relayq's scripts, with a message saying so.

    :raises RedisCommandError: the server is older than :data:`MIN_REDIS_VERSION`.
    """
    with translate_errors():
        info = await redis.info("server")
    version = str(info.get("redis_version", "0"))
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_REDIS_VERSION:
        need = ".".join(map(str, MIN_REDIS_VERSION))
        raise RedisCommandError(
            f"relayq needs Redis >= {need} (the oldest version it is tested on); "
            f"this server is {version}"
        )


async def eviction_risk(redis: Redis) -> str | None:
    """A warning if the server may evict relayq's keys under memory pressure, else ``None``.

    Queued tasks live in keys without a TTL, so only ``noeviction`` (or a
    ``volatile-*`` policy, which touches only expiring keys: stored results)
    keeps them safe. Managed servers that forbid ``CONFIG`` are given the benefit
    of the doubt.
    """
    try:
        reply = await command(redis, "CONFIG", "GET", "maxmemory-policy")
    except rexc.RedisError:
        return None
    policy = reply[1].decode() if len(reply) > 1 else "noeviction"
    if policy.startswith("allkeys"):
        return (
            f"Redis maxmemory-policy is {policy!r}: under memory pressure Redis may evict "
            "queued tasks and they would be lost. Set maxmemory-policy to 'noeviction'."
        )
    if policy.startswith("volatile"):
        return (
            f"Redis maxmemory-policy is {policy!r}: stored results (keys with a TTL) may be "
            "evicted early under memory pressure; 'noeviction' is recommended."
        )
    return None
