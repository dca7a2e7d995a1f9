"""Runnable examples used by the README (``relayq run examples.app:worker``)."""
