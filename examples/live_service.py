"""A FastAPI service that streams a task's items and its progress as server-sent events.

It never imports worker code: typed stubs declare the tasks of
``examples/live_app.py``. Run it with ``uvicorn examples.live_service:api`` next to
``relayq run examples.live_app:worker``. Endpoints:

- ``GET /generate?prompt=...``: the words of a streaming task as they come
  (``data:`` events, then ``event: end``). A client that disconnects cancels the
  stream, which aborts the task: nobody is left to read it.
- ``POST /exports?rows=N``: start an export; returns its id.
- ``GET /exports/{id}/progress``: its progress as events, until it ends.
- ``GET /exports/{id}``: its result (waits for it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse

from sdk.client import Client
from sdk.errors import TaskFailed, TaskNotFound

client = Client(queue_name="live-example")  # redis_url: $REDIS_URL, else localhost:6379


@client.stub()
async def generate(prompt: str, delay: float = 0.05) -> AsyncIterator[str]:
    """Words of ``prompt``, one by one (implemented in examples/live_app.py)."""
    yield ""  # the worker runs the real one; this body never runs


@client.stub()
async def export(rows: int, delay: float = 0.01) -> int:
    """Export ``rows`` rows, with progress; returns how many."""
    raise NotImplementedError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with client:  # one connection and one pub/sub connection for the service
        yield


api = FastAPI(lifespan=lifespan)


def _event(data: object, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


@api.get("/generate")
async def generate_events(prompt: str, delay: float = 0.05) -> StreamingResponse:
    """Stream the words of ``prompt`` as server-sent events while the task yields them."""

    async def events() -> AsyncIterator[str]:
        try:
            async for word in generate.enqueue(prompt, delay).stream():
                yield _event(word)
        except TaskFailed as exc:
            yield _event(exc.message, "error")
            return
        yield _event(None, "end")

    return StreamingResponse(events(), media_type="text/event-stream")


@api.post("/exports")
async def start_export(rows: int, delay: float = 0.01) -> dict[str, str]:
    """Start an export; its id is what the other endpoints take."""
    handle = await export.enqueue(rows, delay).start()
    return {"id": handle.id}


@api.get("/exports/{task_id}/progress")
async def export_progress(task_id: str) -> StreamingResponse:
    """The export's progress as server-sent events (the last report first), until it ends."""

    async def events() -> AsyncIterator[str]:
        try:
            async for p in export.handle(task_id).progress():
                yield _event({"fraction": p.fraction, "message": p.message})
        except TaskNotFound:
            yield _event(f"no export {task_id}", "error")
            return
        yield _event(None, "end")

    return StreamingResponse(events(), media_type="text/event-stream")


@api.get("/exports/{task_id}")
async def export_result(task_id: str) -> dict[str, int]:
    """The number of rows the export wrote (waits for it to finish)."""
    try:
        rows = await export.handle(task_id).result(timeout=60)
    except TaskNotFound:
        raise HTTPException(404, f"no export {task_id}") from None
    return {"rows": rows}
