"""Standard Webhooks 1.0 signatures: who may post events in.

A sender signs `f"{webhook_id}.{timestamp}.".encode() + body` with HMAC-SHA256 under a
`whsec_<base64 key>` secret and sends `webhook-signature: v1,<base64> [v1,<base64> ...]`.
The receiver checks the raw bytes before parsing anything, compares in constant time
(`hmac.compare_digest`), accepts any listed signature under any configured secret (so a secret can
be rotated without a gap) and refuses a timestamp more than `tolerance` seconds away either way
(a captured request cannot be replayed later; the webhook-id dedupe covers the window itself).

Errors carry a fixed `reason` for the log and the metrics, never the secret, the signature or the
body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["REASONS", "TOLERANCE_SECONDS", "SignatureError", "Verifier", "parse_secret", "sign"]

PREFIX: Final = "whsec_"
TOLERANCE_SECONDS: Final = 300.0
MAX_SIGNATURES: Final = 8
"""More signatures than any rotation needs is a sender's mistake or an attempt to guess."""
REASONS: Final = ("missing", "malformed", "stale", "mismatch")


class SignatureError(Exception):
    """The request is not from a holder of the secret (answered 401, nothing processed).
    `reason` is one of REASONS: a fixed label, safe to log and count."""

    def __init__(self, reason: str) -> None:
        assert reason in REASONS
        super().__init__(f"webhook signature refused: {reason}")
        self.reason = reason


def parse_secret(text: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret. The message of the ValueError never repeats
    the secret: it ends up in a config error, which ends up in a log."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise ValueError("a webhook secret must start with 'whsec_' (Standard Webhooks)")
    try:
        key = base64.b64decode(text[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret must be 'whsec_' followed by base64") from None
    if len(key) < 16:
        raise ValueError("the key of a whsec_ secret must be at least 16 bytes (24 base64 chars)")
    return key


def _mac(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value (the sender's side; tests sign with it)."""
    mac = _mac(parse_secret(secret), webhook_id, str(timestamp), body)
    return "v1," + base64.b64encode(mac).decode()


class Verifier:
    """Checks one system's deliveries against its configured secrets."""

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance: float = TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = tuple(parse_secret(s) for s in secrets)
        if not self._keys:
            raise ValueError("a verifier needs at least one secret")
        self._tolerance = tolerance
        self._clock = clock

    def verify(
        self,
        webhook_id: str | None,
        timestamp: str | None,
        signature: str | None,
        body: bytes,
    ) -> None:
        """Return if one signature matches; raise SignatureError otherwise."""
        if not webhook_id or not timestamp or not signature:
            raise SignatureError("missing")
        if len(webhook_id) > 256 or not timestamp.isascii() or not timestamp.isdigit():
            raise SignatureError("malformed")
        if len(timestamp) > 12 or abs(self._clock() - int(timestamp)) > self._tolerance:
            raise SignatureError("stale")
        candidates = _signatures(signature)
        matched = False
        for key in self._keys:
            expected = _mac(key, webhook_id, timestamp, body)
            for candidate in candidates:
                # no early exit: the time taken does not say which secret or signature matched
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise SignatureError("mismatch")


def _signatures(header: str) -> list[bytes]:
    """The `v1` signatures of the header; other versions are skipped (the spec's forward
    compatibility), a malformed entry or none at all is refused."""
    found: list[bytes] = []
    entries = header.split()
    if not entries or len(entries) > MAX_SIGNATURES:
        raise SignatureError("malformed")
    for entry in entries:
        version, comma, value = entry.partition(",")
        if not comma or not version:
            raise SignatureError("malformed")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise SignatureError("malformed") from None
    if not found:
        raise SignatureError("malformed")
    return found
