"""The example worker: what ``relayq demo`` runs and the README's quickstart shows.

It ships inside the package, so it runs from any installed copy. Run it against
your own Redis with::

    relayq run sdk.examples.app:worker

(``examples.app:worker`` in a checkout is the same app) and call its tasks from
another process with ``python -m examples.service`` in a checkout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sdk import Worker, WrappedContext

__all__ = ["PAGES", "Deps", "Web", "add", "crunch", "divide", "fetch", "lifespan", "noop", "worker"]

logger: logging.Logger = logging.getLogger(__name__)

#: Pages the example "fetches" (an in-memory stand-in for an HTTP client, so the
#: example runs without network access).
PAGES = {
    "https://example.com": "Example Domain. This domain is for use in documentation examples.",
    "https://relayq.dev": "relayq is a typed async task queue for Python on Redis.",
}


@dataclass
class Web:
    """A pretend HTTP client; a real worker would hold e.g. an ``httpx.AsyncClient``."""

    pages: dict[str, str]
    requests: int = 0

    async def get(self, url: str) -> str:
        """Return the page at ``url`` after a little simulated latency."""
        self.requests += 1
        await asyncio.sleep(0.01)
        try:
            return self.pages[url]
        except KeyError:
            raise LookupError(f"404 Not Found: {url}") from None


@dataclass
class Deps:
    """What every task of this worker gets as ``ctx.deps`` (built once per process)."""

    web: Web
    seen: set[str] = field(default_factory=set)


@asynccontextmanager
async def lifespan(worker: Worker[Deps]) -> AsyncIterator[Deps]:
    """Open the dependencies when the worker starts and close them when it stops."""
    web = Web(dict(PAGES))
    logger.info("lifespan: dependencies ready for worker %s", worker.id)
    yield Deps(web)
    logger.info("lifespan: closing dependencies after %d requests", web.requests)


worker: Worker[Deps] = Worker(queue_name="examples", concurrency=32, worker_lifespan=lifespan)


@worker.task(timeout=timedelta(seconds=10))
async def fetch(ctx: WrappedContext[Deps], url: str) -> int:
    """Fetch ``url`` and return how many words the page has."""
    text = await ctx.deps.web.get(url)
    ctx.deps.seen.add(url)
    return len(text.split())


@worker.task()
async def add(ctx: WrappedContext[Deps], a: int, b: int) -> int:
    """Add two numbers (the smallest possible task)."""
    return a + b


@worker.task()
def crunch(ctx: WrappedContext[Deps], data: str, rounds: int = 10_000) -> str:
    """CPU-bound and synchronous: runs in the worker's thread pool, never on its event loop."""
    digest = data.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


@worker.task(max_tries=1)
async def divide(ctx: WrappedContext[Deps], a: float, b: float) -> float:
    """Divide ``a`` by ``b``; ``b == 0`` fails the task and the caller gets ``TaskFailed``."""
    return a / b


@worker.task(ttl=timedelta(seconds=60))
async def noop(ctx: WrappedContext[Deps], i: int) -> None:
    """Do nothing (for throughput figures)."""
