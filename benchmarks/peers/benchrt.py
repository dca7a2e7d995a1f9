"""The tiny runtime the peer adapters' task bodies call (standard library only).

Every adapter's task body calls :func:`task_done` with its argument, *in the
worker process*: a task only counts when a worker really pulled it out of Redis
and ran its body. The harness then checks that every ``i in range(N)`` ran and
reports any ``i`` that ran more than once. Counting adds no Redis traffic.

It also carries the knobs the harness passes to the adapters (the result-poll
interval of polling clients, the sleep task's duration, the adapter variant).
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

executed: int = 0  # task bodies run in this process (duplicates included)
seen: set[int] = set()  # distinct arguments passed to task_done
duplicates: int = 0  # bodies whose argument had already run here
expected: int | None = None  # distinct arguments that complete the phase (None: unknown)
t_first: float | None = None  # perf_counter() at the first task body
t_last: float | None = None  # perf_counter() at the last task body
t_complete: float | None = None  # perf_counter() when `expected` distinct arguments had run

#: Client-side result-poll interval (s) for libraries whose result API polls
#: Redis (arq job.result, saq apply, taskiq wait_result); set from --poll.
poll_interval: float = 0.001
#: How long the ``sleep`` task sleeps (s).
sleep_s: float = 1.0
#: Adapter variant chosen by the harness (e.g. relayq "batch" / "single" enqueue).
variant: str = ""

_done: asyncio.Event | None = None
_stopped = False


def reset(n: int | None) -> None:
    """Start a phase that completes when ``n`` distinct arguments ran (``None``: unknown)."""
    global executed, duplicates, expected, t_first, t_last, t_complete, _done, _stopped
    executed = duplicates = 0
    seen.clear()
    expected = n
    t_first = t_last = t_complete = None
    _done = None
    _stopped = False


def task_done(i: int) -> None:
    """Call from inside every task body, in the worker process."""
    global executed, duplicates, t_first, t_last, t_complete
    now = time.perf_counter()
    executed += 1
    t_last = now
    if t_first is None:
        t_first = now
    if i in seen:
        duplicates += 1
        return
    seen.add(i)
    if expected is not None and t_complete is None and len(seen) >= expected:
        t_complete = now
        _finish()


def stop() -> None:
    """Make :func:`wait_all` return now (the harness decided the phase is over)."""
    global _stopped
    _stopped = True
    _finish()


def _finish() -> None:
    if _done is not None:
        _done.set()


async def wait_all() -> None:
    """Wait until ``expected`` distinct task bodies ran here, or :func:`stop`.

    For a library without a burst mode (taskiq): its adapter runs the worker
    and stops it once this returns.
    """
    global _done
    if t_complete is not None or _stopped:
        return
    _done = asyncio.Event()
    await _done.wait()


class deadline:
    """``async with deadline(s):`` cancels the block after ``s`` seconds and raises
    ``TimeoutError``, like ``asyncio.timeout`` (3.11+), in the same task."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None

        def fire() -> None:
            self._fired = True
            task.cancel()

        self._handle = asyncio.get_running_loop().call_later(self.seconds, fire)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._handle is not None
        self._handle.cancel()
        if self._fired and exc_type is asyncio.CancelledError:
            uncancel = getattr(asyncio.current_task(), "uncancel", None)  # 3.11+
            if uncancel is not None:
                uncancel()
            raise TimeoutError(f"no result within {self.seconds:g}s") from exc
