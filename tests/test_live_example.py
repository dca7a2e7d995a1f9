"""The live-tasks example (examples/live_service.py): server-sent events of a task's
items and progress through FastAPI, driven with httpx's ASGI transport against the
session's real Redis and a worker running examples/live_app.py; and a client that
disconnects mid-stream, which aborts the task."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from sdk import TaskAborted


def _events(text: str) -> list[tuple[str, Any]]:
    """``(event, data)`` of every server-sent event in a response body."""
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((fields.get("event", "message"), json.loads(fields["data"])))
    return found


@pytest.fixture
async def example(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[ModuleType, ModuleType]]:
    """The example's worker running, and its service, both on the session's Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    app = importlib.reload(importlib.import_module("examples.live_app"))
    service = importlib.reload(importlib.import_module("examples.live_service"))
    async with app.worker.running(), service.api.router.lifespan_context(service.api):
        yield app, service


async def test_words_stream_as_server_sent_events(
    example: tuple[ModuleType, ModuleType],
) -> None:
    _, service = example
    transport = httpx.ASGITransport(app=service.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/generate", params={"prompt": "one two three", "delay": 0})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert _events(response.text) == [
        ("message", "one"),
        ("message", "two"),
        ("message", "three"),
        ("end", None),
    ]


async def test_export_progress_and_result(example: tuple[ModuleType, ModuleType]) -> None:
    _, service = example
    transport = httpx.ASGITransport(app=service.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        started = await http.post("/exports", params={"rows": 20, "delay": 0.02})
        task_id = started.json()["id"]
        progress = await http.get(f"/exports/{task_id}/progress")
        result = await http.get(f"/exports/{task_id}")
        missing = await http.get("/exports/nope/progress")
    events = _events(progress.text)
    assert events[-1] == ("end", None)
    reports = [data for event, data in events if event == "message"]
    assert reports, "no progress reported"
    fractions = [r["fraction"] for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert reports[-1]["message"] == "row 20 of 20"
    assert result.json() == {"rows": 20}
    assert _events(missing.text) == [("error", "no export nope")]


async def test_a_client_that_disconnects_aborts_the_task(
    example: tuple[ModuleType, ModuleType],
) -> None:
    """A raw ASGI call whose client goes away after the first word: Starlette cancels
    the streaming response, the stream's cancellation aborts the task."""
    app, service = example
    sent: list[dict[str, Any]] = []
    first_word = asyncio.Event()
    disconnect = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and b"data:" in message.get("body", b""):
            first_word.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/generate",
        "raw_path": b"/generate",
        "query_string": b"prompt=" + b"+".join([b"w"] * 200) + b"&delay=0.05",
        "headers": [],
        "client": ("test", 1),
        "server": ("test", 80),
    }
    request = asyncio.ensure_future(service.api(scope, receive, send))
    await asyncio.wait_for(first_word.wait(), 10)
    async with app.worker:
        client = app.worker.client
        [task_id] = [
            client.keys.task_id_of(key.decode())
            async for key in client.redis.scan_iter(match=client.keys.tasks_pattern)
        ]
        disconnect.set()  # the browser tab closes
        await asyncio.wait_for(request, 10)
        # the task generating for it is aborted, long before its 200 words
        with pytest.raises(TaskAborted):
            await app.generate.handle(task_id).result(timeout=1)
    words = sum(m.get("body", b"").count(b"data:") for m in sent)
    assert 1 <= words < 200
