"""The errors a source raises, each carrying the client-facing code it maps to.

    SourceError                 (code SOURCE_ERROR)
    ├── SourceUnavailable       connection refused or dropped, 5xx       SOURCE_UNAVAILABLE
    ├── SourceTimeout           no answer within the deadline            SOURCE_TIMEOUT
    ├── SourceBadResponse       malformed body, wrong types, bad status  SOURCE_BAD_RESPONSE
    └── SourceRateLimited       429 from the system                      RATE_LIMITED

Messages name the system ("core"), never a URL, host or upstream body: they reach the client.
"""

from __future__ import annotations

__all__ = [
    "SourceBadResponse",
    "SourceError",
    "SourceRateLimited",
    "SourceTimeout",
    "SourceUnavailable",
]


class SourceError(Exception):
    """A back-end system failed to give a usable answer."""

    code = "SOURCE_ERROR"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message


class SourceUnavailable(SourceError):
    code = "SOURCE_UNAVAILABLE"


class SourceTimeout(SourceError):
    code = "SOURCE_TIMEOUT"


class SourceBadResponse(SourceError):
    code = "SOURCE_BAD_RESPONSE"


class SourceRateLimited(SourceError):
    code = "RATE_LIMITED"

    def __init__(self, source: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after
