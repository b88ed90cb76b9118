"""Which execution an operation gets, and the plan cache.

`execution = "compiled"` (the default): graphql-core's executor is replaced by `PlanExecutor`,
which looks the operation's plan up in a bounded LRU cache keyed by (document text, operation
name, role set, values of the @include/@skip variables), compiles it on a miss, and runs it
(gateway/execution/run.py). An operation the compiler cannot plan runs on standard execution, and a
log line and the `switchboard_operations_total{execution="standard",reason=...}` counter say
which and why; the verdict is cached with the plan, so the log line comes once per document.
`execution = "standard"` keeps graphql-core's executor for every operation.

Subscriptions take the same road: graphql-core's `subscribe` (strawberry's `Schema.subscribe` and
`Schema.stream`, which every transport calls) resolves the source stream as ever, then builds a
per-event copy of this executor for each event, its root value the event's payload, and calls
its `execute_operation`: the payload is projected with the subscription document's plan, from
the same cache. Errors before the first frame, the stream's end and its cancellation stay
graphql-core's and strawberry's, the same on both executions.

Everything around execution is shared by both: parsing, the limits, validation, the audit
trail, error formatting, `extensions.sources`.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterable
from typing import Any, ClassVar

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.collect_fields import FragmentDetails, collect_fields
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.execution.acyclic import detached, forget_tracebacks
from gateway.execution.compile import Plan, Unsupported, compile_plan, directive_variables
from gateway.execution.run import execute_plan, precheck
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.metrics import Metrics

__all__ = ["PlanCache", "executor_class"]

log = logging.getLogger("switchboard.execution")

Key = tuple[str, str | None, frozenset[str], tuple[bool, ...]]


class PlanCache:
    """Plans (or the reason there is none) per operation and role set, bounded."""

    def __init__(self, policy: Policy, masker: Masker, metrics: Metrics, size: int = 1024) -> None:
        self.policy = policy
        self.masker = masker
        self.metrics = metrics
        self._plans: LRUCache[Key, Plan | Unsupported] = LRUCache(maxsize=size)
        self._directives: LRUCache[tuple[str, str | None], tuple[str, ...]] = LRUCache(maxsize=size)

    def __len__(self) -> int:
        return len(self._plans)

    def plan_for(
        self,
        schema: GraphQLSchema,
        text: str,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        roles: frozenset[str],
    ) -> Plan | Unsupported:
        name = operation.name.value if operation.name else None
        names = self._directives.get((text, name))
        if names is None:
            definitions = [operation, *(f.definition for f in fragments.values())]
            names = directive_variables(definitions)
            self._directives[(text, name)] = names
        coerced = variables.coerced
        signature = tuple(bool(coerced.get(n)) for n in names)
        key: Key = (text, name, roles, signature)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._compile(schema, operation, fragments, variables, roles, name)
            self._plans[key] = plan
        return plan

    def cached(
        self,
        text: str,
        operation: OperationDefinitionNode,
        variables: VariableValues,
        roles: frozenset[str],
    ) -> Plan | None:
        """The plan `plan_for` would answer, when it is already compiled (never compiles,
        never logs: None for a miss or for an operation that runs on standard execution)."""
        name = operation.name.value if operation.name else None
        names = self._directives.get((text, name))
        if names is None:
            return None
        coerced = variables.coerced
        plan = self._plans.get((text, name, roles, tuple(bool(coerced.get(n)) for n in names)))
        return plan if isinstance(plan, Plan) else None

    def _compile(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        roles: frozenset[str],
        name: str | None,
    ) -> Plan | Unsupported:
        started = time.perf_counter()
        try:
            plan: Plan | Unsupported = compile_plan(
                schema, fragments, operation, variables, roles, self.policy, self.masker
            )
        except Unsupported as unsupported:
            log.info(
                "standard execution for operation %s: %s",
                name or "(anonymous)",
                unsupported,
            )
            plan = unsupported
        self.metrics.plan_compiled(time.perf_counter() - started)
        return plan

    def warm(
        self,
        schema: GraphQLSchema,
        documents: Iterable[tuple[str, DocumentNode]],
        role_sets: Iterable[frozenset[str]],
    ) -> list[tuple[str | None, str]]:
        """Compile trusted documents at start-up, for every @include/@skip combination (up to
        16) and role set; returns the (operation, reason) of any that would fall back."""
        fallbacks: list[tuple[str | None, str]] = []
        roles_list = list(role_sets)
        for text, document in documents:
            fragments = {
                d.name.value: FragmentDetails(d, None)
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            for operation in document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                names = directive_variables(
                    [operation, *(f.definition for f in fragments.values())]
                )
                if operation.operation is OperationType.MUTATION or len(names) > 4:
                    continue
                for combination in _combinations(len(names)):
                    # a plan depends on the variables only through @include/@skip: the
                    # others (ids, phones) are read when it runs
                    variables = VariableValues({}, dict(zip(names, combination, strict=True)))
                    for roles in roles_list:
                        plan = self.plan_for(schema, text, operation, fragments, variables, roles)
                        if isinstance(plan, Unsupported):
                            name = operation.name.value if operation.name else None
                            fallbacks.append((name, plan.reason))
        return fallbacks


def _combinations(n: int) -> list[tuple[bool, ...]]:
    if n == 0:
        return [()]
    return [tuple(bool(bits >> i & 1) for i in range(n)) for bits in range(2**n)]


def executor_class(
    plans: PlanCache, *, compiled: bool
) -> type[StrawberryGraphQLCoreExecutionContext]:
    """graphql-core's executor with compiled plans in front of it (or, with `compiled` off,
    just counted)."""
    metrics = plans.metrics

    class StandardExecutor(StrawberryGraphQLCoreExecutionContext):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.async_helpers = detached(self)  # no executor <-> helpers cycle

        def build_response(self, data: dict[str, Any] | None) -> Any:
            forget_tracebacks(self.collected_errors.errors)  # no executor <-> error cycle
            return super().build_response(data)

        def execute_operation(self, serially: bool | None = None) -> Any:
            return self._standard("configured", serially)

        def _standard(self, reason: str, serially: bool | None) -> Any:
            """graphql-core's execution, counted with why, after the root fields' checks."""
            metrics.operation("standard", reason)
            failed = _precheck(self)
            if failed is not None:
                self.collected_errors.add(failed, None)
                return self.build_response(None)
            return super().execute_operation(serially)

    if not compiled:
        return StandardExecutor

    class PlanExecutor(StandardExecutor):
        plans: ClassVar[PlanCache]
        """The cache it answers from (the direct road looks plans up in it)."""

        def execute_operation(self, serially: bool | None = None) -> Any:
            # graphql-core's contract (Executor.execute_operation): an operation aborted before
            # it starts is rejected with the abort's error; one aborted while running, by
            # `finish` (see `_run`). Standard execution handles both itself.
            abort = self.abort_signal
            if abort is not None and abort.aborted:
                self.run_async_work_finished_hook()
                raise self.abort_error()
            context = self.context_value
            operation = self.operation
            loc = operation.loc
            principal = getattr(context, "principal", None)
            if loc is None or principal is None:
                return self._standard("no_source", serially)
            plan = plans.plan_for(
                self.schema,
                loc.source.body,
                operation,
                self.fragments,
                self.variable_values,
                principal.roles,
            )
            if isinstance(plan, Unsupported):
                return self._standard(plan.reason, serially)
            metrics.operation("compiled")
            return self._run(plan)

        async def _run(self, plan: Plan) -> Any:
            # a subscription event's executor has the event's payload as its root value
            data, errors, fields, busy = await execute_plan(
                plan, self.context_value, self.variable_values, self.root_value
            )
            metrics.projected(busy, fields)
            # the plan placed its errors already (nulled positions included): appended as they
            # are, not through `add`, which would drop every error after the first at one path
            self.collected_errors.errors.extend(errors)
            return self.finish(self.build_response(data))

    PlanExecutor.plans = plans
    return PlanExecutor


def _precheck(executor: StrawberryGraphQLCoreExecutionContext) -> GraphQLError | None:
    """`compiled.precheck` for standard execution: the root fields' argument checks, before
    any field starts, so both executions fail the same way at the same cost."""
    root = executor.schema.query_type
    if root is None or executor.operation.operation is not OperationType.QUERY:
        return None
    try:
        collected = collect_fields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            root,
            executor.operation,
        )
    except Exception as exc:
        # Unexpected (validation passed): execution will meet it again and report it. Logged
        # by type and place only: an exception's message may quote the caller's values.
        log.error(
            "root-field precheck skipped: field collection raised %s\n%s",
            type(exc).__qualname__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return None
    for key, details in collected.grouped_field_set.items():
        name = details[0].node.name.value
        field_def = root.fields.get(name)
        if field_def is None:
            continue
        node = details[0].node

        def args(field_def: Any = field_def, node: Any = node) -> dict[str, Any]:
            return get_argument_values(field_def, node, executor.variable_values)

        failed = precheck(name, [d.node for d in details], Path(None, key, None), args)
        if failed is not None:
            return failed
    return None
