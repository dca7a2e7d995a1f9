"""Worker side of the live-tasks example: a streaming task and one that reports progress.

::

    relayq run examples.live_app:worker                       # terminal 1
    uvicorn examples.live_service:api                         # terminal 2
    curl -N 'localhost:8000/generate?prompt=hello+typed+world'  # words as server-sent events
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sdk import Worker, WrappedContext

worker = Worker(queue_name="live-example")  # redis_url: $REDIS_URL, else localhost:6379


@worker.task(timeout=60)
async def generate(
    ctx: WrappedContext[None], prompt: str, delay: float = 0.05
) -> AsyncIterator[str]:
    """Yield the prompt back word by word, as a language model yields tokens."""
    for word in prompt.split():
        await asyncio.sleep(delay)
        yield word


@worker.task(timeout=600)
async def export(ctx: WrappedContext[None], rows: int, delay: float = 0.01) -> int:
    """Pretend to export ``rows`` rows, reporting progress as it goes."""
    for row in range(1, rows + 1):
        await asyncio.sleep(delay)
        await ctx.progress(row / rows, f"row {row} of {rows}")
    return rows
