"""Streaming tasks as callers see them: ``StreamRef[P, Y]`` and ``StreamResult[Y]``.

A task written as an async generator yields items; its caller iterates them
with :meth:`StreamResult.stream`, typed as the generator's item type. Its
"result" is the list of the items its last try yielded, read by the caller
from the items stream (the worker stores only how many there were), so a
stream that never ends costs the worker no memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from typing_extensions import ParamSpec

from .._models import TaskOutcome
from ..errors import ResultTimeout
from ._result import TaskResult
from ._taskref import TaskRef
from ._viewing import View

__all__ = ["StreamRef", "StreamResult"]

P = ParamSpec("P")
Y = TypeVar("Y", covariant=True)
Y2 = TypeVar("Y2")


class StreamResult(TaskResult[list[Y]]):
    """A call of a streaming task: iterate its items with :meth:`stream`.

    ``await handle.result()`` (and :meth:`outcome`) return the list of every item
    the task's last try yielded, once it has finished.
    """

    __slots__ = ()

    async def stream(self) -> AsyncIterator[Y]:
        """Send the task if needed and yield its items as the worker yields them: in
        order, none lost or repeated, also when this starts after the task (or
        after earlier items), or the connection drops for a while.

        Cancelling the iteration while it waits for an item aborts a task this
        handle :attr:`owned`, as cancelling :meth:`result` does.

        :raises TaskFailed: the task failed, after the items it yielded before.
        :raises StreamRestarted: the task started again (a retry) after items of an
            earlier try were yielded here; call ``stream()`` again to follow it.
        :raises StreamGap: items were trimmed (``max_items``) or expired unread.
        :raises TaskNotFound: the task is nowhere.
        """
        try:
            async with self._sender.view(self.id) as view:
                await self._send_for(view)
                async for item in view.items():
                    yield item
                outcome = view.outcome
        except asyncio.CancelledError:
            if self.owned:
                self._sender.abort_soon(self.id)
            raise
        if outcome is not None and outcome.error is not None:
            raise outcome.error

    async def _obtain(self, timeout: float | None) -> TaskOutcome[Any]:
        try:
            return await asyncio.wait_for(self._collect(), timeout)
        except asyncio.TimeoutError:
            raise ResultTimeout(f"no outcome of task {self.id} within {timeout} s") from None

    async def _collect(self) -> TaskOutcome[Any]:
        async with self._sender.view(self.id) as view:
            await self._send_for(view)
            items = [item async for item in view.items()]
            outcome = _ended(view)
        return dataclasses.replace(outcome, value=items if outcome.success else None)


def _ended(view: View) -> TaskOutcome[Any]:
    if view.outcome is None:  # pragma: no cover - items() sets it before it ends
        raise RuntimeError(f"the stream of task {view.task_id} ended without an outcome")
    return view.outcome


class StreamRef(TaskRef[P, list[Y2]]):
    """A streaming task as its callers see it: ``enqueue`` returns a
    :class:`StreamResult` of the generator's item type."""

    __slots__ = ()

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> StreamResult[Y2]:
        """Build a call of this streaming task; nothing is sent until it is started,
        awaited, or its :meth:`~StreamResult.stream` is iterated."""
        return StreamResult(self._client, self._request(args, kwargs))

    def handle(self, task_id: str) -> StreamResult[Y2]:
        """A handle on an already-sent call of this streaming task, by id."""
        return StreamResult.existing(self._client, self.name, task_id)
