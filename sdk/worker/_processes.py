"""Worker child processes: ``relayq run --workers N`` (and the child that
``relayq run --reload`` restarts, see :mod:`sdk.worker._reload`).

Both run the same ``relayq run`` command (minus the option that made them
supervise) in child processes and stay small: they never import user code.

Each child gets its own process group, so a terminal's Ctrl-C reaches only the
supervisor, which forwards every SIGINT/SIGTERM it receives to every child
exactly once: the first asks the workers to shut down gracefully, a second one
cancels their running tasks (as for a worker run directly). On Linux a child
also asks the kernel for SIGTERM should its supervisor die without forwarding
(``kill -9``), so no worker is left orphaned.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Final

__all__ = [
    "POLL_S",
    "SUPERVISOR_ENV",
    "ChildProcesses",
    "catch_signals",
    "exit_code",
    "exit_with_supervisor",
    "forward_signals",
    "supervise",
    "worker_command",
]

logger = logging.getLogger("relayq.cli")

#: Set in a child's environment to its supervisor's pid.
SUPERVISOR_ENV: Final = "RELAYQ_SUPERVISOR_PID"
POLL_S: Final = 0.05
_PR_SET_PDEATHSIG: Final = 1


def worker_command(args: Sequence[str]) -> list[str]:
    """The argv that runs ``relayq <args>`` with this interpreter."""
    return [sys.executable, "-m", "sdk.worker._cli", *args]


def exit_code(returncode: int) -> int:
    """A child's ``returncode`` as a shell exit status (killed by signal N -> 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def exit_with_supervisor() -> None:
    """In a supervised child: have the kernel send SIGTERM when the supervisor dies.

    A no-op outside a supervised child and off Linux.
    """
    parent = os.environ.pop(SUPERVISOR_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # it died before prctl took effect
        raise SystemExit(exit_code(-signal.SIGTERM))


class ChildProcesses:
    """Worker processes started from one argv, each in its own process group.

    :param argv: the command each child runs (see :func:`worker_command`).
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start one more child."""
        env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
        # a new session: terminal signals reach the supervisor only, which forwards them
        proc = subprocess.Popen(self.argv, env=env, start_new_session=True)
        self.procs.append(proc)
        logger.info("started worker process %d", proc.pid)
        return proc

    def signal(self, sig: int) -> None:
        """Send ``sig`` to every child still running."""
        for proc in self.procs:
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    proc.send_signal(sig)


@contextmanager
def catch_signals(pending: list[int], stop: threading.Event | None = None) -> Iterator[None]:
    """Record SIGINT/SIGTERM in ``pending`` (the main loop forwards them)."""

    def handler(sig: int, frame: object) -> None:
        pending.append(sig)
        if stop is not None:
            stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def forward_signals(children: ChildProcesses, pending: list[int]) -> bool:
    """Forward recorded signals; whether there were any."""
    forwarded = bool(pending)
    while pending:
        sig = pending.pop(0)
        logger.info("%s: forwarding to the worker processes", signal.Signals(sig).name)
        children.signal(sig)
    return forwarded


def supervise(argv: Sequence[str], count: int) -> int:
    """Run ``count`` children of ``argv`` until all exit; return the exit status.

    Signals are forwarded as described in the module docstring. When a child fails
    (non-zero exit) while no stop was requested, the others are stopped gracefully
    too, so a process manager sees the failure and restarts the whole group. The
    result is 0 when every child exited 0, else the first failing child's status.
    """
    children = ChildProcesses(argv)
    pending: list[int] = []
    stopping = False
    codes: dict[int, int] = {}
    with catch_signals(pending):
        for _ in range(count):
            if pending:
                break  # stopped while starting: start no more
            children.spawn()
        while len(codes) < len(children.procs):
            stopping |= forward_signals(children, pending)
            for proc in children.procs:
                rc = proc.poll()
                if rc is None or proc.pid in codes:
                    continue
                codes[proc.pid] = exit_code(rc)
                if rc == 0 or stopping:
                    logger.info("worker process %d exited (status %d)", proc.pid, codes[proc.pid])
                    continue
                logger.error(
                    "worker process %d failed with exit status %d", proc.pid, codes[proc.pid]
                )
                logger.error("stopping the other worker processes")
                stopping = True
                children.signal(signal.SIGTERM)
            time.sleep(POLL_S)
    failed = [code for code in codes.values() if code != 0]
    return failed[0] if failed else 0
