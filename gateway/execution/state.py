"""The state of one compiled run (gateway/execution/run.py): response paths (graphql-core's
Path, as standard execution's), the errors located at them and the positions they nulled (an
error under a nulled position is dropped, as graphql-core does), and the objects nulled by a
failing non-null field."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from graphql import FieldNode, GraphQLError, located_error
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path

from gateway.execution.compile import FieldPlan
from gateway.masking.access import Access
from resolvers import Loaders

__all__ = ["Dead", "RunState", "item_paths"]


def item_paths(base: Path, count: int) -> Iterator[Path]:
    """graphql-core's Path of each item of a list at `base`, built in C: Path's own __new__ is
    Python and costs twice as much, and a 1,000-customer answer makes tens of thousands."""
    same = itertools.repeat
    items = zip(same(base), range(count), same(None), strict=False)
    return map(tuple.__new__, same(Path), items)


class Dead:
    """An object nulled by a failing non-null field: its error, not yet placed."""

    __slots__ = ("error",)

    def __init__(self, error: GraphQLError) -> None:
        self.error = error


class RunState:
    """One run of a plan: its request's loaders and access, the errors so far with the
    positions they nulled, and the projection counters."""

    __slots__ = (
        "access",
        "busy",
        "context",
        "errors",
        "fields",
        "nulled",
        "variables",
    )

    def __init__(self, context: Any, variables: VariableValues) -> None:
        self.context = context
        self.access: Access = context.access
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self.nulled: set[tuple[Any, ...]] = set()
        self.fields = 0
        self.busy = 0.0
        """CPU seconds spent projecting: the synchronous work after each back-end answer
        (placing the records, and asking the loaders for the next level, which is too short
        to be worth two more reads of the clock), on the thread's CPU clock, so time the OS
        gave other processes is not counted. One pair of reads per answered field: each read
        is a system call."""

    @property
    def loaders(self) -> Loaders:
        """The request's (the event's, for a subscription), asked for when a plan fetches: a
        payload that needs no back-end read (`writeCompleted`'s) runs without any."""
        loaders: Loaders = self.context.loaders
        return loaders

    def located(self, error: Exception, nodes: Sequence[FieldNode], path: Path) -> GraphQLError:
        return located_error(error, list(nodes), path.as_list())

    def error(self, error: Exception, nodes: Sequence[FieldNode], path: Path) -> None:
        """A nullable field at `path` failed: null plus its error."""
        self.add(self.located(error, nodes, path), path)

    def add(self, error: GraphQLError, path: Path | None) -> None:
        """Keep `error`, which nulled `path` (None: `data`), unless an ancestor of `path` is
        already null."""
        position = () if path is None else tuple(path.as_list())
        nulled = self.nulled
        if nulled:
            for end in range(len(position), -1, -1):
                if position[:end] in nulled:
                    return
        nulled.add(position)
        self.errors.append(error)

    def args(self, plan: FieldPlan) -> Mapping[str, Any]:
        if plan.args is not None:
            return plan.args
        return get_argument_values(plan.field_def, plan.details.node, self.variables)
