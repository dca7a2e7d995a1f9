"""Checking at connect time that the Redis user may do what relayq needs.

``probe.lua`` runs every command a client or a worker needs on throwaway keys
of the queue; this turns its refusals into one :class:`ConfigurationError`
naming what is missing: commands, the key pattern or the channel pattern, and
where the least-privilege ACL rules are documented.
"""

from __future__ import annotations

from ._redis import ACL_DOCS
from ._scripts import Scripts
from .errors import ConfigurationError

__all__ = ["require_permissions"]


async def require_permissions(scripts: Scripts, role: str) -> None:
    """Raise a clear error when this Redis user may not do what ``role`` needs
    (``"client"``: send and await tasks; ``"worker"``: also consume them).

    :raises ConfigurationError: naming each refused command, or the missing key or
        channel pattern, and where the ACL rules are documented.
    """
    refused = await scripts.probe(role)
    if not refused:
        return
    base = scripts.keys.base
    commands: set[str] = set()
    lacks_keys = lacks_channels = False
    for name, message in refused:
        # Redis names the command in a command refusal (and the user, on 7.2+:
        # checked first so a user name cannot read as a key or a channel)
        text = message.lower()
        if "to run the '" in text or "run this command" in text:
            commands.add(name)
        elif "channel" in text:
            lacks_channels = True
        elif "key" in text:
            lacks_keys = True
        else:
            commands.add(name)
    missing = []
    if commands:
        missing.append(f"the command(s) {', '.join(sorted(commands))}")
    if lacks_keys:
        missing.append(f"the key pattern ~{base}*")
    if lacks_channels:
        missing.append(f"the channel pattern &{base}*")
    detail = "; ".join(sorted({message for _, message in refused}))
    raise ConfigurationError(
        f"the Redis user may not do what a relayq {role} needs on queue "
        f"{scripts.keys.queue_name!r}: it lacks {' and '.join(missing)} (Redis said: {detail}). "
        f"A relayq {role} needs the keys ~{base}* and the channels &{base}*; see {ACL_DOCS}"
    )
