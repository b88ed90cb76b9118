"""What each treatment does to a value. Pure functions of (treatment, class, value): no I/O."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

from schema import SensitiveClass as S

__all__ = ["REDACTED", "Masker"]

REDACTED: dict[S, str] = {
    S.PII_NATIONAL_ID: "***-**-****",
    S.PII_DOB: "****-**-**",
    S.PII_ADDRESS: "*****",
    S.PII_PHONE: "+***********",
    S.PII_EMAIL: "*****@*****",
    S.PCI_PAN: "****************",
    S.PCI_EXPIRY: "****-**",
    S.ACCOUNT_NUMBER: "**********",
    S.BALANCE: "***.**",
    S.TRANSACTIONS: "***",
    S.RISK_SUMMARY: "***",
    S.FRAUD_DETAIL: "[redacted]",
    S.COLLECTIONS_DETAIL: "***",
    S.CONVERSATION: "[redacted]",
}
"""Fixed masks: the same for every value of a class, so a mask leaks no length or digits."""


class Masker:
    """Applies a (non-deny) treatment; `hash_key` is the deployment's secret for `hash`."""

    __slots__ = ("_hash_key",)

    def __init__(self, hash_key: bytes) -> None:
        self._hash_key = hash_key

    def apply(self, treatment: str, klass: S, value: Any) -> Any:
        if value is None or treatment == "full":
            return value
        if isinstance(value, list):
            return [self.apply(treatment, klass, item) for item in value]
        text = (
            value if isinstance(value, str) else str(value) if isinstance(value, Decimal) else None
        )
        if text is None:
            # booleans, numbers and enums have no masked form: withheld without an error
            return None
        if treatment == "redact":
            return REDACTED[klass]
        if treatment == "hash":
            digest = hmac.new(self._hash_key, f"{klass.value}:{text}".encode(), hashlib.sha256)
            return "hash:" + digest.hexdigest()[:24]
        if treatment == "bin_last4":
            return _keep(text, lead=6 if len(text) > 10 else 0, tail=4)
        if treatment == "last4":
            return _keep(text, lead=0, tail=4)
        raise ValueError(f"no such treatment: {treatment}")


def _keep(text: str, lead: int, tail: int) -> str:
    """Mask every letter and digit but the first `lead` and last `tail`; keep separators, so
    "912-34-5678" becomes "***-**-5678" and a PAN "411111******1111"."""
    positions = [i for i, ch in enumerate(text) if ch.isalnum()]
    hidden = positions[lead : max(len(positions) - tail, lead)]
    if not hidden:
        return text
    chars = list(text)
    for i in hidden:
        chars[i] = "*"
    return "".join(chars)
