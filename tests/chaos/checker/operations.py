"""The client operations of a run: each plays one :class:`OpPlan` on its client
(sends, waits, aborts, reschedules, status reads) and records how it ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sdk.client import TaskResult
from tests.chaos.checker.plan import Call, OpPlan
from tests.chaos.checker.records import OpRecord, WaitRecord
from tests.chaos.checker.settings import HANG_BOUND_S
from tests.chaos.checker.state import RunState


class Operations(RunState):
    """Plays the plan's client operations and records every send, wait and call."""

    async def _play_ops(self) -> None:
        for op in self.plan.ops:
            await self._sleep_until(op.at)
            self.op_tasks.append(asyncio.ensure_future(self._run_op(op)))

    async def _run_op(self, op: OpPlan) -> None:
        rec = self.ops[op.index] = OpRecord(op, time.time())
        handler = self._handler(op.kind)
        try:
            await handler(op, rec)
        except asyncio.CancelledError:
            rec.hung = True
            raise
        except Exception as exc:
            rec.error = exc
        finally:
            rec.ended = time.time()
            self.report.ops[op.kind if not rec.skipped else "skipped"] += 1

    def _handler(self, kind: str) -> Callable[[OpPlan, OpRecord], Awaitable[None]]:
        handlers: dict[str, Callable[[OpPlan, OpRecord], Awaitable[None]]] = {
            "send_wait": self._op_send,
            "start": self._op_start,
            "send_many": self._op_send_many,
            "unique": self._op_send,
            "wait": self._op_wait,
            "abort": self._op_abort,
            "reschedule": self._op_reschedule,
            "unschedule": self._op_unschedule,
            "status": self._op_status,
        }
        return handlers[kind]

    def _make(self, op: OpPlan, call: Call) -> TaskResult[int]:
        return self.stubs[op.client][call.fn].enqueue(*call.args)

    def _accept(self, handle: TaskResult[Any], call: Call) -> None:
        self.accepted.setdefault(handle.id, []).append(call)

    async def _op_send(self, op: OpPlan, rec: OpRecord) -> None:
        """send_wait / unique: routed through result()/outcome(), or start() then maybe wait."""
        call = op.calls[0]
        handle = self._make(op, call)
        rec.handles.append(handle)
        if op.routed:
            try:
                await self._wait(op, handle, op.wait, op.timeout)
            finally:
                if handle.sent:
                    self._accept(handle, call)
            return
        await handle.start()
        self._accept(handle, call)
        if op.wait != "none":
            await self._wait(op, handle, op.wait, op.timeout)

    async def _op_start(self, op: OpPlan, rec: OpRecord) -> None:
        call = op.calls[0]
        handle = self._make(op, call)
        rec.handles.append(handle)
        await handle.start(key=op.key, delay=op.delay, priority=op.priority)
        self._accept(handle, call)
        if op.wait != "none":
            await self._wait(op, handle, op.wait, op.timeout)

    async def _op_send_many(self, op: OpPlan, rec: OpRecord) -> None:
        handles = [self._make(op, call) for call in op.calls]
        rec.handles += handles
        await self.clients[op.client].enqueue_many(handles)
        for handle, call in zip(handles, op.calls, strict=True):
            self._accept(handle, call)
        if op.wait != "none":
            await self._wait(op, handles[op.pick], op.wait, op.timeout)

    def _target(self, op: OpPlan, rec: OpRecord) -> TaskResult[Any] | None:
        target = self.ops.get(op.target)
        sent = [h for h in target.handles if h.sent] if target is not None else []
        if not sent:
            rec.skipped = True
            return None
        chosen = sent[op.pick % len(sent)]
        handle = self.clients[op.client].handle(chosen.id, chosen.fn_name)
        rec.handles.append(handle)
        return handle

    async def _op_wait(self, op: OpPlan, rec: OpRecord) -> None:
        handle = self._target(op, rec)
        if handle is not None:
            await self._wait(op, handle, op.wait, op.timeout)

    async def _op_abort(self, op: OpPlan, rec: OpRecord) -> None:
        handle = self._target(op, rec)
        if handle is None:
            return
        self.abort_requests.add(handle.id)
        if op.timeout is None:
            try:
                rec.result = await asyncio.wait_for(handle.abort(timeout=None), HANG_BOUND_S)
            except TimeoutError as exc:
                if type(exc) is not TimeoutError:
                    raise
                rec.hung = True  # the hang bound ran out (not a relayq timeout)
        else:
            rec.result = await handle.abort(timeout=op.timeout)

    async def _op_reschedule(self, op: OpPlan, rec: OpRecord) -> None:
        handle = self._target(op, rec)
        if handle is not None:
            rec.result = await handle.reschedule(delay=op.delay)

    async def _op_unschedule(self, op: OpPlan, rec: OpRecord) -> None:
        handle = self._target(op, rec)
        if handle is not None:
            self.abort_requests.add(handle.id)
            rec.result = await handle.unschedule()

    async def _op_status(self, op: OpPlan, rec: OpRecord) -> None:
        handle = self._target(op, rec)
        if handle is not None:
            rec.result = await handle.status()

    async def _wait(
        self, op: OpPlan, handle: TaskResult[Any], mode: str, timeout: float | None
    ) -> None:
        """Wait for ``handle`` (sending it first if it was not sent) and record the end."""
        w = WaitRecord(op.index, op.kind, mode, handle.id, timeout, time.time())
        self.waits.append(w)
        waiting = self.waiting[op.client]
        waiting[handle.id] += 1
        try:
            call = handle.outcome(timeout) if mode == "outcome" else handle.result(timeout)
            result: Any = await (asyncio.wait_for(call, HANG_BOUND_S) if timeout is None else call)
            if mode == "outcome":
                w.outcome = result
            else:
                w.value, w.has_value = result, True
        except asyncio.CancelledError:
            w.hung = True
            raise
        except Exception as exc:
            # only asyncio.wait_for raises a bare TimeoutError (ResultTimeout subclasses it)
            w.hung = type(exc) is TimeoutError
            w.error = None if w.hung else exc
        finally:
            w.task_id = handle.id
            w.ended = time.time()
            waiting[handle.id] -= 1
            if waiting[handle.id] <= 0:
                del waiting[handle.id]
