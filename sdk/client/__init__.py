"""The enqueue side of relayq: everything a service needs to call tasks.

Importing this package never loads :mod:`sdk.worker`.
"""

from __future__ import annotations

from .._models import Progress, TaskInfo, TaskOutcome, TaskStatus
from ._client import Client
from ._config import ClientOptions
from ._result import TaskResult
from ._stream import StreamRef, StreamResult
from ._taskref import TaskRef

__all__ = [
    "Client",
    "ClientOptions",
    "Progress",
    "StreamRef",
    "StreamResult",
    "TaskInfo",
    "TaskOutcome",
    "TaskRef",
    "TaskResult",
    "TaskStatus",
]
