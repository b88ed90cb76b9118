"""What a failed field does to the answer in a compiled run: a nullable field becomes null with
its error; a non-null one nulls its object (`Dead`), and so on up to the nearest nullable
ancestor, as graphql-core's completion does (GraphQL spec, "Handling Field Errors")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError
from graphql.pyutils import Path

from gateway.execution.compile import FieldPlan
from gateway.execution.state import Dead, RunState

__all__ = ["field_failed", "field_failed_with", "list_with_failures"]


def list_with_failures(
    branch: FieldPlan,
    i: int,
    places: list[int | GraphQLError],
    child_outs: list[Any],
    outs: list[Any],
    paths: Sequence[Path | None],
    state: RunState,
) -> None:
    """A list some of whose entries failed: null entries with their errors, or, where the
    entries may not be null, the whole list's field failed."""
    key = branch.key
    items: list[Any] = []
    for index, place in enumerate(places):
        item = place if isinstance(place, GraphQLError) else child_outs[place]
        if type(item) is Dead:
            item = item.error
        if isinstance(item, GraphQLError):
            if not branch.item_nullable:
                field_failed_with(branch, i, item, outs, paths, state)
                return
            state.add(item, Path(Path(paths[i], key, None), index, None))
            item = None
        items.append(item)
    out = outs[i]
    if type(out) is dict:
        out[key] = items


def field_failed(
    branch: FieldPlan,
    i: int,
    exc: Exception,
    outs: list[Any],
    paths: Sequence[Path | None],
    state: RunState,
) -> None:
    error = state.located(exc, branch.nodes, Path(paths[i], branch.key, None))
    field_failed_with(branch, i, error, outs, paths, state)


def field_failed_with(
    branch: FieldPlan,
    i: int,
    error: GraphQLError,
    outs: list[Any],
    paths: Sequence[Path | None],
    state: RunState,
) -> None:
    """The field's value is an error: null if it may be, else its object is nulled."""
    if branch.nullable:
        state.add(error, Path(paths[i], branch.key, None))
        out = outs[i]
        if type(out) is dict:
            out[branch.key] = None
    else:
        outs[i] = Dead(error)
