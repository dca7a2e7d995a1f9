"""Types of live tasks: progress, streaming tasks and their items, cancellation options.

Fixtures mypy reads and nothing executes (see ``typecheck/__init__.py``): unmarked
lines must type-check, ``assert_type`` pins exact types, and every line ending in
``# type: ignore[<code>]`` must be rejected with exactly that code.
"""

# Rejected lines include dead assignments on purpose.
# ruff: noqa: F841

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from typing_extensions import assert_type

from sdk import (
    Progress,
    StreamRef,
    StreamResult,
    StreamTask,
    TaskOutcome,
    TaskRef,
    TaskResult,
)
from sdk import WrappedContext as Ctx

from ._app import Deps, client, fetch, worker


@dataclass
class Token:
    text: str
    logprob: float


# -- a streaming task: an async generator ---------------------------------------------


@worker.task(max_items=500)
async def tokens(ctx: Ctx[Deps], prompt: str, limit: int = 10) -> AsyncIterator[Token]:
    await ctx.progress(0.0, "warming up")
    for word in prompt.split()[:limit]:
        yield Token(word, -0.5)


@client.stub()
async def remote_tokens(prompt: str, limit: int = 10) -> AsyncIterator[Token]:
    yield Token("", 0.0)  # the body never runs


async def streaming_is_typed() -> None:
    _as_stream_task: StreamTask[[str, int], Token] = tokens
    _as_stream_ref: StreamRef[[str, int], Token] = remote_tokens
    handle = tokens.enqueue("hello world")
    assert_type(handle, StreamResult[Token])
    async for token in handle.stream():
        assert_type(token, Token)
    async for token in remote_tokens.enqueue("hi", limit=3).stream():
        assert_type(token.text, str)
    # the result of a streaming task is the list of its items
    assert_type(await handle.result(), list[Token])
    assert_type(await handle.outcome(timeout=5), TaskOutcome[list[Token]])
    assert_type(await tokens.run("local"), list[Token])
    # a started handle is still a stream
    started = await tokens.enqueue("x").start()
    assert_type(started, StreamResult[Token])
    assert_type(await tokens.enqueue("y"), StreamResult[Token])
    assert_type(tokens.handle("id"), StreamResult[Token])
    # it is a task (and a task name) whose value is a list of items
    _as_task: TaskRef[[str, int], list[Token]] = tokens
    _as_result: TaskResult[list[Token]] = handle


async def streaming_rejections() -> None:
    # the items are Tokens, not strings
    async for token in tokens.enqueue("x").stream():
        text: str = token  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    # a streaming task is not a task returning one item
    n: Token = await tokens.enqueue("x").result()  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    plain_ref: TaskRef[[str, int], Token] = tokens  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    one: TaskResult[Token] = tokens.enqueue("x")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType, reportUnusedVariable]
    # the generator's parameters are checked as any task's
    tokens.enqueue(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    remote_tokens.enqueue("x", limit="3")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # a plain task has no stream
    fetch.enqueue("u").stream()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


# -- progress ------------------------------------------------------------------------


@worker.task()
async def train(ctx: Ctx[Deps], epochs: int) -> float:
    for epoch in range(epochs):
        await ctx.progress((epoch + 1) / epochs, f"epoch {epoch + 1}")
        await ctx.progress(1)  # an int is a number
    return 0.5


async def progress_is_typed() -> None:
    handle = train.enqueue(3)
    async for p in handle.progress():
        assert_type(p, Progress)
        assert_type(p.fraction, float)
        assert_type(p.message, str | None)
    async for q in tokens.enqueue("x").progress():  # streaming tasks report progress too
        assert_type(q, Progress)
    info = await handle.info()
    if info is not None and info.progress is not None:
        assert_type(info.progress, Progress)


async def progress_rejections(ctx: Ctx[Deps]) -> None:
    await ctx.progress("half")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await ctx.progress(0.5, 3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await ctx.progress(0.5, message=b"bytes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    ctx.progress(0.5)  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]


# -- cancellation ----------------------------------------------------------------------


async def cancellation_options() -> None:
    handle = fetch.enqueue("u")
    assert_type(await handle.result(timeout=5, abort_on_timeout=True), int)
    assert_type(await handle.outcome(2.5, abort_on_timeout=False), TaskOutcome[int])
    assert_type(handle.owned, bool)
    await handle.result(5, True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    await handle.result(abort_on_timeout="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
