"""The seeded fault-injection checker: it searches for broken promises instead of
replaying known cases.

One ``random.Random(seed)`` draws a whole run up front (:func:`make_plan`): how many
workers and clients, their settings, a timeline of client operations and a
timeline of faults. :class:`Checker` plays that plan against 2-3 ``checkerapp``
worker processes and 2-3 in-process clients on a private Redis with AOF
(``appendfsync always``), records everything (which sends were accepted, which
faults touched which task, how every wait and call ended, every execution as
the tasks write it down), lets the system quiesce, and checks:

1. every accepted task has exactly one terminal outcome: one is stored, it came
   from a real execution (or an abort someone asked for), every waiter of a task
   with a random id got that same one, and no task is left live or leased;
2. every wait ends within its bound with the right outcome or a clear relayq
   error (``ResultTimeout`` only when the outcome was not there in time,
   ``TaskNotFound`` never for a task whose outcome is stored, ``RedisUnavailable``
   only around a Redis restart), never hangs, never raises a non-relayq exception;
3. no task ran twice at once unless a fault touched it;
4. executions of a task <= 1 + the retries it asked for + the faults that touched it;
5. no worker process died unless it was killed, and SIGTERM always exits 0;
6. no relayq key outlives its TTL: after quiescence only results (with at most
   their configured TTL), the streams, the wake stream, the dead-letter stream
   and its byte counter, the crons hash and expiring worker health keys remain.

A fault *touches* a task that was live when it happened: a SIGKILL, SIGSTOP or
SIGTERM of the worker holding or running it, or any Redis restart. So does a
stall of a worker's event loop long enough to lose a lease (CPU starvation on a
loaded machine; the workers measure their own loop lag): an unplanned SIGSTOP,
reported as ``stalls=`` in the summary line.

The plan depends on the seed alone, so ``pytest tests/chaos/test_checker.py
--seed N`` replays the same operations and faults (their exact interleaving with
the workers is up to the machine).

The package, one concept per module:

- ``settings``: the fixed settings of every run and the tolerances of the checks;
- ``app``: the worker app (:data:`APP_MODULE`), its client stubs and its processes;
- ``plan``: the seeded plan (:func:`make_plan`);
- ``records``: what a run records, and its :class:`Report`;
- ``state``: the state of a run and the checker's view of Redis;
- ``workers``: starting, watching and stopping the worker processes (invariant 5);
- ``operations`` and ``faults``: playing the plan's client operations and faults;
- ``evidence``: what the run left behind, read after quiescence;
- ``outcomes``, ``waits``, ``executions`` and ``keys``: invariants 1, 2, 3-4 and 6;
- ``run``: :class:`Checker`, which plays a plan and checks it, and :func:`run_seed`.
"""

from __future__ import annotations

from tests.chaos.checker.app import APP_MODULE
from tests.chaos.checker.plan import Plan, make_plan
from tests.chaos.checker.records import INVARIANTS, Report
from tests.chaos.checker.run import Checker, run_seed
from tests.chaos.checker.settings import WINDOW_S

__all__ = [
    "APP_MODULE",
    "INVARIANTS",
    "WINDOW_S",
    "Checker",
    "Plan",
    "Report",
    "make_plan",
    "run_seed",
]
