"""Masking's hooks around the whole operation, for callers who may read nothing or nothing
real: a token with no role the policy knows reads nothing at all (only `__typename`), and a
role with `values = "placeholder"` (developers) gets placeholders for every value."""

from __future__ import annotations

from graphql import ExecutionResult, FieldNode, GraphQLError
from graphql.utilities import get_operation_ast
from strawberry.types import ExecutionContext

from gateway.masking.policy import Policy
from gateway.masking.treatments import placeholders
from gateway.observability import codes

__all__ = ["fill_placeholders", "refuse_unknown_roles"]


def refuse_unknown_roles(policy: Policy, roles: frozenset[str], ec: ExecutionContext) -> bool:
    """Fail closed for the whole graph, unclassified fields included, when no role of the
    caller is one the policy knows: the operation's result is set to FORBIDDEN (nothing
    executes, no back-end call is made, nothing is audited). True when it refused."""
    if policy.knows(roles) or _typename_only(ec):
        return False
    ec.result = ExecutionResult(None, [_no_known_role()])
    return True


def fill_placeholders(policy: Policy, roles: frozenset[str], ec: ExecutionContext) -> None:
    """After execution: a role with placeholders sees placeholders in place of every value."""
    result = ec.result
    if (
        policy.placeholders(roles)
        and isinstance(result, ExecutionResult)
        and ec.graphql_document is not None
    ):
        result.data = placeholders(
            ec.schema._schema, ec.graphql_document, ec.operation_name, result.data
        )


def _no_known_role() -> GraphQLError:
    return GraphQLError(
        "the token has no role this gateway knows: nothing may be read",
        extensions={"code": codes.FORBIDDEN},
    )


def _typename_only(ec: ExecutionContext) -> bool:
    """Does the operation select nothing but `__typename` at its root (all a caller with no
    known role may read)?"""
    document = ec.graphql_document
    operation = get_operation_ast(document, ec.operation_name) if document is not None else None
    if operation is None:
        return False
    return all(
        isinstance(node, FieldNode) and node.name.value == "__typename"
        for node in operation.selection_set.selections
    )
