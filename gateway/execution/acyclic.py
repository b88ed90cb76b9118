"""The resolvers' async helpers, without graphql-core's reference cycle.

graphql-core 3.3's `Executor.__init__` stores `GraphQLResolveInfoHelpers(gather=self.
gather_async_work, track=self.track_async_work)` on the executor: bound methods of the executor
kept by the executor, a reference cycle per operation. Reference counting can then never free
the executor, nor what it holds: the request's context, its loaders and every record and future
they cached (~2,000 objects per 100-customer answer). All of it waited for the cycle collector,
whose young generation grew to a hundred thousand objects and took 100+ ms to scan, and the
process's RSS grew with the garbage (bench/memory.py).

`detached` builds the same helpers over a small stand-in holding only what graphql-core's own
methods read (`is_awaitable`, the shared `background_futures`), so the executor refers to its
helpers and not the other way round. The methods are graphql-core's own, unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from graphql import GraphQLError, GraphQLResolveInfoHelpers
from graphql.execution.executor import Executor
from graphql.pyutils import gather_with_cancel

from resolvers.errors import ResolverError
from sources import SourceError

__all__ = ["detached", "forget_tracebacks"]


class _Helpers:
    """What graphql-core's `Executor.track_async_work` and `settle_in_background` read, and
    nothing else; those methods run unchanged with this in place of the executor."""

    __slots__ = ("background_futures", "is_awaitable")

    def __init__(self, is_awaitable: Callable[[Any], bool], background: set[Any]) -> None:
        self.is_awaitable = is_awaitable
        self.background_futures = background

    def settle_in_background(self, awaitables: list[Awaitable[Any]]) -> None:
        Executor.settle_in_background(cast(Any, self), awaitables)

    def track(self, values: Sequence[Any]) -> None:
        Executor.track_async_work(cast(Any, self), values)

    @staticmethod
    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return gather_with_cancel(*values)  # what Executor.gather_async_work does


def detached(executor: Executor[Any]) -> GraphQLResolveInfoHelpers:
    """`executor.async_helpers` as graphql-core builds it, minus the cycle: call after
    `Executor.__init__` (sub-executors copied from it share its background futures, as ever)."""
    helpers = _Helpers(executor.is_awaitable, executor.background_futures)
    return GraphQLResolveInfoHelpers(gather=helpers.gather, track=helpers.track)


def forget_tracebacks(errors: list[GraphQLError]) -> None:
    """Drop the tracebacks of an answer's expected errors (a source's failure, a resolver's
    typed refusal, graphql-core's own), whose traceback is never shown
    (gateway/observability/errors.py formats them by code). graphql-core gives a field's
    error the traceback of the exception it caught, which holds the executor's frames, whose
    `self` (the executor) holds the error: a cycle per failed field on standard execution.
    An unexpected error keeps its traceback for the internal-error log line."""
    for error in errors:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError | SourceError | ResolverError):
            error.__traceback__ = None
            if original is not None:
                original.__traceback__ = None
