"""What the gateway knows of the HTTP operation it is serving, for its metrics and its span:
filled in as the operation runs (the extension: type and trusted name; the executor: execution
mode; the view: result), read once when the answer is sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["OperationRecord", "current_operation", "recording"]


@dataclass(slots=True)
class OperationRecord:
    type: str = "unknown"
    """query, mutation, subscription; unknown until parsed."""
    name: str = "other"
    """The trusted document's operation name, or `other` (a caller's free text never is)."""
    execution: str = ""
    """compiled or standard; empty when the operation never ran."""
    result: str = "error"
    """ok, partial or error (the default, until the view sees the answer)."""
    answered: bool = False
    """The view answered it as an operation (not the GraphiQL page, not a late body)."""


_CURRENT: ContextVar[OperationRecord | None] = ContextVar("switchboard_operation", default=None)


def current_operation() -> OperationRecord | None:
    return _CURRENT.get()


@contextmanager
def recording() -> Iterator[OperationRecord]:
    """A record for the operation served inside; reset on every exit path."""
    record = OperationRecord()
    token = _CURRENT.set(record)
    try:
        yield record
    finally:
        _CURRENT.reset(token)
