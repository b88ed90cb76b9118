"""The GraphQL side of write-back (WRITES-CONTRACT.md section 4): who may write what, the write's
content checked (gateway/writes/rules.py), the intent handed to the write service, and where a
write stands — for its owner only.

Who may write (least privilege; every rule keyed by the token's (issuer, subject)):
- `supervisor`: any contact, case or customer;
- `agent`, `collections`, from a workforce issuer (`[auth] verification`: only its subjects are
  CCaaS agents; a partner IdP may mint any `sub`): a disposition on a contact whose CCaaS agent
  is the caller; a case note on a case of the customer of the caller's own contact named by
  X-Interaction-Id; a case for a customer one of whose recent contacts (the newest 50) was the
  caller's;
- anyone else (`ivr`, `developer`, `fraud_analyst`, an unknown role), and any token that also
  holds `ivr` or `developer`: FORBIDDEN, before anything is read.

The order of checks: the role, then the key and the content (no back-end call: a note holding a
PAN goes nowhere), then ownership (reads of the CCaaS and the CRM), then the write. A disposition
reads the CCaaS only: its Task names the customer by their CCaaS profile id (`Who`), which the CRM
resolves when the write is delivered, so the CRM being down never refuses one."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

from gateway.auth.authenticator import Principal
from gateway.events.broker import Broker, Delivery, Item, Overflow
from gateway.observability import codes
from gateway.observability.audit import AuditLog
from gateway.writes import (
    IdempotencyKeyReused,
    Operation,
    WriteIntent,
    WriteRecord,
    WriteResult,
    Writes,
)
from gateway.writes.rules import WriteRules, bad_input, check_code, check_key, clean_text
from gateway.writes.settled import SETTLED, audit_line
from resolvers import Loaders, NotFound
from resolvers.identity import valid_contact_id, valid_customer_id
from sources import CrmObject

__all__ = ["RECENT_CONTACTS", "CallerWrites", "WriteGate"]

log = logging.getLogger("switchboard.writes")

SUPERVISOR = "supervisor"
WRITERS = frozenset({"agent", "collections"})
NEVER = frozenset({"ivr", "developer"})
RECENT_CONTACTS = 50
"""How far back "a customer the agent has had a contact with" looks (the CCaaS's maximum)."""
RECHECK_SECONDS = 5.0
"""`writeCompleted` re-reads the write this often even without its event: an event lost on the
way (a broker restart) delays the frame, never loses it."""

WHO = "Who.CcaasProfile__c"
"""A Task's customer by external id: the `Who` relationship, naming the Contact whose
`CcaasProfile__c` is the contact's CCaaS profile id (sources/crm.py `_REFERENCES`)."""

_CRM_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def _forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": codes.FORBIDDEN})


@dataclass(frozen=True, slots=True)
class WriteGate:
    """Built once per app: the service, the content rules, the broker (completions) and the
    audit log (refusals)."""

    writes: Writes
    rules: WriteRules
    broker: Broker
    audit: AuditLog

    def for_request(
        self,
        principal: Principal,
        loaders: Loaders,
        interaction_id: str | None,
        header_key: str | None,
    ) -> CallerWrites:
        return CallerWrites(self, lambda: principal, loaders, interaction_id, header_key)

    def for_socket(self, principal: Callable[[], Principal | None]) -> CallerWrites:
        """Over the WebSocket only `writeCompleted` is served (SocketContext refuses the rest)."""
        return CallerWrites(self, principal, None, None, None)


class CallerWrites:
    """`schema.WriteApi` for one caller."""

    def __init__(
        self,
        gate: WriteGate,
        principal: Callable[[], Principal | None],
        loaders: Loaders | None,
        interaction_id: str | None,
        header_key: str | None,
    ) -> None:
        self._gate = gate
        self._principal = principal
        self._loaders = loaders
        self._interaction_id = interaction_id
        self._header_key = header_key

    # -- the writes ------------------------------------------------------------------------

    async def record_disposition(
        self, interaction_id: str, code: str, note: str | None, key: str
    ) -> WriteResult:
        operation: Operation = "recordDisposition"
        async with self._refusals(operation):
            principal, any_target = self._writer()
            key = check_key(key, self._header_key)
            code = check_code(self._gate.rules, code)
            text = clean_text(
                note or "", "the note", self._gate.rules.max_note_chars, required=False
            )
            loaders = self._reads()
            contact_id = valid_contact_id(interaction_id)
            contact = await loaders.contact.load(contact_id)
            if contact is None:
                raise NotFound(f"no interaction with id {contact_id!r}")
            if not any_target and contact.agent_id != principal.subject:
                raise _forbidden("this contact is not yours: dispositions are the agent's own")
            fields: dict[str, str | None] = {
                "InteractionId__c": contact.id,
                "CallDisposition": code,
                "Description": text,
                "OwnerId": principal.subject,
            }
            if contact.profile_id:
                # the customer named by the key the CRM keys them by, resolved by the CRM when
                # the write lands (now or from the outbox): no CRM read here, so a disposition
                # is taken (PENDING) while the CRM is down, reads and all. A profile the CRM
                # knows no customer for: the Task is written without Who (sources/crm.py).
                fields[WHO] = contact.profile_id
            return await self._submit(principal, operation, key, contact.id, "Task", fields)

    async def add_case_note(self, case_id: str, note: str, key: str) -> WriteResult:
        operation: Operation = "addCaseNote"
        async with self._refusals(operation):
            principal, any_target = self._writer()
            key = check_key(key, self._header_key)
            text = clean_text(note, "the note", self._gate.rules.max_note_chars, required=True)
            if not _CRM_ID.fullmatch(case_id):
                raise bad_input("malformed case id: expected a 15- or 18-character CRM id")
            customer_id = None if any_target else await self._own_case(principal, case_id)
            fields: dict[str, str | None] = {
                "ParentId": case_id,
                "CommentBody": text,
                "CreatedById": principal.subject,
            }
            return await self._submit(
                principal, operation, key, case_id, "CaseComment", fields, customer_id
            )

    async def create_case(
        self,
        customer_id: str,
        subject: str,
        category: str,
        priority: str,
        note: str | None,
        key: str,
    ) -> WriteResult:
        operation: Operation = "createCase"
        async with self._refusals(operation):
            principal, any_target = self._writer()
            key = check_key(key, self._header_key)
            rules = self._gate.rules
            title = clean_text(subject, "the subject", rules.max_subject_chars, required=True)
            text = clean_text(note or "", "the note", rules.max_note_chars, required=False)
            loaders = self._reads()
            customer = await loaders.customer.load(valid_customer_id(customer_id))
            if customer is None:
                raise NotFound(f"no customer with id {customer_id!r}")
            if not any_target:
                profile = customer.ccaas_profile_id
                contacts = (
                    []
                    if profile is None
                    else await loaders.contacts_of.load((profile, RECENT_CONTACTS))
                )
                if not any(c.agent_id == principal.subject for c in contacts):
                    raise _forbidden("you have had no contact with this customer")
            fields: dict[str, str | None] = {
                "ContactId": customer.id,
                "Subject": title,
                "Type": category,
                "Priority": priority,
                "Description": text,
                "OwnerId": principal.subject,
            }
            return await self._submit(principal, operation, key, customer.id, "Case", fields)

    # -- where a write stands --------------------------------------------------------------

    async def find(self, write_id: str) -> WriteRecord | None:
        self._reads()  # `write(id:)` is a query: over the WebSocket, refused as queries are
        principal = self._principal()
        return None if principal is None else await self._find(principal, write_id)

    async def _find(self, principal: Principal, write_id: str) -> WriteRecord | None:
        if not _plausible_id(write_id):
            return None
        record = await self._gate.writes.get(write_id)
        return record if record is not None and _owns(principal, record) else None

    def completed(self, write_id: str) -> AsyncGenerator[WriteRecord, None]:
        principal = self._principal()
        if principal is None:  # connection_init authenticates before any subscribe
            raise GraphQLError("not authenticated", extensions={"code": codes.UNAUTHENTICATED})
        return self._completed(principal, write_id)

    async def _completed(
        self, principal: Principal, write_id: str
    ) -> AsyncGenerator[WriteRecord, None]:
        broker = self._gate.broker
        # subscribed before the first read: a write settling in between is not missed
        subscription = broker.subscribe(None)
        try:
            record = await self._find(principal, write_id)
            if record is None:
                raise GraphQLError(
                    "no write of yours has this id", extensions={"code": codes.NOT_FOUND}
                )
            live = True
            while record.status == "PENDING":
                left = principal.expires_at - time.time()
                if left <= 0:
                    raise GraphQLError(
                        "the token has expired", extensions={"code": codes.TOKEN_EXPIRED}
                    )
                item: Item | None = None
                if live:
                    try:
                        async with asyncio.timeout(min(left, RECHECK_SECONDS)):
                            item = await anext(subscription)
                    except TimeoutError:
                        pass
                    except StopAsyncIteration:
                        live = False  # the broker is closing: re-read on a timer instead
                else:
                    await asyncio.sleep(min(left, RECHECK_SECONDS))
                if isinstance(item, Overflow):
                    await subscription.aclose()
                    subscription = broker.subscribe(None)
                elif isinstance(item, Delivery) and not _settles(item, write_id):
                    continue
                found = await self._gate.writes.get(write_id)
                record = record if found is None else found
            yield record
        finally:
            await subscription.aclose()

    # -- helpers -----------------------------------------------------------------------------

    def _writer(self) -> tuple[Principal, bool]:
        """The caller, and whether they may write about anyone's contact or customer."""
        self._reads()  # a mutation over the WebSocket writes nothing
        principal = self._principal()
        if principal is None:
            raise GraphQLError("not authenticated", extensions={"code": codes.UNAUTHENTICATED})
        roles = principal.roles
        if roles & NEVER:
            raise _forbidden("this token may not write (ivr and developer tokens never do)")
        if SUPERVISOR in roles:
            return principal, True
        if not roles & WRITERS:
            raise _forbidden("writing needs an agent, collections or supervisor role")
        if not principal.may_verify:
            # a partner IdP may mint any `sub`: only the workforce's subjects are CCaaS agents
            raise _forbidden("only the workforce's agents write about their own contacts")
        return principal, False

    def _reads(self) -> Loaders:
        if self._loaders is None:
            raise GraphQLError(
                "only subscriptions are served over the WebSocket: send writes and queries by "
                "HTTP POST",
                extensions={"code": codes.BAD_REQUEST},
            )
        return self._loaders

    async def _own_case(self, principal: Principal, case_id: str) -> str:
        """The case belongs to the customer of the caller's own contact (X-Interaction-Id):
        that customer's CRM id."""
        if self._interaction_id is None:
            raise _forbidden(
                "send X-Interaction-Id with your contact: notes go on its customer's cases"
            )
        loaders = self._reads()
        contact = await loaders.contact.load(self._interaction_id)
        if contact is None or contact.agent_id != principal.subject:
            raise _forbidden("the X-Interaction-Id contact is not yours")
        customer = await loaders.customer_by_ccaas_profile.load(contact.profile_id)
        cases = [] if customer is None else await loaders.cases.load(customer.id)
        if customer is None or not any(c.id == case_id for c in cases):
            raise _forbidden("this case is not one of your contact's customer's")
        return customer.id

    async def _submit(
        self,
        principal: Principal,
        operation: Operation,
        key: str,
        target: str,
        crm_object: CrmObject,
        fields: dict[str, str | None],
        customer_id: str | None = None,
    ) -> WriteResult:
        intent = WriteIntent(
            operation=operation,
            issuer=principal.issuer,
            subject=principal.subject,
            idempotency_key=key,
            target=target,
            crm_object=crm_object,
            fields=fields,
            customer_id=customer_id,
        )
        try:
            return await self._gate.writes.submit(intent)
        except IdempotencyKeyReused:
            raise GraphQLError(
                "this idempotency key was used for another write: use a new key",
                extensions={"code": codes.IDEMPOTENCY_KEY_REUSED},
            ) from None

    def _refusals(self, operation: Operation) -> _Refusals:
        return _Refusals(self._gate.audit, self._principal(), operation)


class _Refusals:
    """Audits a write refused for the caller's input or rights (by code, never the input)."""

    def __init__(self, audit: AuditLog, principal: Principal | None, operation: Operation) -> None:
        self.audit, self.principal, self.operation = audit, principal, operation

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: Any, error: Any, tb: Any) -> None:
        if self.principal is None or error is None:
            return
        code = _code_of(error)
        if code is None:
            return
        await audit_line(
            self.audit,
            {
                "type": "write_refused",
                "subject": self.principal.subject,
                "issuer": self.principal.issuer,
                "roles": sorted(self.principal.roles),
                "operation": self.operation,
                "outcome": "refused",
                "code": code,
            },
        )


def _code_of(error: BaseException) -> str | None:
    if isinstance(error, GraphQLError):
        code = (error.extensions or {}).get("code")
        return code if isinstance(code, str) else None
    code = getattr(error, "code", None)
    return code if isinstance(code, str) and code in ("BAD_USER_INPUT", "NOT_FOUND") else None


def _owns(principal: Principal, record: WriteRecord) -> bool:
    if SUPERVISOR in principal.roles and not principal.roles & NEVER:
        return True
    return (record.issuer, record.subject) == principal.identity


def _plausible_id(write_id: str) -> bool:
    return 0 < len(write_id) <= 64 and write_id.isascii() and write_id.isprintable()


def _settles(delivery: Delivery, write_id: str) -> bool:
    event = delivery.event
    return event.type == SETTLED and event.subject == write_id
