"""The worker side of relayq: registering tasks and running them.

Builds on :mod:`sdk.client` (a worker can enqueue too); a service that only
enqueues imports :mod:`sdk.client` and never loads this package.
"""

from __future__ import annotations

from ..errors import Retry
from ._context import CallNext, Middleware, WrappedContext
from ._options import WorkerOptions
from ._scheduler import CronJob
from ._task import StreamTask, Task, TaskOptions
from ._worker import Worker

__all__ = [
    "CallNext",
    "CronJob",
    "Middleware",
    "Retry",
    "StreamTask",
    "Task",
    "TaskOptions",
    "Worker",
    "WorkerOptions",
    "WrappedContext",
]
