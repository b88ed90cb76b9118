"""The schema extension that enforces `limits` and `trusted` on every operation, and keeps the
schema from leaking to callers who may not introspect it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from .limits import (
    LimitSettings,
    estimate_cost,
    limit_error,
    measure_cached,
    rule_sets,
    validate_cached,
)
from .trusted import TrustedDocuments

__all__ = ["conceal", "guardrails"]

_DID_YOU_MEAN = re.compile(r"\s*Did you mean[^?]*\?")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")


def conceal(message: str, written: str) -> str:
    """Drop "Did you mean" and any quoted name the caller did not write themselves: with
    introspection off, errors must not teach the schema (no type, field, argument, enum value
    or input field the request did not already contain)."""

    def hide(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return match.group(0) if name in written else "'…'"

    return _QUOTED.sub(hide, _DID_YOU_MEAN.sub("", message))


def guardrails(
    limits: LimitSettings, trusted: TrustedDocuments | None, trusted_roles: frozenset[str]
) -> type[SchemaExtension]:
    introspective_rules, closed_rules = rule_sets()

    class Guardrails(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            ec = self.execution_context
            ec.parse_options["max_tokens"] = limits.max_tokens
            context: Any = ec.context
            roles = context.principal.roles if context is not None else frozenset()
            registered = trusted.find(ec.query, ec.operation_extensions) if trusted else None
            if registered is not None:
                ec.query = registered.text
                ec.graphql_document = registered.document
                ec.pre_execution_errors = []  # validated at start-up
            elif roles & trusted_roles:
                # before anything is parsed: these callers run registered operations only
                raise GraphQLError(
                    "only registered operations may be run with this token",
                    extensions={"code": "PERSISTED_QUERY_NOT_FOUND"},
                )
            yield
            if context is not None and not context.may_introspect:
                written = ec.query or ""
                if ec.pre_execution_errors:
                    ec.pre_execution_errors = [
                        _concealed(e, written) for e in ec.pre_execution_errors
                    ]
                for error in _result_errors(ec):
                    if error.original_error is None:
                        error.message = conceal(error.message, written)

        def on_validate(self) -> Iterator[None]:
            ec = self.execution_context
            document = ec.graphql_document
            if ec.pre_execution_errors is None and document is not None:
                ec.pre_execution_errors = self._check(document)
            yield

        def _check(self, document: Any) -> list[GraphQLError]:
            ec = self.execution_context
            text = ec.query or ""
            violation = measure_cached(text, document).violation(limits)
            if violation is not None:
                return [violation]
            context: Any = ec.context
            may_introspect = context is None or context.may_introspect
            rules = introspective_rules if may_introspect else closed_rules
            errors = validate_cached(ec.schema._schema, text, document, rules)
            if errors:
                return errors
            try:
                cost = estimate_cost(document, ec.operation_name, ec.variables, limits)
            except GraphQLError as error:
                return [error]
            if cost > limits.max_cost:
                message = f"query too costly: estimated {cost}, at most {limits.max_cost}"
                return [limit_error(message, "COST_LIMIT")]
            return []

    return Guardrails


def _concealed(error: GraphQLError, written: str) -> GraphQLError:
    """A copy: validation results are cached and shared between requests."""
    if error.original_error is not None:
        return error
    return GraphQLError(
        conceal(error.message, written),
        error.nodes,
        error.source,
        error.positions,
        error.path,
        error.original_error,
        error.extensions,
    )


def _result_errors(ec: Any) -> list[GraphQLError]:
    result = ec.result
    return list(result.errors or ()) if result is not None else []
