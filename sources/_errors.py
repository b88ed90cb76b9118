"""The errors a source raises, each carrying the client-facing code it maps to and the status it
gives its system in the response's `extensions.sources`.

    SourceError                 (code SOURCE_ERROR)
    ├── SourceUnavailable       connection refused or dropped, 5xx       SOURCE_UNAVAILABLE
    ├── SourceTimeout           no answer within the deadline            SOURCE_TIMEOUT
    ├── SourceBadResponse       malformed body, wrong types, bad status  SOURCE_BAD_RESPONSE
    ├── SourceRateLimited       429 from the system                      RATE_LIMITED
    ├── SourceCircuitOpen       failing fast: the system keeps failing   CIRCUIT_OPEN
    ├── SourceOverloaded        never sent: the bulkhead's queue is full SOURCE_OVERLOADED
    │                           or no slot freed within the call's time
    ├── SourcePartial           some chunks of a batch failed            (the failure's code)
    └── WriteRejected           a write's final "no" (4xx, 300)          WRITE_REJECTED

Messages name the system ("core"), never a URL, host or upstream body: they reach the client.

Only the errors with `counts_against_system` feed the system's circuit breaker. A call refused
before it was sent (SourceCircuitOpen, SourceOverloaded) or throttled (SourceRateLimited) says
nothing about the system's health: local congestion must not open a healthy system's circuit.
"""

from __future__ import annotations

__all__ = [
    "SourceBadResponse",
    "SourceCircuitOpen",
    "SourceError",
    "SourceOverloaded",
    "SourcePartial",
    "SourceRateLimited",
    "SourceTimeout",
    "SourceUnavailable",
    "WriteRejected",
]


class SourceError(Exception):
    """A back-end system failed to give a usable answer."""

    code = "SOURCE_ERROR"
    status = "error"
    retryable = False
    """Worth another attempt, for an idempotent read, if time and the retry budget allow."""
    counts_against_system = True
    """A sign the system itself is failing (feeds its circuit breaker)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message


class SourceUnavailable(SourceError):
    code = "SOURCE_UNAVAILABLE"
    status = "unavailable"

    def __init__(self, source: str, message: str, http_status: int | None = None) -> None:
        super().__init__(source, message)
        self.http_status = http_status
        # connection failures and gateway-ish statuses are transient; a 500 is a bug upstream
        self.retryable = http_status in (None, 502, 503, 504)


class SourceTimeout(SourceError):
    code = "SOURCE_TIMEOUT"
    status = "timeout"
    retryable = True


class SourceBadResponse(SourceError):
    code = "SOURCE_BAD_RESPONSE"
    status = "bad_response"


class SourceRateLimited(SourceError):
    code = "RATE_LIMITED"
    status = "rate_limited"
    retryable = True
    counts_against_system = False

    def __init__(self, source: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after


class SourceCircuitOpen(SourceError):
    code = "CIRCUIT_OPEN"
    status = "circuit_open"
    counts_against_system = False


class SourceOverloaded(SourceError):
    """Refused by the bulkhead, never sent: too many calls waiting, or none of the system's
    slots freed within this call's time. The congestion is ours (its in-flight calls answer,
    fail or time out on their own account), so it is neutral for the breaker."""

    code = "SOURCE_OVERLOADED"
    status = "overloaded"
    counts_against_system = False


class SourcePartial(SourceError):
    """A batch split into chunks where some chunks failed: `records` are what the others
    answered, `failed` the keys whose chunk failed with `error`. Callers that can use a partial
    answer catch it; to anyone else it is simply `error`."""

    def __init__(self, error: SourceError, records: list[object], failed: set[str]) -> None:
        super().__init__(error.source, error.message)
        self.error = error
        self.records = records
        self.failed = failed
        self.code = error.code
        self.status = error.status


class WriteRejected(SourceError):
    """The system answered a write with a final refusal: a 4xx (validation, unknown parent) or
    a 300 (the external id matches several records). Retrying the same write cannot succeed,
    so it is never retried; `reason` is the system's own error code (`REQUIRED_FIELD_MISSING`,
    `NOT_FOUND`, `DUPLICATE_EXTERNAL_ID`, ...) and `message` its message, safe to show: it
    names fields, never their values."""

    code = "WRITE_REJECTED"
    status = "rejected"
    counts_against_system = False

    def __init__(self, source: str, reason: str, message: str) -> None:
        super().__init__(source, message)
        self.reason = reason
