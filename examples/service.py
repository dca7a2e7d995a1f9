"""A service calling the example worker's tasks without importing any worker code.

Typed stubs declare the tasks' signatures; mypy checks every call and knows every
result type. Start a worker, then run this::

    relayq run examples.app:worker      # terminal 1 (Redis at $REDIS_URL or localhost:6379)
    python -m examples.service          # terminal 2
"""

from __future__ import annotations

import asyncio

from sdk.client import Client
from sdk.errors import TaskFailed

client = Client(queue_name="examples")  # redis_url: $REDIS_URL, else redis://localhost:6379


@client.stub()
async def fetch(url: str) -> int:
    """Word count of the page at ``url`` (implemented in examples/app.py)."""
    raise NotImplementedError  # the worker runs the real one; this body never runs


@client.stub()
async def add(a: int, b: int) -> int:
    """``a + b``, computed by a worker."""
    raise NotImplementedError


@client.stub()
async def divide(a: float, b: float) -> float:
    """``a / b``, computed by a worker (fails for ``b == 0``)."""
    raise NotImplementedError


async def main() -> None:
    """Make a few calls and print their results."""
    async with client:
        words = await fetch.enqueue("https://example.com").result(timeout=10)  # an int
        print(f"fetch: {words} words")

        # many calls in one round trip, then wait for all of them
        handles = await client.enqueue_many([add.enqueue(i, i) for i in range(5)])
        print("add:", [await h.result(timeout=10) for h in handles])

        try:
            await divide.enqueue(1, 0).result(timeout=10)
        except TaskFailed as exc:  # the remote exception, as type name + message + traceback
            print(f"divide: failed remotely with {exc.exc_type}: {exc.message}")


if __name__ == "__main__":
    asyncio.run(main())
