"""How errors reach the client: typed errors keep their message and gain `extensions.code`
(and `extensions.source`); anything unexpected becomes "internal error" plus the request id, with
the traceback going to the log only — never a back-end URL, hostname, stack or upstream body."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from graphql import GraphQLError

from gateway.observability import codes
from resolvers import ResolverError
from sources import SourceError

__all__ = ["format_error", "formatting_errors", "quiet_strawberry_logger"]

log = logging.getLogger("switchboard.errors")


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations is not None:
        formatted["locations"] = [
            {"line": loc.line, "column": loc.column} for loc in error.locations
        ]
    if error.path is not None:
        formatted["path"] = error.path
    if original is None or isinstance(original, GraphQLError):
        if error.extensions:
            formatted["extensions"] = error.extensions
        elif error.path is None:  # graphql-core's own: the document or its variables are wrong
            parse = error.message.startswith("Syntax Error")
            code = codes.GRAPHQL_PARSE_FAILED if parse else codes.GRAPHQL_VALIDATION_FAILED
            formatted["extensions"] = {"code": code}
    elif isinstance(original, SourceError):
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code, "source": original.source}
    elif isinstance(original, ResolverError):
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code}
    else:
        log.error(
            "internal error request_id=%s path=%r",
            request_id,
            error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        formatted["message"] = "internal error"
        formatted["extensions"] = {"code": codes.INTERNAL, "requestId": request_id}
    return formatted


_FORMATTING: ContextVar[bool] = ContextVar("switchboard_formatting_errors", default=False)


@contextmanager
def formatting_errors() -> Iterator[None]:
    """Around a request whose result goes through `format_error` (the GraphQL view): an
    unexpected error is logged there, once, with the request id."""
    token = _FORMATTING.set(True)
    try:
        yield
    finally:
        _FORMATTING.reset(token)


class _DropExpected(logging.Filter):
    """Drops strawberry's record of an error the client is told about with a code (a GraphQL
    error of the document or its variables, a `SourceError`, a `ResolverError`), and of an
    unexpected one that `format_error` logs with the request id. Anything else, such as an
    unexpected error outside a request, stays in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if not isinstance(error, GraphQLError):
            return True
        original = error.original_error
        if original is None or isinstance(original, GraphQLError | SourceError | ResolverError):
            return False
        return not _FORMATTING.get()


def quiet_strawberry_logger() -> None:
    """Strawberry logs every GraphQL error with a traceback (an invalid query floods the log);
    `format_error` logs what deserves it, once, with the request id."""
    logger = logging.getLogger("strawberry.execution")
    if not any(isinstance(f, _DropExpected) for f in logger.filters):
        logger.addFilter(_DropExpected())
