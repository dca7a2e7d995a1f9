"""A forgotten ``await`` on a task call, caught statically where it can be.

Fixtures mypy reads and nothing executes (see ``typecheck/__init__.py``).

``fetch.enqueue(url)`` only *builds* a call; nothing is sent until the handle is
awaited, started or asked for its result. An un-awaited ``.start()``,
``.result()``, ``.outcome()`` or ``enqueue_many(...)`` is a coroutine, so mypy's
default ``unused-coroutine`` check rejects it. A bare ``fetch.enqueue(url)``
statement is caught only at run time (the unsent handle warns when collected):
mypy's opt-in ``unused-awaitable`` code would flag it, but it also flags the
idiomatic ``await handle`` statement, whose value is the (awaitable) handle.
"""

from __future__ import annotations

from ._app import client, fetch, remote_fetch, worker


async def reject_unsent_calls() -> None:
    fetch.enqueue("https://a").start()  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    fetch.enqueue("https://a").start(delay=5)  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    fetch.enqueue("https://a").result()  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    fetch.enqueue("https://a").outcome(timeout=5)  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    remote_fetch.enqueue("https://a").result(timeout=5)  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    client.enqueue_unsafe("fetch", "https://a").start()  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    worker.enqueue_many([fetch.enqueue("https://a")])  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    client.enqueue_many([fetch.enqueue("https://a")])  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]


async def check_sent_calls() -> None:
    await fetch.enqueue("https://a")
    await fetch.enqueue("https://a").start(delay=1)
    await fetch.enqueue("https://a").result()
    await client.enqueue_unsafe("fetch", "https://a")
    await worker.enqueue_many([fetch.enqueue("https://a")])
    handle = fetch.enqueue("https://a")  # kept, sent below
    await handle
    await handle.status()
