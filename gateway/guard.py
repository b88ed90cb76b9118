"""The gateway's side of masking: the policy, the masker and the audit log, and per request the
caller's `Access` (including whether their named interaction verifies a customer)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

from graphql import ExecutionResult, FieldNode, GraphQLError, get_operation_ast
from strawberry.extensions import SchemaExtension

from resolvers import BadUserInput, Loaders, valid_contact_id
from sources import SourceError
from sources.records import Contact

from .access import Access, Verification
from .audit import AuditLog, safe_operation_name
from .auth import Principal
from .config import Config
from .policy import Policy
from .treatments import Masker, placeholders

__all__ = ["Guard"]

log = logging.getLogger("switchboard.access")


async def _confirm(loaders: Loaders, contact_id: str, verification: Verification) -> Contact | None:
    try:
        return await loaders.contact.load(contact_id)
    except SourceError as exc:
        log.warning("cannot confirm interaction %s (%s): caller unverified", contact_id, exc.code)
        verification.unconfirmed = True
        return None


class Guard:
    def __init__(self, policy: Policy, masker: Masker, audit: AuditLog) -> None:
        self.policy = policy
        self.masker = masker
        self.audit = audit

    @classmethod
    def from_config(cls, config: Config, audit: AuditLog | None = None) -> Guard:
        policy = Policy.load(config.policy.file or None)
        key = config.policy.hash_key.encode()
        if not key:
            log.warning(
                "no policy.hash_key: hashes are random per process "
                "(set SWITCHBOARD_POLICY_HASH_KEY)"
            )
            key = secrets.token_bytes(32)
        return cls(policy, Masker(key), audit or AuditLog(config.audit.sink))

    async def access(
        self, principal: Principal, loaders: Loaders, interaction_id: str | None
    ) -> Access:
        """The caller's access for one request. The CCaaS system is asked about the named
        interaction only when one of the caller's roles has verified treatments; any failure to
        confirm it leaves the caller unverified (fail closed)."""
        contact_id = None
        skipped = None
        if interaction_id is not None:
            try:
                contact_id = valid_contact_id(interaction_id)
            except BadUserInput:
                skipped = "malformed"
        ask = None
        if contact_id is not None and self.policy.uses_verification(principal.roles):
            confirmed = contact_id

            def ask() -> Awaitable[Contact | None]:
                return _confirm(loaders, confirmed, verification)

        elif contact_id is not None:
            skipped = "not_needed"  # no role of the caller has verified treatments
        verification = Verification(None, principal.subject, ask, skipped=skipped)
        return Access(
            self.policy,
            self.masker,
            principal,
            verification,
            interaction_id=contact_id,
        )

    def audit_extension(self) -> type[SchemaExtension]:
        """A schema extension that writes the request's audit events once it has executed,
        and, around execution, holds both executions (standard and compiled) to the policy's
        role-level rules: a caller with no role the policy knows reads nothing, and a role with
        `values = "placeholder"` gets placeholders for every value."""
        audit = self.audit
        policy = self.policy

        class AuditTrail(SchemaExtension):
            def on_execute(self) -> Iterator[None]:
                ec = self.execution_context
                access = getattr(ec.context, "access", None)
                if not isinstance(access, Access):
                    yield
                    return
                roles = access.principal.roles
                if not policy.knows(roles) and not _typename_only(ec.graphql_document, ec):
                    # fail closed for the whole graph, unclassified fields included: nothing
                    # executes, no back-end call is made, nothing is audited
                    ec.result = ExecutionResult(None, [_no_known_role()])
                    yield
                    return
                # the operation passed every limit and validation: ask about the caller's
                # interaction now, concurrently with the first resolvers
                access.verification.start()
                yield
                result = ec.result
                if (
                    policy.placeholders(roles)
                    and isinstance(result, ExecutionResult)
                    and ec.graphql_document is not None
                ):
                    result.data = placeholders(
                        ec.schema._schema, ec.graphql_document, ec.operation_name, result.data
                    )

            def get_results(self) -> dict[str, Any]:
                access = getattr(self.execution_context.context, "access", None)
                report = access.verification_report() if isinstance(access, Access) else None
                return {} if report is None else {"verification": report}

            async def on_operation(self) -> AsyncIterator[None]:
                yield
                context = self.execution_context.context
                access = getattr(context, "access", None)
                if isinstance(access, Access):
                    # a root field that failed early leaves calls in flight (the caller's
                    # verification, its siblings' loads): they belong to this answer too
                    await access.verification.drain()
                    await context.loaders.drain()
                    name = safe_operation_name(self.execution_context.operation_name)
                    audit.write(access.audit_lines(context.request_id, name))

        return AuditTrail


def _no_known_role() -> GraphQLError:
    return GraphQLError(
        "the token has no role this gateway knows: nothing may be read",
        extensions={"code": "FORBIDDEN"},
    )


def _typename_only(document: Any, ec: Any) -> bool:
    """Does the operation select nothing but `__typename` at its root (all a caller with no
    known role may read)?"""
    operation = get_operation_ast(document, ec.operation_name) if document is not None else None
    if operation is None:
        return False
    return all(
        isinstance(node, FieldNode) and node.name.value == "__typename"
        for node in operation.selection_set.selections
    )
