"""The hook through which the gateway watches back-end calls, without `sources` knowing of it
(imports go gateway -> sources, never back).

A `Transport` with an `observer` tells it when each logical call (retries included) starts and
how it ended, with fixed fields only: the system, the resource (the call's fixed path, never
built from user input), how many keys the batch asked for (never the keys), the status (one of
`CALL_STATUSES`), the retries made and the breaker's state at the end. What the observer answers
at the start is the call's `Call`: the headers to send with every attempt (the W3C
`traceparent` when tracing is on; nothing otherwise) and `ended`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

__all__ = ["CALL_STATUSES", "Call", "CallObserver"]

CALL_STATUSES: Final = (
    "ok",
    "stale",
    "rate_limited",
    "overloaded",
    "bad_response",
    "timeout",
    "unavailable",
    "circuit_open",
    "error",
    "cancelled",
)
"""How a call can end: `ok`, `stale` (failed, answered from stale-if-error), a `SourceError`'s
status, or `cancelled` (the caller went away, or something other than a SourceError)."""


class Call(Protocol):
    @property
    def headers(self) -> Mapping[str, str]:
        """Sent with each attempt of the call (trace context); empty when not tracing."""
        ...

    def ended(self, status: str, retries: int, breaker: str) -> None:
        """Once, on every exit path."""


class CallObserver(Protocol):
    def started(self, system: str, resource: str, keys: int) -> Call: ...
