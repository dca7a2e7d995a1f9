"""Errors: the ``RelayqError`` tree, ``ResultTimeout`` as a ``TimeoutError``, ``Retry``.

Fixtures mypy reads and nothing executes (see ``typecheck/__init__.py``): every line
here must type-check, and ``assert_type`` pins the exact inferred type.
"""

from __future__ import annotations

from datetime import timedelta

from typing_extensions import assert_type

import sdk.errors
from sdk import RelayqError, ResultTimeout, Retry, TaskAborted, TaskFailed, TaskTimedOut
from sdk.errors import (
    ConfigurationError,
    NotConnected,
    PayloadTooLarge,
    RedisCommandError,
    RedisUnavailable,
    SerializationError,
)

from ._app import fetch


def check_hierarchy() -> None:
    # every library error is a RelayqError
    errors: list[RelayqError] = [
        ConfigurationError("x"),
        SerializationError("x"),
        PayloadTooLarge("x"),
        RedisUnavailable("x"),
        RedisCommandError("x"),
        NotConnected("x"),
        ResultTimeout("x"),
        TaskFailed("id", "ValueError", "bad"),
        TaskTimedOut("id", "TimeoutError", "too slow"),
        TaskAborted("id", "Aborted", "aborted", "traceback text"),
    ]
    assert_type(errors, list[RelayqError])
    # ...and several are also the builtin a caller would naturally catch (the
    # annotated assignments are the check: pyright narrows a variable to what was
    # assigned, so an assert_type of the declared type would fail there)
    _timeout: TimeoutError = ResultTimeout("waited 5 s")
    _config: ValueError = ConfigurationError("bad option")
    _too_large: ValueError = PayloadTooLarge("50 MB")
    _codec: TypeError = SerializationError("cannot encode")
    failed: list[TaskFailed] = [TaskTimedOut("i", "t", "m"), TaskAborted("i", "t", "m")]
    assert_type(failed, list[TaskFailed])
    assert_type(sdk.errors.RelayqError, type[RelayqError])


def check_task_failed_fields(exc: TaskFailed) -> None:
    assert_type(exc.task_id, str)
    assert_type(exc.exc_type, str)
    assert_type(exc.message, str)
    assert_type(exc.traceback, str)


async def check_except_clauses() -> None:
    try:
        await fetch.enqueue("a").result(timeout=1)
    except TimeoutError as exc:  # catches ResultTimeout
        assert_type(exc, TimeoutError)
    except TaskTimedOut as exc:
        assert_type(exc.exc_type, str)
    except TaskFailed as exc:
        assert_type(exc.message, str)
    except RelayqError as exc:
        assert_type(exc, RelayqError)


def check_retry() -> None:
    # Retry is a control-flow signal, an Exception but not a RelayqError
    assert_type(Retry(), Retry)
    assert_type(Retry(None), Retry)
    assert_type(Retry(3), Retry)
    assert_type(Retry(delay=0.5), Retry)
    assert_type(Retry(delay=timedelta(seconds=2)), Retry)
    assert_type(Retry().delay, float | None)
    _signal: Exception = Retry()  # (the assignment is the check, as above)
