"""A small typed application shared by the fixture modules (no fixtures here).

``worker`` is a ``Worker[Deps]`` (its lifespan yields ``Deps``), ``plain`` a
``Worker[None]``; ``client`` declares stubs like a service that never imports
worker code. Building these objects connects to nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sdk import Client, Worker, WrappedContext


@dataclass
class Deps:
    """What the worker's lifespan yields: ``ctx.deps`` in its tasks."""

    base_url: str
    retries: int


@dataclass
class Other:
    """Dependencies of some other worker; never valid for ``worker``'s tasks."""

    dsn: str


@asynccontextmanager
async def lifespan(worker: Worker[Deps]) -> AsyncIterator[Deps]:
    yield Deps("https://example.com", 3)


@asynccontextmanager
async def other_lifespan(worker: Worker[Other]) -> AsyncIterator[Other]:
    yield Other("postgres://")


@asynccontextmanager
async def task_lifespan(ctx: WrappedContext[Deps]) -> AsyncIterator[None]:
    yield


worker = Worker(worker_lifespan=lifespan, task_lifespan=task_lifespan)
plain = Worker()


@worker.task(max_tries=5, timeout=timedelta(seconds=30), ttl=timedelta(minutes=5))
async def fetch(ctx: WrappedContext[Deps], url: str) -> int:
    return len(ctx.deps.base_url + url)


@worker.task()
def crunch(ctx: WrappedContext[Deps], n: int, *, scale: float = 1.0) -> float:
    """A sync task: runs in a thread pool."""
    return n * scale


@worker.task(name="say-hello")
async def greet(ctx: WrappedContext[Deps], name: str, excited: bool = False) -> str:
    return f"hello {name}{'!' if excited else ''}"


@worker.task()
async def ping(ctx: WrappedContext[Deps]) -> None:
    return None


@plain.task()
async def add(ctx: WrappedContext[None], a: int, b: int) -> int:
    return a + b


client = Client(queue_name="default")


@client.stub()
async def remote_fetch(url: str) -> int:
    raise NotImplementedError


@client.stub(name="say-hello")
async def remote_greet(name: str, excited: bool = False) -> str:
    raise NotImplementedError
