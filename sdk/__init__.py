"""relayq: a typed, async, RPC-style task queue on Redis.

Services import from :mod:`sdk.client` (or here); worker processes from
:mod:`sdk.worker` (or here). Worker names resolve lazily (PEP 562), so
``import sdk.client`` never loads the worker machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._models import Progress, TaskInfo, TaskOutcome, TaskStatus
from .client import Client, StreamRef, StreamResult, TaskRef, TaskResult
from .errors import (
    RelayqError,
    ResultTimeout,
    Retry,
    StreamGap,
    StreamRestarted,
    TaskAborted,
    TaskFailed,
    TaskNotFound,
    TaskTimedOut,
)

if TYPE_CHECKING:
    from .worker import StreamTask, Task, Worker, WrappedContext

__all__ = [
    "Client",
    "Progress",
    "RelayqError",
    "ResultTimeout",
    "Retry",
    "StreamGap",
    "StreamRef",
    "StreamRestarted",
    "StreamResult",
    "StreamTask",
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

_LAZY = {"StreamTask", "Task", "Worker", "WrappedContext"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import worker

        return getattr(worker, name)
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
