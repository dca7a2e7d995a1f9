"""The options a client takes (a worker takes them too), validated in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from typing_extensions import TypedDict

from .. import _codec
from .._keys import Keys
from .._options import check_option_names
from .._priorities import Priorities
from .._redact import redact_url
from .._redis import resolve_url
from .._signing import Signer
from .._time import seconds
from ..errors import ConfigurationError

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "ClientConfig", "ClientOptions"]

#: Encoded task payloads (and results) larger than this are refused (Redis holds
#: every queued payload in memory; a 50 MB argument is almost always a bug).
DEFAULT_MAX_PAYLOAD_BYTES: Final = 1024 * 1024


class ClientOptions(TypedDict, total=False):
    """Keyword options of :class:`~sdk.client.Client` (and of ``Worker``).

    :ivar serializer: encodes arguments (and, in workers, results); default msgpack.
    :ivar deserializer: the inverse of ``serializer``; pass both or neither.
    :ivar max_payload_bytes: refuse tasks (and results) whose encoding is larger.
    :ivar signing_key: sign every task with HMAC-SHA256 under this key (16 bytes or
        more); workers with the same key reject tampered, copied or unsigned tasks
        before decoding them, and callers accept only outcomes sealed with it.
    :ivar signing_ttl: with a key: a signed task is rejected when it is started
        more than this long after it was due (default: never).
    :ivar priorities: the queue's named priorities, highest first (the same list on
        clients and workers); ``.start(priority=name)`` picks one.
    :ivar default_priority: the priority of tasks started without one; default
        ``"default"`` if it is among ``priorities``, else the lowest.
    """

    serializer: _codec.Serializer
    deserializer: _codec.Deserializer
    max_payload_bytes: int
    signing_key: bytes | str | None
    signing_ttl: timedelta | float | None
    priorities: Sequence[str]
    default_priority: str | None


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A client's validated configuration."""

    queue_name: str
    redis_url: str
    keys: Keys
    priorities: Priorities
    serializer: _codec.Serializer
    deserializer: _codec.Deserializer
    max_payload_bytes: int
    signer: Signer | None
    signing_ttl_ms: int

    @classmethod
    def build(
        cls, redis_url: str | None, queue_name: str, options: Mapping[str, Any]
    ) -> ClientConfig:
        """Validate ``options`` (:class:`ClientOptions`).

        :raises ConfigurationError: naming the option that is wrong.
        """
        check_option_names(options, ClientOptions.__optional_keys__, "Client")
        serializer = options.get("serializer")
        deserializer = options.get("deserializer")
        if (serializer is None) != (deserializer is None):
            raise ConfigurationError("pass serializer= and deserializer= together")
        try:
            keys = Keys(queue_name)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(str(exc)) from None
        max_payload = options.get("max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES)
        if not isinstance(max_payload, int) or max_payload <= 0:
            raise ConfigurationError(f"max_payload_bytes must be an int > 0, got {max_payload!r}")
        key = options.get("signing_key")
        signer = None if key is None else Signer(key, queue_name)
        ttl_s = seconds(options.get("signing_ttl"), "signing_ttl")
        if ttl_s is not None and signer is None:
            raise ConfigurationError("signing_ttl needs a signing_key")
        return cls(
            queue_name=queue_name,
            redis_url=resolve_url(redis_url),
            keys=keys,
            priorities=Priorities.of(
                options.get("priorities", ("default",)), options.get("default_priority")
            ),
            serializer=serializer or _codec.serialize,
            deserializer=deserializer or _codec.deserialize,
            max_payload_bytes=max_payload,
            signer=signer,
            signing_ttl_ms=int(ttl_s * 1000) if ttl_s else 0,
        )

    @property
    def safe_url(self) -> str:
        """The Redis URL without its password, for logs and messages."""
        return redact_url(self.redis_url)
