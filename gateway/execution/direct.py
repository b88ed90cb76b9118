"""The direct road: an operation whose compiled plan is already cached, run without
strawberry's `Schema.execute`, for the thin path (gateway/http/fastpath.py).

For every operation `Schema.execute` builds an execution context, one instance of each of the
four extensions, their runner, and four phases of context managers around them (exit stacks,
generators), then graphql-core's `execute` wrappers around the executor; about a tenth of a
screen-pop's CPU, the same work every time. This road calls the same steps itself, in the
same order, on the same strawberry `ExecutionContext`:

- each extension's rule is a plain function or method the extension itself calls from its
  hook (`Rails` of gateway/limits/extension.py, `Trail` of gateway/observability/trail.py,
  `operation_began`/`operation_ended` of gateway/observability/logs.py, `Telemetry.note`):
  one semantics, never a rule written twice;
- first what has no effect: the trusted document or the size check, the parse (cached), the
  operation's type, shape, validation and cost (cached), the variables' coercion (the same
  executor class `build`s) and the plan lookup (`PlanCache.cached`, which never compiles).
  Anything that would end in an error or a refusal, or a plan not yet compiled, is not taken:
  `execute` answers None and `Schema.execute` serves the request from the start;
- then, as strawberry nests the hooks: the operation log's start; the audit trail's admission
  (its refusals, 503 included, are answers of this road too) and verification; the plan;
  graphql-core's errors through the schema's `_process_errors`; placeholders; telemetry; the
  audit lines, handed to the writer whatever happened (`finally`); the concealment of errors;
  the operation log's end; then the result as `Schema._handle_execution_result` makes it (the
  trail's `extensions`), with the write of the lines: the thin path encodes the answer while
  they are written and sends it only once they are (`Answer.written`). An exception on the
  way becomes the error answer `Schema.execute` gives for one.

The road exists only for a schema whose extensions are exactly these four, in this order, and
with no schema directives (`for_schema`): another extension and the thin path goes through
`Schema.execute` again, so no rule is ever skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from inspect import isawaitable
from typing import Any, NamedTuple

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from graphql.execution.execute import UNEXPECTED_MULTIPLE_PAYLOADS  # type: ignore[attr-defined]
from graphql.execution.middleware import MiddlewareManager
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema.base import BaseSchema
from strawberry.schema.schema import _coerce_error
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from gateway.execution.select import PlanCache
from gateway.limits.extension import Rails
from gateway.observability.logs import OperationLog, operation_began, operation_ended
from gateway.observability.telemetry import Telemetry
from gateway.observability.trail import Admitted, Trail

__all__ = ["Answer", "DirectRoad"]


class Answer(NamedTuple):
    result: ExecutionResult
    written: asyncio.Future[None] | None
    """The write of the operation's audit lines (None: it reserved none): the answer leaves
    once it is done (`Trail.hand`)."""


class DirectRoad:
    def __init__(
        self,
        schema: strawberry.Schema,
        plans: PlanCache,
        rails: Rails,
        trail: Trail,
        telemetry: Telemetry,
    ) -> None:
        self.schema = schema
        self.plans = plans
        self.rails = rails
        self.trail = trail
        self.telemetry = telemetry
        self.taken = 0
        """Operations this road answered (tests prove it is used)."""

    @classmethod
    def for_schema(cls, schema: BaseSchema) -> DirectRoad | None:
        """The road for `schema`, or None: not compiled execution, or not exactly the
        gateway's four extensions in their order (OperationLog, Guardrails, AuditTrail,
        OperationTelemetry), or schema directives (strawberry's own extension)."""
        if not isinstance(schema, strawberry.Schema):
            return None
        executor: Any = schema.execution_context_class
        plans = getattr(executor, "plans", None)
        kinds = list(schema.extensions)
        if not isinstance(plans, PlanCache) or schema.directives or len(kinds) != 4:
            return None
        log, guard, audit, telemetry = kinds
        rails = getattr(guard, "rails", None)
        trail = getattr(audit, "trail", None)
        noted = getattr(telemetry, "noted", None)
        if (
            log is not OperationLog
            or any(getattr(k, "resolve", None) is not SchemaExtension.resolve for k in kinds)
            or not isinstance(rails, Rails)
            or not isinstance(trail, Trail)
            or not isinstance(noted, Telemetry)
        ):
            return None
        return cls(schema, plans, rails, trail, noted)

    async def execute(
        self,
        query: str | None,
        variables: dict[str, Any] | None,
        context: Any,
        operation_name: str | None,
        allowed: Iterable[OperationType],
        operation_extensions: dict[str, Any] | None,
    ) -> Answer | None:
        """`Schema.execute`'s answer for an operation with a cached plan and nothing to
        refuse before execution, with the write of its audit lines the caller must wait for
        before the answer leaves; None (and nothing done) for any other."""
        schema = self.schema
        ec = ExecutionContext(
            query=query,
            schema=schema,
            allowed_operations=allowed,
            context=context,
            root_value=None,
            variables=variables,
            provided_operation_name=operation_name,
            operation_extensions=operation_extensions,
        )
        executor = self._prepared(ec, allowed)
        if executor is None:
            return None
        self.taken += 1
        rails, trail = self.rails, self.trail
        try:
            request = operation_began(ec)
            state = Admitted(executor.variable_values)  # the lookups' variables: coerced once
            lines = b""
            written: asyncio.Future[None] | None = None
            try:
                await trail.before_execution(ec, state)
                if not ec.result:
                    result = executor.execute_operation()
                    if isawaitable(result):
                        result = await result
                    if not isinstance(result, GraphQLExecutionResult):  # graphql-core's check
                        raise GraphQLError(UNEXPECTED_MULTIPLE_PAYLOADS)
                    ec.result = result
                result = ec.result
                if isinstance(result, GraphQLExecutionResult) and result.errors:
                    ec.pre_execution_errors = result.errors
                    schema._process_errors(result.errors, ec)
                trail.after_execution(ec, state)
                self.telemetry.note(ec)
                lines = await trail.lines(ec, state)
            finally:
                # handed over whatever happened; waited for by the caller, just before the
                # answer leaves (the answer is encoded meanwhile)
                written = trail.hand(state, lines)
            rails.conceal(ec)
            operation_ended(ec, request)
        except Exception as exc:  # Schema.execute's answer for one
            failed = [_coerce_error(exc)]
            ec.pre_execution_errors = failed
            schema._process_errors(failed, ec)
            return Answer(self._answer(ec, PreExecutionError(data=None, errors=failed)), written)
        assert result is not None
        if result.errors:
            ec.pre_execution_errors = result.errors
        answer = self._answer(ec, ExecutionResult(data=result.data, errors=result.errors))
        return Answer(answer, written)

    def _prepared(self, ec: ExecutionContext, allowed: Iterable[OperationType]) -> Any:
        """The executor of an operation this road takes, after every check that has no
        effect; None: `Schema.execute` answers (an error, a refusal, a plan to compile)."""
        try:
            return self._checked(ec, allowed)
        except Exception:
            return None

    def _checked(self, ec: ExecutionContext, allowed: Iterable[OperationType]) -> Any:
        rails = self.rails
        try:
            registered = rails.enter(ec)
        except GraphQLError:  # a refusal: Schema.execute's answer
            return None
        if ec.graphql_document is None and not ec.query:
            return None  # strawberry's MissingQueryError
        rails.parse(ec)  # a syntax error raises
        document = ec.graphql_document
        if document is None or ec.operation_type not in allowed:  # no such operation raises
            return None
        rails.check(ec, registered)
        if ec.pre_execution_errors:
            return None
        principal = getattr(ec.context, "principal", None)
        if principal is None:
            return None
        schema = self.schema
        build: Any = schema.execution_context_class.build
        executor = build(
            schema._schema,
            document,
            root_value=ec.root_value,
            context_value=ec.context,
            raw_variable_values=ec.variables,
            operation_name=ec.operation_name,
            middleware=MiddlewareManager(),  # strawberry's: none of the four resolves
            is_awaitable=optimized_is_awaitable,
            operation_extensions=ec.operation_extensions,
        )
        if isinstance(executor, list):  # variables that do not coerce
            return None
        loc = executor.operation.loc
        if loc is None:
            return None
        operation, values = executor.operation, executor.variable_values
        plan = self.plans.cached(loc.source.body, operation, values, principal.roles)
        return None if plan is None else executor

    def _answer(self, ec: ExecutionContext, result: ExecutionResult) -> ExecutionResult:
        """`Schema._handle_execution_result`'s last steps: the extensions' results (the
        trail's is the only one), the result on the context."""
        extensions = self.trail.results(ec)
        extensions.update(ec.extensions_results)
        result.extensions = extensions
        ec.result = result
        return result
