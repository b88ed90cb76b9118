"""The unified GraphQL schema (strawberry, code-first). It declares the graph; it never reads
config or tokens: the gateway builds it with the extensions it decides on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig

from .context import Context, Info
from .journey_updates import Change, JourneyCause, JourneyUpdate
from .limits import MAX_IDS
from .mutation import Mutation, WriteApi, WriteOutcome, WriteResult, WriteStatus
from .query import Query
from .sensitive import PARTIAL_TREATMENTS, Owner, Sensitive, SensitiveClass
from .subscription import Pop, ScreenPop, ScreenPopEvent, Subscription

__all__ = [
    "MAX_IDS",
    "PARTIAL_TREATMENTS",
    "Change",
    "Context",
    "Info",
    "JourneyCause",
    "JourneyUpdate",
    "Mutation",
    "Owner",
    "Pop",
    "Query",
    "ScreenPop",
    "ScreenPopEvent",
    "Sensitive",
    "SensitiveClass",
    "Subscription",
    "WriteApi",
    "WriteOutcome",
    "WriteResult",
    "WriteStatus",
    "build_schema",
]


def build_schema(
    extensions: Sequence[type[SchemaExtension] | Any] = (),
    execution_context_class: type[Any] | None = None,
    *,
    suggestions: bool = False,
) -> strawberry.Schema:
    """`execution_context_class`: a graphql-core executor replacing the standard one (the
    gateway's compiled plans). `suggestions`: keep "Did you mean ...?" in field errors (the
    gateway's development profile)."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=list(extensions),
        config=StrawberryConfig(disable_field_suggestions=not suggestions),
        execution_context_class=execution_context_class,
    )
