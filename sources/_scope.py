"""The request's scope as the sources see it: its deadline, and what each system answered.

The gateway opens one per request (`request_scope`); every back-end call made while serving it
(including from loader batches, which run in tasks that inherit the context) reads the deadline
from it and records its outcome into it, which becomes the response's `extensions.sources`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import Context, ContextVar, copy_context
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RequestScope",
    "current_scope",
    "more_patient",
    "narrowed_scope",
    "request_scope",
    "scope_context",
]

# Worst first: a system's status in a response is the worst of its calls.
_SEVERITY = {
    "circuit_open": 7,
    "unavailable": 6,
    "timeout": 5,
    "bad_response": 4,
    "overloaded": 3,
    "rate_limited": 2,
    "stale": 1,
    "ok": 0,
}


@dataclass(slots=True)
class _Report:
    status: str
    ms: float
    calls: int


@dataclass(slots=True)
class RequestScope:
    deadline: float
    """time.monotonic() by which every back-end call must be over."""
    margin: float = 0.05
    """Kept back from each call's budget, for assembling and sending the response."""
    reports: dict[str, _Report] = field(default_factory=dict)

    def remaining(self, now: float | None = None) -> float:
        """Seconds left for back-end calls (`now`: time.monotonic(), if just read)."""
        return self.deadline - (time.monotonic() if now is None else now) - self.margin

    def record(self, source: str, status: str, seconds: float) -> None:
        report = self.reports.get(source)
        ms = round(seconds * 1000, 1)
        if report is None:
            self.reports[source] = _Report(status, ms, 1)
            return
        report.calls += 1
        report.ms = max(report.ms, ms)
        if _SEVERITY.get(status, 5) > _SEVERITY.get(report.status, 5):
            report.status = status

    def summary(self) -> dict[str, dict[str, Any]]:
        """{"core": {"status": "timeout", "ms": 800.0, "calls": 2}, ...}: ms is the longest call."""
        return {
            name: {"status": r.status, "ms": r.ms, "calls": r.calls}
            for name, r in sorted(self.reports.items())
        }


_SCOPE: ContextVar[RequestScope | None] = ContextVar("switchboard_request_scope", default=None)


def current_scope() -> RequestScope | None:
    return _SCOPE.get()


@contextmanager
def request_scope(timeout: float, margin: float = 0.05) -> Iterator[RequestScope]:
    """The scope of one request, entered and left around it: reset on every exit path, so it
    never leaks into whatever the same task or context serves next."""
    scope = RequestScope(deadline=time.monotonic() + timeout, margin=margin)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


@contextmanager
def narrowed_scope(seconds: float) -> Iterator[RequestScope | None]:
    """A part of the request with a shorter deadline of its own (the routing context's): the
    calls it starts, loader batches included (their tasks inherit the context), end by
    `seconds` from now or the request's deadline, whichever is first; their outcomes still
    go to the request's `extensions.sources` (the reports are the request's). None outside a
    request. Reset on every exit path."""
    parent = _SCOPE.get()
    if parent is None:
        yield None
        return
    scope = RequestScope(
        deadline=min(parent.deadline, time.monotonic() + seconds),
        margin=parent.margin,
        reports=parent.reports,
    )
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def more_patient(a: RequestScope | None, b: RequestScope | None) -> RequestScope | None:
    """The scope with the later deadline (None, no scope, has no deadline at all): a call made
    for several callers at once (a loader batch) must not end by the most hurried one's."""
    if a is None or b is None:
        return None
    return b if b.deadline > a.deadline else a


def scope_context(scope: RequestScope | None) -> Context:
    """A copy of the current context with `scope` as its request scope: for a task that serves
    callers other than the one whose context it would inherit."""
    context = copy_context()
    context.run(_SCOPE.set, scope)
    return context
