"""relayq refuses a Redis older than the oldest version it is tested on (7.0)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from redis.asyncio import Redis

from sdk._redis import MIN_REDIS_VERSION, require_supported_server
from sdk.errors import RedisCommandError


class _Server:
    """Answers INFO server like a Redis of the given version."""

    def __init__(self, version: str) -> None:
        self.version = version

    async def info(self, section: str) -> dict[str, Any]:
        assert section == "server"
        return {"redis_version": self.version}


@pytest.mark.parametrize("version", ["6.2.14", "6.0.16", "5.0.7"])
async def test_an_older_server_is_refused_with_the_reason(version: str) -> None:
    with pytest.raises(
        RedisCommandError, match=rf"needs Redis >= 7\.0 .* this server is {version}"
    ):
        await require_supported_server(cast(Redis, _Server(version)))


@pytest.mark.parametrize("version", ["7.0.15", "7.2.4", "8.0.0"])
async def test_a_supported_server_passes(version: str) -> None:
    assert MIN_REDIS_VERSION == (7, 0)
    await require_supported_server(cast(Redis, _Server(version)))


async def test_the_session_server_is_supported(redis: Redis) -> None:
    await require_supported_server(redis)
