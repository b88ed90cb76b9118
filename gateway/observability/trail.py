"""The audit trail's schema extension, around execution and shared by both executions
(standard and compiled). Guardrails on both sides of the operation:

before it, a caller with no role the policy knows reads nothing (masking's fail closed); the
request reserves its place in the audit queue (none: 503 AUDIT_UNAVAILABLE), its lookups are
checked and its data budget opened (gateway/limits/admission.py: a refusal costs no back-end
call); then the caller's verification is asked (gateway/masking/verification.py).

after it, a role with placeholders gets placeholders; the calls still in flight are drained,
and the request's audit lines (each sensitive value read, each lookup, each limit alert) are
written before the answer leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension

from gateway.auth.authenticator import Principal
from gateway.limits.admission import Admission
from gateway.masking.access import Access
from gateway.masking.fail_closed import fill_placeholders, refuse_unknown_roles
from gateway.masking.policy import Policy
from gateway.observability import codes
from gateway.observability.audit import AuditLog, safe_operation_name
from resolvers import Loaders

__all__ = ["audit_trail", "event_lines"]


def audit_trail(
    policy: Policy,
    audit: AuditLog,
    admission: Callable[[], Admission],
    alerted: Callable[[str], None] | None = None,
) -> type[SchemaExtension]:
    """The extension class (strawberry makes one per operation); `admission` makes each
    request's limits; `alerted(type)` counts each limit alert (a metric)."""

    class AuditTrail(SchemaExtension):
        reserved = False
        admitted: Admission | None = None

        async def on_execute(self) -> AsyncIterator[None]:
            ec = self.execution_context
            access = getattr(ec.context, "access", None)
            if not isinstance(access, Access):
                yield
                return
            roles = access.principal.roles
            if refuse_unknown_roles(policy, roles, ec):
                yield
                return
            refused = await self._admit(ec, access)
            if refused is not None:
                ec.result = ExecutionResult(None, [refused])
            else:
                access.verification.start_for(ec.graphql_document, ec.operation_name)
            yield
            fill_placeholders(policy, roles, ec)

        def get_results(self) -> dict[str, Any]:
            access = getattr(self.execution_context.context, "access", None)
            report = access.verification_report() if isinstance(access, Access) else None
            return {} if report is None else {"verification": report}

        async def _admit(self, ec: Any, access: Access) -> GraphQLError | None:
            if not audit.reserve():
                response = getattr(ec.context, "response", None)
                if response is not None:
                    response.status_code = 503
                return GraphQLError(
                    "the audit trail is unavailable: try again shortly",
                    extensions={"code": codes.AUDIT_UNAVAILABLE},
                )
            self.reserved = True
            self.admitted = admitted = admission()
            refused = await admitted.admit(ec, access.principal)
            if refused is None and admitted.ledger is not None:
                access.budget = admitted.ledger
            return refused

        async def on_operation(self) -> AsyncIterator[None]:
            lines = b""
            try:
                yield
                context = self.execution_context.context
                access = getattr(context, "access", None)
                if isinstance(access, Access) and self.reserved:
                    # a root field that failed early leaves calls in flight (the caller's
                    # verification, its siblings' loads): they belong to this answer too
                    await access.verification.drain()
                    await context.loaders.drain()
                    lines = await self._lines(context, access)
            finally:
                if self.reserved:
                    # the answer leaves once its audit lines are written (the event loop
                    # serving the others meanwhile)
                    await audit.submit(lines)

        async def _lines(self, context: Any, access: Access) -> bytes:
            ec = self.execution_context
            name = safe_operation_name(ec.operation_name)
            client_id: str | None = getattr(context, "client_request_id", None)
            admitted = self.admitted
            events: list[dict[str, Any]] = []
            if admitted is not None:
                await admitted.commit(access.principal)
                events = admitted.events(ec.result)
                if alerted is not None:
                    for alert in admitted.alerts:
                        alerted(alert["type"])
            lines = access.audit_lines(
                context.request_id, name, client_id, _known_customers(context.loaders)
            )
            return lines + event_lines(
                access.principal, context.request_id, client_id, name, events
            )

    return AuditTrail


def _known_customers(loaders: Loaders) -> dict[str, str]:
    """{CCaaS profile: CRM customer id} for the customers this request already loaded by
    profile (an `interaction { customer }`): names the customer of reads known only by the
    contact's profile, without a call of its own."""
    loader = vars(loaders).get("customer_by_ccaas_profile")
    if loader is None:
        return {}
    return {profile: c.id for profile, c in loader.answered() if c is not None}


def event_lines(
    principal: Principal,
    request_id: str,
    client_request_id: str | None,
    operation: str | None,
    events: list[dict[str, Any]],
) -> bytes:
    """Audit lines of a request's (or a subscription event's) other events: limit alerts,
    lookups."""
    if not events:
        return b""
    common = {
        "time": datetime.now(UTC).isoformat(),
        "requestId": request_id,
        "clientRequestId": client_request_id,
        "subject": principal.subject,
        "issuer": principal.issuer,
        "roles": sorted(principal.roles),
        "operation": operation,
    }
    return b"".join(orjson.dumps({"type": e["type"], **common, **e}) + b"\n" for e in events)
