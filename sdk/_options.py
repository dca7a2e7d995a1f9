"""Keyword options: the check that every name given is one the API knows."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from .errors import ConfigurationError

__all__ = ["check_option_names"]


def check_option_names(given: Collection[str], known: Collection[str], what: str) -> None:
    """Raise a :class:`ConfigurationError` naming each unknown keyword option."""
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(f"{what} got an unknown option {name!r}{hint}")
