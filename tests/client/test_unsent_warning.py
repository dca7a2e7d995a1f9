"""A call that is built but never sent warns when it is garbage-collected."""

from __future__ import annotations

import gc
import warnings

import pytest

from sdk import Client, Worker, WrappedContext
from sdk.errors import SerializationError


def test_unsent_handle_warns_naming_the_task(worker: Worker[None]) -> None:
    @worker.task()
    async def forgotten_send_task(ctx: WrappedContext[None], x: int) -> int:
        return x

    with pytest.warns(RuntimeWarning, match=r"'forgotten_send_task'.*never sent") as record:
        forgotten_send_task.enqueue(1)  # the classic bug: a missing `await`
        gc.collect()
    assert len(record) == 1
    assert "await" in str(record[0].message)


def test_unsent_stub_call_warns_with_its_id(client: Client) -> None:
    @client.stub()
    async def stub_never_sent(x: int) -> int:
        raise NotImplementedError

    handle = stub_never_sent.enqueue(1)
    task_id = handle.id
    with pytest.warns(RuntimeWarning, match=task_id):
        del handle
        gc.collect()


async def test_sent_handles_do_not_warn(worker: Worker[None]) -> None:
    @worker.task()
    async def sent_task(ctx: WrappedContext[None], x: int) -> int:
        return x

    async with worker:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            await sent_task.enqueue(1)
            await sent_task.enqueue(2).start(delay=60)
            await worker.enqueue_many([sent_task.enqueue(3), sent_task.enqueue(4)])
            sent_task.handle("an-existing-id")  # a handle on a task sent elsewhere
            gc.collect()
    assert [w for w in record if issubclass(w.category, RuntimeWarning)] == []


async def test_a_send_that_raised_does_not_warn_again(worker: Worker[None]) -> None:
    """The caller already got the error of a failed send; no second complaint at GC."""

    @worker.task()
    async def takes_anything(ctx: WrappedContext[None], x: object) -> None:
        return None

    async with worker:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with pytest.raises(SerializationError):
                await takes_anything.enqueue(object())  # not serializable
            with pytest.raises(SerializationError):
                await worker.enqueue_many([takes_anything.enqueue(object())])
            gc.collect()
    assert [w for w in record if issubclass(w.category, RuntimeWarning)] == []
