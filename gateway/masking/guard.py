"""The gateway's side of masking: the policy, the masker, the audit log and the per-subject
budgets, and per request the caller's `Access` (including whether their named interaction
verifies a customer)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, GraphQLError
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gateway.auth.authenticator import Principal
from gateway.config import Config, ConfigError
from gateway.limits.budget import (
    SEARCH_FIELDS,
    DataBudget,
    Ledger,
    Lookup,
    Lookups,
    budgets_for,
    find_lookups,
    lookup_error,
)
from gateway.masking.access import Access, Verification
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker, placeholders
from gateway.observability import codes
from gateway.observability.audit import AuditLog, safe_operation_name
from resolvers import BadUserInput, Loaders, valid_contact_id
from sources import SourceError
from sources.records import Contact

__all__ = ["Guard"]

log = logging.getLogger("switchboard.access")

NO_CUSTOMER_ROOTS = frozenset({"searchArticles", "__typename", "__schema", "__type"})
"""Root fields that return no customer: an operation of these alone never asks the CCaaS system
about the caller's interaction (README "Batching"). Anything else, fragments included, asks."""


def _may_read_customers(context: ExecutionContext) -> bool:
    document = context.graphql_document
    operation = get_operation_ast(document, context.operation_name) if document else None
    if operation is None:
        return True
    return not all(
        isinstance(node, FieldNode) and node.name.value in NO_CUSTOMER_ROOTS
        for node in operation.selection_set.selections
    )


async def _confirm(loaders: Loaders, contact_id: str, verification: Verification) -> Contact | None:
    try:
        return await loaders.contact.load(contact_id)
    except SourceError as exc:
        log.warning("cannot confirm interaction %s (%s): caller unverified", contact_id, exc.code)
        verification.unconfirmed = True
        return None


class Guard:
    def __init__(
        self,
        policy: Policy,
        masker: Masker,
        audit: AuditLog,
        budget: DataBudget | None = None,
        lookups: Lookups | None = None,
        config: Config | None = None,
    ) -> None:
        self.policy = policy
        self.masker = masker
        self.audit = audit
        self.budget = budget
        self.lookups = lookups
        self.settings = config

    @classmethod
    def from_config(cls, config: Config, audit: AuditLog | None = None) -> Guard:
        policy = Policy.load(config.policy.file or None)
        key = config.policy.hash_key.encode()
        if not key:
            if policy.uses("hash") and config.server.profile == "production":
                # a random key per process makes `hash` values unjoinable across replicas and
                # restarts, the one thing the treatment is for: refuse rather than degrade
                raise ConfigError(
                    "[policy] hash_key is required in production when the policy uses the "
                    "hash treatment (set SWITCHBOARD_POLICY_HASH_KEY)"
                )
            if policy.uses("hash"):
                log.warning(
                    "no policy.hash_key: hashes are random per process "
                    "(set SWITCHBOARD_POLICY_HASH_KEY)"
                )
            key = secrets.token_bytes(32)
        redis_url = config.rate_limit.redis_url
        budget, lookups = budgets_for(config.data_budget, config.lookups, redis_url)
        audit = audit or AuditLog(config.audit.sink, config.audit.max_pending)
        return cls(policy, Masker(key), audit, budget, lookups, config)

    async def aclose(self) -> None:
        await self.audit.aclose()
        for closing in (self.budget, self.lookups):
            if closing is not None:
                await closing.aclose()

    async def access(
        self, principal: Principal, loaders: Loaders, interaction_id: str | None
    ) -> Access:
        """The caller's access for one request. The CCaaS system is asked about the named
        interaction only when the caller's issuer may verify agents and one of the caller's
        roles has verified treatments; any failure to
        confirm it leaves the caller unverified (fail closed)."""
        contact_id = None
        skipped = None
        if interaction_id is not None:
            try:
                contact_id = valid_contact_id(interaction_id)
            except BadUserInput:
                skipped = "malformed"
        ask = None
        if (
            contact_id is not None
            and principal.may_verify
            and self.policy.uses_verification(principal.roles)
        ):
            confirmed = contact_id

            def ask() -> Awaitable[Contact | None]:
                return _confirm(loaders, confirmed, verification)

        elif contact_id is not None:
            # no role of the caller has verified treatments, or its issuer's subjects are not
            # the workforce's agents (a partner IdP may mint any `sub`)
            skipped = "not_needed" if principal.may_verify else "issuer_may_not_verify"
        verification = Verification(
            None, principal.subject, ask, may_verify=principal.may_verify, skipped=skipped
        )
        return Access(
            self.policy,
            self.masker,
            principal,
            verification,
            interaction_id=contact_id,
        )

    def audit_extension(self) -> type[SchemaExtension]:
        """A schema extension around execution, shared by both executions (standard and
        compiled). Before it: a caller with no role the policy knows reads nothing; the request
        reserves its place in the audit queue, its lookups are checked and its data budget
        opened (a refusal then costs no back-end call); the verification starts. After it: a
        role with `values = "placeholder"` gets placeholders for every value, and the request's
        audit events are written."""
        guard = self
        policy = self.policy

        class AuditTrail(SchemaExtension):
            reserved = False
            ledger: Ledger | None = None
            found: list[Lookup] | None = None
            refused: GraphQLError | None = None
            alerts: list[dict[str, Any]]

            async def on_execute(self) -> AsyncIterator[None]:
                ec = self.execution_context
                access = getattr(ec.context, "access", None)
                if not isinstance(access, Access):
                    yield
                    return
                self.alerts = []
                roles = access.principal.roles
                if not policy.knows(roles) and not _typename_only(ec.graphql_document, ec):
                    # fail closed for the whole graph, unclassified fields included: nothing
                    # executes, no back-end call is made, nothing is audited
                    ec.result = ExecutionResult(None, [_no_known_role()])
                    yield
                    return
                refused = await self._admit(ec, access)
                if refused is not None:
                    self.refused = refused
                    ec.result = ExecutionResult(None, [refused])
                elif _may_read_customers(ec):
                    # the operation passed every limit and validation: ask about the caller's
                    # interaction now, concurrently with the first resolvers (unless no root
                    # field returns a customer; a root field that does asks anyway, in `settle`)
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

            async def _admit(self, ec: Any, access: Access) -> GraphQLError | None:
                if not guard.audit.reserve():
                    response = getattr(ec.context, "response", None)
                    if response is not None:
                        response.status_code = 503
                    return GraphQLError(
                        "the audit trail is unavailable: try again shortly",
                        extensions={"code": codes.AUDIT_UNAVAILABLE},
                    )
                self.reserved = True
                principal = access.principal
                who = (principal.issuer, principal.subject)
                self.found = find_lookups(
                    ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables
                )
                if guard.lookups is not None and guard.settings is not None:
                    refused = await self._lookups(self.found, who, principal.roles, guard.lookups)
                    if refused is not None:
                        return refused
                if guard.budget is not None and guard.settings is not None:
                    limit = guard.settings.data_budget.limit_for(principal.roles)
                    self.ledger = await guard.budget.open(who, limit)
                    access.budget = self.ledger
                return None

            async def _lookups(
                self,
                found: list[Lookup],
                who: tuple[str, str],
                roles: frozenset[str],
                lookups: Lookups,
            ) -> GraphQLError | None:
                assert guard.settings is not None
                settings = guard.settings.lookups
                if len(found) > settings.per_operation:
                    return lookup_error(
                        f"at most {settings.per_operation} lookups per operation, "
                        f"found {len(found)}"
                    )
                keys = sum(1 for f in found if f.field in SEARCH_FIELDS)
                if keys == 0:
                    return None
                limit = settings.limit_for(roles)
                taken = await lookups.take(who, keys, limit)
                if taken.allowed:
                    return None
                if taken.alert:
                    self.alerts.append(
                        {
                            "type": "lookup_limit_exceeded",
                            "windowSeconds": settings.window_seconds,
                            "limit": limit,
                        }
                    )
                return lookup_error(
                    f"at most {limit} lookups per {int(settings.window_seconds)} s",
                    taken.retry_after,
                )

            async def on_operation(self) -> AsyncIterator[None]:
                lines = b""
                try:
                    yield
                    context = self.execution_context.context
                    access = getattr(context, "access", None)
                    if isinstance(access, Access) and self.reserved:
                        # a root field that failed early leaves calls in flight (the
                        # caller's verification, its siblings' loads): they belong to this
                        # answer too
                        await access.verification.drain()
                        await context.loaders.drain()
                        lines = await self._lines(context, access)
                finally:
                    if self.reserved:
                        # the answer leaves once its audit lines are written (the event loop
                        # serving the others meanwhile)
                        await guard.audit.submit(lines)

            async def _lines(self, context: Any, access: Access) -> bytes:
                ec = self.execution_context
                name = safe_operation_name(ec.operation_name)
                client_id: str | None = getattr(context, "client_request_id", None)
                if self.ledger is not None and guard.budget is not None:
                    principal = access.principal
                    who = (principal.issuer, principal.subject)
                    if await guard.budget.commit(who, self.ledger):
                        assert guard.settings is not None
                        self.alerts.append(
                            {
                                "type": "data_budget_exceeded",
                                "windowStart": datetime.fromtimestamp(
                                    self.ledger.window_start, UTC
                                ).isoformat(),
                                "windowSeconds": guard.settings.data_budget.window_seconds,
                                "limit": self.ledger.limit,
                                "customers": self.ledger.used,
                            }
                        )
                lines = access.audit_lines(
                    context.request_id, name, client_id, _known_customers(context.loaders)
                )
                events = [*self.alerts, *self._lookup_events(ec.result)]
                if events:
                    common = {
                        "time": datetime.now(UTC).isoformat(),
                        "requestId": context.request_id,
                        "clientRequestId": client_id,
                        "subject": access.principal.subject,
                        "issuer": access.principal.issuer,
                        "roles": sorted(access.principal.roles),
                        "operation": name,
                    }
                    lines += b"".join(
                        orjson.dumps({"type": e["type"], **common, **e}) + b"\n" for e in events
                    )
                return lines

            def _lookup_events(self, result: Any) -> list[dict[str, Any]]:
                """One per lookup root field: which, with which kinds of key, and how it
                ended (matches: how many customers it found) — never the key's value."""
                data = getattr(result, "data", None) if self.refused is None else None
                events = []
                for found in self.found or ():
                    value = data.get(found.key) if isinstance(data, dict) else None
                    if self.refused is not None:
                        outcome, matches = "refused", 0
                    elif not isinstance(data, dict):
                        outcome, matches = "failed", 0
                    elif isinstance(value, list):
                        matches = sum(1 for v in value if v is not None)
                        outcome = "found" if matches else "none"
                    else:
                        matches = 0 if value is None else 1
                        outcome = "found" if matches else "none"
                    events.append(
                        {
                            "type": "lookup",
                            "field": found.field,
                            "path": found.key,
                            "keys": list(found.kinds),
                            "outcome": outcome,
                            "matches": matches,
                        }
                    )
                return events

        return AuditTrail


def _known_customers(loaders: Loaders) -> dict[str, str]:
    """{CCaaS profile: CRM customer id} for the customers this request already loaded by
    profile (an `interaction { customer }`): names the customer of reads known only by the
    contact's profile, without a call of its own."""
    loader = vars(loaders).get("customer_by_ccaas_profile")
    cache: dict[Any, Any] = getattr(loader, "_cache", None) or {}
    known = {}
    for profile, future in cache.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            customer = future.result()
            if customer is not None:
                known[profile] = customer.id
    return known


def _no_known_role() -> GraphQLError:
    return GraphQLError(
        "the token has no role this gateway knows: nothing may be read",
        extensions={"code": codes.FORBIDDEN},
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
