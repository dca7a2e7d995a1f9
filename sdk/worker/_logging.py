"""How the ``relayq`` command logs: one line per event on stderr."""

from __future__ import annotations

import logging
import sys

__all__ = ["LOG_FORMAT", "setup_logging"]

LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s [%(process)d] %(name)s: %(message)s"


def setup_logging(verbose: bool) -> None:
    """One line per event on stderr: INFO by default, DEBUG with ``--verbose``.

    Per-task lines come from the ``relayq.worker`` logger at INFO.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=LOG_FORMAT,
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # watchfiles logs every detected change at INFO; `--reload` logs its own line
    logging.getLogger("watchfiles").setLevel(logging.DEBUG if verbose else logging.WARNING)
