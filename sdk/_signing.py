"""HMAC-SHA256 signing of tasks and outcomes (optional: ``signing_key=``).

A task's signature covers the queue, the task id, the function name, the
enqueue time, an optional expiry and the encoded arguments, so a signed task
copied under another id, to another queue or after its expiry is rejected
before anything of it is decoded. An outcome's seal covers the queue, the task
id and the whole encoded outcome, so a waiting caller never trusts a result
that someone without the key wrote. The two are domain-separated: a task
signature can never pass as an outcome seal or the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from .errors import ConfigurationError, InvalidSignature

__all__ = ["MIN_KEY_BYTES", "Signer", "open_outcome", "seal_outcome", "verify_task"]

#: Shortest accepted signing key.
MIN_KEY_BYTES: Final = 16
_MAC_LEN: Final = 32
_SEALED: Final = b"rqS1"
_TASK_DOMAIN: Final = b"relayq task v1\0"
_OUTCOME_DOMAIN: Final = b"relayq outcome v1\0"


class Signer:
    """Signs and verifies for one queue under one key.

    :param key: at least 16 bytes (a ``str`` is UTF-8 encoded).
    :raises ConfigurationError: the key is too short.
    """

    __slots__ = ("_key", "_queue")

    def __init__(self, key: bytes | str, queue_name: str) -> None:
        if isinstance(key, str):
            key = key.encode()
        if len(key) < MIN_KEY_BYTES:
            raise ConfigurationError(f"signing_key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self._queue = queue_name.encode()

    def __repr__(self) -> str:
        return "<Signer (key hidden)>"

    def _mac(self, *parts: bytes) -> bytes:
        return hmac.new(self._key, b"\0".join((self._queue, *parts)), hashlib.sha256).digest()

    def sign_task(
        self, task_id: str, fn_name: str, enqueue_ms: int, args: bytes, expires_ms: int = 0
    ) -> bytes:
        """The signature field of a task: the MAC, then the expiry in ASCII ms (if any)."""
        expiry = str(expires_ms).encode() if expires_ms else b""
        mac = self._mac(
            _TASK_DOMAIN, task_id.encode(), fn_name.encode(), b"%d" % enqueue_ms, expiry, args
        )
        return mac + expiry

    def check_task(
        self,
        task_id: str,
        fn_name: str,
        enqueue_ms: int,
        args: bytes,
        signature: bytes,
        now_ms: int,
    ) -> None:
        """Verify a task's signature field.

        :raises InvalidSignature: a wrong MAC (tampered, copied, another key) or an expired one.
        """
        if not signature:
            raise InvalidSignature("the task is not signed but this worker requires signing_key")
        mac, expiry = signature[:_MAC_LEN], signature[_MAC_LEN:]
        expected = self._mac(
            _TASK_DOMAIN, task_id.encode(), fn_name.encode(), b"%d" % enqueue_ms, expiry, args
        )
        if not hmac.compare_digest(mac, expected):
            raise InvalidSignature(
                "the task's signature does not match (tampered, copied under another id, "
                "or signed with another key)"
            )
        if expiry and int(expiry) < now_ms:
            raise InvalidSignature(f"the task's signature expired at {int(expiry)} ms")

    def seal(self, task_id: str, outcome: bytes) -> bytes:
        """An outcome with its MAC in front."""
        return _SEALED + self._mac(_OUTCOME_DOMAIN, task_id.encode(), outcome) + outcome

    def unseal(self, task_id: str, sealed: bytes) -> bytes:
        """The outcome inside a seal.

        :raises InvalidSignature: not sealed, or sealed by someone without the key.
        """
        if sealed[:4] != _SEALED:
            raise InvalidSignature(
                f"the outcome of task {task_id} is not signed (written by a worker without "
                "signing_key, or by someone without the key)"
            )
        mac, outcome = sealed[4 : 4 + _MAC_LEN], sealed[4 + _MAC_LEN :]
        if not hmac.compare_digest(mac, self._mac(_OUTCOME_DOMAIN, task_id.encode(), outcome)):
            raise InvalidSignature(
                f"the outcome of task {task_id} has a wrong signature (sealed with another "
                "signing_key, or written by someone without the key)"
            )
        return outcome


def verify_task(
    signer: Signer | None,
    task_id: str,
    fn_name: str,
    enqueue_ms: int,
    args: bytes,
    signature: bytes,
    now_ms: int,
) -> None:
    """Check a task against this side's signing configuration (``None``: no key).

    :raises InvalidSignature: signed while this side has no key, or see :meth:`Signer.check_task`.
    """
    if signer is None:
        if signature:
            raise InvalidSignature("the task is signed but this worker has no signing_key")
        return
    signer.check_task(task_id, fn_name, enqueue_ms, args, signature, now_ms)


def seal_outcome(signer: Signer | None, task_id: str, outcome: bytes) -> bytes:
    """``outcome`` sealed when a key is configured, else unchanged."""
    return outcome if signer is None else signer.seal(task_id, outcome)


def open_outcome(signer: Signer | None, task_id: str, stored: bytes) -> bytes:
    """The inverse of :func:`seal_outcome`. Without a key nothing is verified (a
    sealed outcome is read as it is, as every unsealed one is).

    :raises InvalidSignature: see :meth:`Signer.unseal`.
    """
    if signer is None:
        return stored[4 + _MAC_LEN :] if stored[:4] == _SEALED else stored
    return signer.unseal(task_id, stored)
