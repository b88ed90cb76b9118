"""Errors a resolver raises for the caller's own input; each carries its client-facing code."""

from __future__ import annotations

__all__ = ["BadUserInput", "NotFound", "ResolverError"]


class ResolverError(Exception):
    code = "RESOLVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadUserInput(ResolverError):
    """The argument can never match: malformed id, phone, limit out of range."""

    code = "BAD_USER_INPUT"


class NotFound(ResolverError):
    """A well-formed id that the system of record does not know."""

    code = "NOT_FOUND"
