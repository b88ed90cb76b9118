"""Executing subscriptions: the one entry point every transport calls (graphql-transport-ws
through `SubscriptionView`, graphql-sse), in place of the schema's own `subscribe`/`stream`.

It runs the schema's pipeline — the gateway's extensions (trusted documents, size, depth, alias
and cost limits, validation, the audit trail), graphql-core's source stream (the subscription's
resolver: its errors before the first frame, the stream's end and its cancellation) and, per
event, the schema's executor: with `[server] execution = "compiled"` each event's payload is
projected with the document's compiled plan (gateway/execution/select.py), cached per document,
operation and role set as a query's; with "standard", field by field. Both answer the same
(tests/differential/test_subscriptions.py).

What it adds: only subscriptions. A query or mutation sent to a subscription transport is
refused before anything runs, the same on both executions (an `error` frame with BAD_REQUEST):
queries go by HTTP POST, with their rate limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError, OperationType
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.execution import ExecutionResult, PreExecutionError

from gateway.observability import codes

__all__ = ["ONLY_SUBSCRIPTIONS", "Results", "Subscriptions"]

Results = AsyncGenerator[PreExecutionError | ExecutionResult, None]

ONLY_SUBSCRIPTIONS = "only subscriptions are served here: send queries by HTTP POST"


class Subscriptions:
    """`subscribe` and `stream` with strawberry's `Schema` signatures (a transport handed this
    object calls it as it would the schema), for subscription operations only."""

    def __init__(self, schema: strawberry.Schema) -> None:
        self.schema = schema

    async def subscribe(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> Results:
        """The operation's frames: a `PreExecutionError` first and only when it is refused
        before it runs (a transport's "error" message), else one `ExecutionResult` per event."""
        results = await self.schema.subscribe(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            operation_extensions=operation_extensions,
        )
        return _subscriptions_only(results)

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Results:
        """What strawberry's graphql-transport-ws handler calls: `subscribe`, whatever
        operation types it would allow."""
        return await self.subscribe(
            query, variable_values, context_value, root_value, operation_name, operation_extensions
        )


async def _subscriptions_only(results: Results) -> Results:
    """`results`, with strawberry's refusal of another operation type ("queries are not
    allowed", no code) replaced by the gateway's. Closed with its consumer's stream."""
    first = True
    async with aclosing(results):
        async for result in results:
            if first and isinstance(result, PreExecutionError) and _other_operation(result):
                result = PreExecutionError(
                    data=None,
                    errors=[
                        GraphQLError(ONLY_SUBSCRIPTIONS, extensions={"code": codes.BAD_REQUEST})
                    ],
                    extensions=result.extensions,
                )
            first = False
            yield result


def _other_operation(result: PreExecutionError) -> bool:
    errors = result.errors or ()
    return any(isinstance(e.original_error, InvalidOperationTypeError) for e in errors)
