"""What a worker writes for a delivery once it is over: an outcome or a retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .._scripts import FinishAction, Token
from ._delivery import Delivery

__all__ = ["Finished", "Retrying", "Settlement", "finish_row"]


@dataclass(slots=True)
class Finished:
    """The task ended: deliver ``outcome`` to its waiters and store it for ``ttl_ms``
    (``-1`` forever, ``0`` not at all, ``TASK_TTL`` the ttl stored with the task).

    :ivar success: whether the outcome is a success (for the worker's counters).
    :ivar dead_reason: for bad input, why; the task is then also dead-lettered.
    """

    delivery: Delivery
    outcome: bytes
    ttl_ms: int
    success: bool = False
    dead_reason: str | None = None


@dataclass(slots=True)
class Retrying:
    """The task runs again: at ``due_ms`` (ms since the epoch; ``0`` at once)."""

    delivery: Delivery
    due_ms: int


Settlement: TypeAlias = Finished | Retrying


def finish_row(s: Settlement) -> tuple[Token, FinishAction, bytes | int, int, str]:
    """The row ``Scripts.finish`` takes for a settlement."""
    if isinstance(s, Retrying):
        return (s.delivery, FinishAction.RETRY, s.due_ms, 0, "")
    if s.dead_reason is not None:
        return (s.delivery, FinishAction.DEAD, s.outcome, s.ttl_ms, s.dead_reason)
    return (s.delivery, FinishAction.DONE, s.outcome, s.ttl_ms, "")
