"""Time as relayq stores it: integer milliseconds since the epoch, and the API's
``timedelta | float`` arguments normalised to seconds."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from .errors import ConfigurationError

__all__ = ["due_ms", "from_ms", "now_ms", "seconds"]


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch (the unit of every stored time)."""
    return time.time_ns() // 1_000_000


def from_ms(ms: int) -> datetime:
    """Convert stored milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def seconds(value: float | timedelta | None, what: str) -> float | None:
    """Normalise a ``timedelta | float`` API argument to seconds (``None`` passes through).

    :raises ConfigurationError: a negative value, named by ``what``.
    """
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if value is not None and value < 0:
        raise ConfigurationError(f"{what} must be >= 0, got {value!r}")
    return value


def due_ms(delay: float | timedelta | None, schedule: datetime | None) -> int:
    """Due time in epoch ms for ``delay=`` / ``schedule=`` (``0``: ready now).

    :raises ConfigurationError: both given, a naive ``schedule``, or a negative delay.
    """
    if delay is not None and schedule is not None:
        raise ConfigurationError("pass either delay= or schedule=, not both")
    if schedule is not None:
        if schedule.tzinfo is None:
            raise ConfigurationError(
                "schedule= must be an aware datetime (e.g. datetime.now(timezone.utc))"
            )
        return max(1, int(schedule.timestamp() * 1000))
    delay_s = seconds(delay, "delay")
    return now_ms() + int(delay_s * 1000) if delay_s else 0
