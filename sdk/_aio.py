"""Small asyncio helpers shared by the client and the worker."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["stop_task"]


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has really finished.

    One ``cancel()`` is not always enough: on Python 3.11 a cancellation that
    lands inside redis-py's own ``wait_for`` can be swallowed (CPython
    gh-86296), and a loop would carry on until its next sleep ends. So this
    cancels again until the task is done. Its outcome is discarded.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait((task,), timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved: asyncio must not report it as never retrieved
