"""The example worker of the README, in a checkout: ``relayq run examples.app:worker``.

The app itself ships inside the package (``sdk/examples/app.py``), so that
``relayq demo`` and ``relayq run sdk.examples.app:worker`` work from an installed
wheel too; this module is the same app under its checkout name.
"""

from __future__ import annotations

from sdk.examples.app import (
    PAGES,
    Deps,
    Web,
    add,
    crunch,
    divide,
    fetch,
    lifespan,
    noop,
    worker,
)

__all__ = ["PAGES", "Deps", "Web", "add", "crunch", "divide", "fetch", "lifespan", "noop", "worker"]
