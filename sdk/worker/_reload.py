"""``relayq run --reload``: restart the worker process when a ``.py`` file changes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import click

from ._processes import POLL_S, ChildProcesses, catch_signals, exit_code, forward_signals

__all__ = ["run_with_reload"]

logger = logging.getLogger("relayq.cli")


def _wait(proc: subprocess.Popen[bytes], children: ChildProcesses, pending: list[int]) -> int:
    while proc.poll() is None:
        forward_signals(children, pending)
        time.sleep(POLL_S)
    return proc.returncode


def _describe(changes: Iterable[tuple[object, str]], root: str) -> str:
    names = sorted({os.path.relpath(path, root) for _, path in changes})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def run_with_reload(argv: Sequence[str], root: str | Path) -> int:
    """Run one child of ``argv`` and restart it whenever a ``.py`` file under ``root``
    changes; return its exit status once a SIGINT/SIGTERM stopped it.

    A child that crashes is restarted on the next change. A child that exits 0 on
    its own (``--burst``) ends the command.

    :raises click.ClickException: watchfiles is not installed.
    """
    try:
        import watchfiles
    except ImportError:
        raise click.ClickException(
            "--reload needs watchfiles: pip install 'relayq[reload]'"
        ) from None
    root = str(root)
    children = ChildProcesses(argv)
    pending: list[int] = []
    stop = threading.Event()
    with catch_signals(pending, stop):
        child = children.spawn()
        crashed = False
        logger.info("watching %s for changes to .py files", root)
        for changes in watchfiles.watch(
            root,
            watch_filter=watchfiles.PythonFilter(),
            stop_event=stop,
            rust_timeout=500,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if stop.is_set():
                break
            if changes:
                logger.info("%s changed: restarting the worker", _describe(changes, root))
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
                    _wait(child, children, pending)
                child, crashed = children.spawn(), False
            elif child.poll() is not None and not crashed:
                if child.returncode == 0:
                    break
                crashed = True
                logger.error(
                    "worker exited with status %d; waiting for a change to restart it",
                    exit_code(child.returncode),
                )
        return exit_code(_wait(child, children, pending))
