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

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from graphql import ExecutionResult, GraphQLError
from graphql.execution.values import VariableValues
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gateway.auth.authenticator import Principal
from gateway.limits.admission import Admission
from gateway.masking.access import Access
from gateway.masking.fail_closed import fill_placeholders, refuse_unknown_roles
from gateway.masking.policy import Policy
from gateway.observability import codes
from gateway.observability.audit import AuditLog, safe_operation_name
from resolvers import Loaders

__all__ = ["Admitted", "Trail", "audit_trail", "event_lines"]


class Admitted:
    """One operation's place in the trail: reserved in the audit queue, and its limits."""

    __slots__ = ("admitted", "coerced", "reserved", "roles")

    def __init__(self, coerced: VariableValues | None = None) -> None:
        self.coerced = coerced
        """The variables as the operation's executor coerced them (the direct road's), for
        the admission's lookups; None: they are coerced there."""
        self.reserved = False
        self.admitted: Admission | None = None
        self.roles: frozenset[str] | None = None
        """Set when execution was let through for a caller with access: placeholders after."""


class Trail:
    """The audit trail's rules as plain steps on strawberry's `ExecutionContext`: the
    extension below calls them from its hooks, and the direct road (gateway/execution/
    direct.py) calls the very same steps, in the same order, without strawberry's runner."""

    def __init__(
        self,
        policy: Policy,
        audit: AuditLog,
        admission: Callable[[], Admission],
        alerted: Callable[[str], None] | None,
    ) -> None:
        self.policy = policy
        self.audit = audit
        self.admission = admission
        self.alerted = alerted

    async def before_execution(self, ec: ExecutionContext, state: Admitted) -> None:
        """Fail closed for unknown roles, reserve and admit, start the verification; a
        refusal becomes the operation's result (nothing executes)."""
        access = getattr(ec.context, "access", None)
        if not isinstance(access, Access):
            return
        roles = access.principal.roles
        if refuse_unknown_roles(self.policy, roles, ec):
            return
        refused = await self._admit(ec, access, state)
        if refused is not None:
            ec.result = ExecutionResult(None, [refused])
        else:
            access.verification.start_for(ec.graphql_document, ec.operation_name)
        state.roles = roles

    def after_execution(self, ec: ExecutionContext, state: Admitted) -> None:
        if state.roles is not None:
            fill_placeholders(self.policy, state.roles, ec)

    def results(self, ec: ExecutionContext) -> dict[str, Any]:
        """The extension's `extensions` entry: the caller's verification report."""
        access = getattr(ec.context, "access", None)
        report = access.verification_report() if isinstance(access, Access) else None
        return {} if report is None else {"verification": report}

    async def _admit(self, ec: Any, access: Access, state: Admitted) -> GraphQLError | None:
        if not self.audit.reserve():
            response = getattr(ec.context, "response", None)
            if response is not None:
                response.status_code = 503
            return GraphQLError(
                "the audit trail is unavailable: try again shortly",
                extensions={"code": codes.AUDIT_UNAVAILABLE},
            )
        state.reserved = True
        state.admitted = admitted = self.admission()
        refused = await admitted.admit(ec, access.principal, state.coerced)
        if refused is None and admitted.ledger is not None:
            access.budget = admitted.ledger
        return refused

    async def lines(self, ec: ExecutionContext, state: Admitted) -> bytes:
        """After the operation: the calls still in flight drained, the audit lines made."""
        context = ec.context
        access = getattr(context, "access", None)
        if not (isinstance(access, Access) and state.reserved):
            return b""
        # a root field that failed early leaves calls in flight (the caller's verification,
        # its siblings' loads): they belong to this answer too
        await access.verification.drain()
        await context.loaders.drain()
        name = safe_operation_name(ec.operation_name)
        client_id: str | None = getattr(context, "client_request_id", None)
        admitted = state.admitted
        events: list[dict[str, Any]] = []
        if admitted is not None:
            await admitted.commit(access.principal)
            events = admitted.events(ec.result)
            if self.alerted is not None:
                for alert in admitted.alerts:
                    self.alerted(alert["type"])
        lines = access.audit_lines(
            context.request_id, name, client_id, _known_customers(context.loaders)
        )
        return lines + event_lines(access.principal, context.request_id, client_id, name, events)

    async def submit(self, state: Admitted, lines: bytes) -> None:
        """Whatever happened (a failure included): the answer leaves once its audit lines are
        written (the event loop serving the others meanwhile)."""
        written = self.hand(state, lines)
        if written is not None:
            await written

    def hand(self, state: Admitted, lines: bytes) -> asyncio.Future[None] | None:
        """`submit` without the wait: the lines handed to the writer, and the future the
        answer must wait for before it leaves (None: nothing was reserved). The direct road
        waits for it just before the response starts, so the answer is encoded while the lines
        are written (gateway/http/fastpath.py)."""
        return self.audit.submit(lines) if state.reserved else None


def audit_trail(
    policy: Policy,
    audit: AuditLog,
    admission: Callable[[], Admission],
    alerted: Callable[[str], None] | None = None,
) -> type[SchemaExtension]:
    """The extension class (strawberry makes one per operation); `admission` makes each
    request's limits; `alerted(type)` counts each limit alert (a metric)."""
    rules = Trail(policy, audit, admission, alerted)

    class AuditTrail(SchemaExtension):
        trail: ClassVar[Trail] = rules

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.state = Admitted()

        async def on_execute(self) -> AsyncIterator[None]:
            ec = self.execution_context
            await rules.before_execution(ec, self.state)
            yield
            rules.after_execution(ec, self.state)

        def get_results(self) -> dict[str, Any]:
            return rules.results(self.execution_context)

        async def on_operation(self) -> AsyncIterator[None]:
            lines = b""
            try:
                yield
                lines = await rules.lines(self.execution_context, self.state)
            finally:
                await rules.submit(self.state, lines)

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
