"""The enqueue side of relayq: everything a service needs to call tasks.

Importing this package never loads :mod:`sdk.worker`.
"""

from __future__ import annotations

from .._models import TaskInfo, TaskOutcome, TaskStatus
from ._client import Client
from ._config import ClientOptions
from ._result import TaskResult
from ._taskref import TaskRef

__all__ = [
    "Client",
    "ClientOptions",
    "TaskInfo",
    "TaskOutcome",
    "TaskRef",
    "TaskResult",
    "TaskStatus",
]
