"""The kinds of binding: how compiled execution reads a field without a resolver call. Each
type's bindings sit beside the type (schema/types.py, banking.py, service.py; the roots in
query.py); schema/bindings.py gathers them for the compiler (gateway/execution/compile.py).

A leaf is an attribute of the record (or a `Read` of it), an object field a `Child` read from
the record, and a field that needs another system a `Fetch` that calls the field's batch-first
function (resolvers/fields.py) once with every parent at that level, where the strawberry
resolver calls it with one. Nothing here restates what a field means.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolvers import BadUserInput, Loaders, fields

from .context import Context
from .limits import first_in_range

__all__ = [
    "Args",
    "Binding",
    "Child",
    "Fetch",
    "Read",
    "RootFetch",
    "Settled",
    "capped",
    "plain",
]

Args = Mapping[str, Any]
"""Read-only: a compiled plan hands the same arguments to every request
(gateway/execution/compile.py)."""
Settled = list[Any]
"""One value per parent, or the Exception that failed that parent's field."""


@dataclass(frozen=True, slots=True)
class Read:
    """A leaf computed from the record (a plain attribute needs no binding). `fallible`: `get`
    may return an Exception (the error of the system the value derives from), reported as the
    field's error with a null, as the strawberry resolver that raises it."""

    get: Callable[[Any], Any]
    fallible: bool = False


@dataclass(frozen=True, slots=True)
class Child:
    """An object (or list of objects) read from the parent record, no back-end call. `get` may
    raise a ResolverError (a bad argument): the field's error."""

    get: Callable[[Any, Args], Any]


@dataclass(frozen=True, slots=True)
class Fetch:
    """A field needing the loaders: `start(loaders, parents, args)` asks for every parent's
    keys NOW (they join the current batch, as sibling resolvers' would) and returns what to
    await for one value or Exception per parent."""

    start: Callable[[Loaders, Sequence[Any], Args], Awaitable[Settled]]
    calls: int = 1
    """Back-end calls the field makes one after another (`suggestedArticles`: its customers'
    contacts, then their intents' articles): the compiled executor starts the fields with the
    longest chain of calls below them first, so their batches go first (compile.py
    `_longest_first`)."""


@dataclass(frozen=True, slots=True)
class RootFetch:
    """A root field: its value (the root resolver's semantics, including waiting for the
    caller's verification before customer data is returned); raises the field's error. For a
    list whose entries may fail individually, entries are values or Exceptions."""

    run: Callable[[Context, Args], Awaitable[Any]]


Binding = Read | Child | Fetch


def capped(
    field: Callable[[Loaders, Sequence[Any], int], Awaitable[Settled]],
    maximum: int,
    calls: int = 1,
) -> Fetch:
    """A field whose `first:` is checked against `maximum` (a bad one fails every parent);
    `calls`: see `Fetch.calls`."""

    def start(loaders: Loaders, parents: Sequence[Any], args: Args) -> Awaitable[Settled]:
        try:
            first = first_in_range(args["first"], maximum)
        except BadUserInput as exc:
            return fields.failing(exc, len(parents))
        return field(loaders, parents, first)

    return Fetch(start, calls)


def plain(field: Callable[[Loaders, Sequence[Any]], Awaitable[Settled]]) -> Fetch:
    return Fetch(lambda loaders, parents, args: field(loaders, parents))
