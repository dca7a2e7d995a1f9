"""Keeping secrets out of logs, exception messages and reprs.

A Redis URL may carry a password (``redis://user:secret@host``); every place
that shows a URL to a person goes through :func:`redact_url`, and an error
message that might quote one (redis-py's own text) through :func:`redact_text`.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_text", "redact_url"]

_MASK: Final = "***"
# user:password@ in any URL-ish text; the user name stays, it is not a secret
_CREDENTIALS: Final = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s]*@")


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL we can parse (a bad port, say): mask the pattern
        return redact_text(url)
    if password is None:
        return redact_text(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        host = f"{host}:{port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{host}"))


def redact_text(text: str, *secrets: str | None) -> str:
    """``text`` with URL credentials and each of ``secrets`` masked."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{_MASK}@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text
