"""The fixed settings of every run, and the tolerances of the checks."""

from __future__ import annotations

from typing import Final

#: Seconds of operations and faults per seed (the plan depends on the seed alone).
WINDOW_S: Final = 10.0
LEASE_S: Final = 1.0
#: A worker whose event loop stood still this long may have lost a lease (it renews
#: every third of it): such a stall touches the runs it overlaps, like a SIGSTOP.
STALL_TOUCH_S: Final = 0.4
MAX_TRIES: Final = 10
PRIORITIES: Final = ("high", "default")
KEY_SPACE: Final = ("k0", "k1", "k2", "k3")

WAIT_SLACK_S: Final = 2.0  # a timed wait or abort may end this long after its timeout
OUTCOME_MARGIN_S: Final = 1.0  # an outcome stored this long before a deadline was in time
OUTAGE_SLACK_S: Final = 1.0  # RedisUnavailable is expected this long around a restart
AFTER_DISTURBANCE_S: Final = 6.0  # pub/sub reconnects (backoff) within this after a fault
QUIESCE_S: Final = 45.0  # longest wait for the last live task to end after the faults
HANG_GRACE_S: Final = 5.0  # a wait without timeout still going this long after quiescence hangs
HANG_BOUND_S: Final = WINDOW_S + QUIESCE_S + 30.0  # outer bound of waits without timeout
READY_S: Final = 30.0  # a worker process must be consuming within this
STARTUP_MARGIN_S: Final = 0.5  # after " consuming ": groups made, control channel subscribed
EXAMPLES: Final = 6  # examples kept per invariant
