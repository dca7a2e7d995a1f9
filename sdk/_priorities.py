"""Named priorities of a queue: the one place that validates and resolves them.

A queue has one ready stream per priority (``Keys.stream_for``); workers read
them highest first. A task records its priority's name in its hash, so a
scheduled or retried task goes back to its own stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._keys import DEFAULT_PRIORITY, Keys
from .errors import ConfigurationError

__all__ = ["Priorities"]


@dataclass(frozen=True, slots=True)
class Priorities:
    """A queue's priority names, highest first, and the one used when none is given.

    Build with :meth:`of`, which validates.
    """

    names: tuple[str, ...]
    default: str

    @classmethod
    def of(cls, priorities: Sequence[str], default: str | None = None) -> Priorities:
        """Validate ``priorities`` (highest first) and pick the default priority:
        ``default`` if given, else ``"default"`` if listed, else the lowest.

        :raises ConfigurationError: an empty list, a bad or repeated name, or an
            unknown ``default``.
        """
        if isinstance(priorities, str) or not tuple(priorities):
            raise ConfigurationError(
                f"priorities must be a non-empty list of names, got {priorities!r}"
            )
        names = tuple(priorities)
        for name in names:
            if not isinstance(name, str) or not name or "{" in name or "}" in name or " " in name:
                raise ConfigurationError(
                    f"invalid priority name {name!r}: a non-empty string without braces or spaces"
                )
        if len(set(names)) != len(names):
            raise ConfigurationError(f"priority names must be distinct, got {names!r}")
        if default is None:
            default = DEFAULT_PRIORITY if DEFAULT_PRIORITY in names else names[-1]
        if default not in names:
            raise ConfigurationError(f"default_priority {default!r} is not one of {names!r}")
        return cls(names, default)

    def resolve(self, name: str | None) -> str:
        """The priority a task started with ``priority=name`` gets (``None``: the default).

        :raises ConfigurationError: not one of this queue's priorities.
        """
        if name is None:
            return self.default
        if name not in self.names:
            raise ConfigurationError(
                f"unknown priority {name!r}; this queue's priorities are {list(self.names)!r}"
            )
        return name

    @staticmethod
    def wire_name(name: str) -> str:
        """How a task's priority is written to Redis: ``""`` for "default"."""
        return "" if name == DEFAULT_PRIORITY else name

    def streams(self, keys: Keys) -> list[str]:
        """The ready streams, highest priority first."""
        return [keys.stream_for(name) for name in self.names]
