"""relayq: a typed, async, RPC-style task queue on Redis.

Services import from :mod:`sdk.client` (or here); worker processes from
:mod:`sdk.worker` (or here). Worker names resolve lazily (PEP 562), so
``import sdk.client`` never loads the worker machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._models import TaskInfo, TaskOutcome, TaskStatus
from .client import Client, TaskRef, TaskResult
from .errors import (
    RelayqError,
    ResultTimeout,
    Retry,
    TaskAborted,
    TaskFailed,
    TaskNotFound,
    TaskTimedOut,
)

if TYPE_CHECKING:
    from .worker import Task, Worker, WrappedContext

__all__ = [
    "Client",
    "RelayqError",
    "ResultTimeout",
    "Retry",
    "Task",
    "TaskAborted",
    "TaskFailed",
    "TaskInfo",
    "TaskNotFound",
    "TaskOutcome",
    "TaskRef",
    "TaskResult",
    "TaskStatus",
    "TaskTimedOut",
    "Worker",
    "WrappedContext",
]

__version__ = "0.1.0"

_LAZY = {"Task", "Worker", "WrappedContext"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import worker

        return getattr(worker, name)
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
