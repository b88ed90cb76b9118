"""Write-back (issue #15): the three writes an agent makes at wrap-up, and where a write stands.

The schema declares the shapes only. Who may write, what a write may hold and how it reaches the
CRM exactly once are the gateway's (`Context.writes`, gateway/writes/api.py): a refusal is an
error with its code (FORBIDDEN, SENSITIVE_DATA_IN_NOTE, IDEMPOTENCY_KEY_REUSED...), a write the
CRM refuses is a `WriteResult` with status REJECTED and the CRM's reason."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import Enum
from typing import Protocol

import strawberry

from .context import Info
from .enums import CaseCategory, CasePriority

__all__ = [
    "AddCaseNoteInput",
    "CreateCaseInput",
    "Mutation",
    "RecordDispositionInput",
    "WriteApi",
    "WriteOutcome",
    "WriteResult",
    "WriteStatus",
]


class WriteOutcome(Protocol):
    """A write as the gateway reports it."""

    @property
    def write_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def record_id(self) -> str | None: ...
    @property
    def code(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...


class WriteApi(Protocol):
    """The gateway's side of the writes, bound to the caller."""

    async def record_disposition(
        self, interaction_id: str, code: str, note: str | None, key: str
    ) -> WriteOutcome: ...

    async def add_case_note(self, case_id: str, note: str, key: str) -> WriteOutcome: ...

    async def create_case(
        self,
        customer_id: str,
        subject: str,
        category: str,
        priority: str,
        note: str | None,
        key: str,
    ) -> WriteOutcome: ...

    async def find(self, write_id: str) -> WriteOutcome | None:
        """The caller's own write (any, for a supervisor); None otherwise."""
        ...

    def completed(self, write_id: str) -> AsyncGenerator[WriteOutcome, None]:
        """One outcome, once the write is final (at once if it is already)."""
        ...


@strawberry.enum(description="Where a write stands.")
class WriteStatus(Enum):
    APPLIED = "APPLIED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"


@strawberry.type(description="A write to the CRM and where it stands.")
class WriteResult:
    write_id: strawberry.ID = strawberry.field(
        description="Ask `write(id:)` or subscribe to `writeCompleted(id:)` with it."
    )
    status: WriteStatus = strawberry.field(
        description="APPLIED: in the CRM. PENDING: accepted, the CRM is unavailable; delivered "
        "by the gateway with retries. REJECTED: final, the CRM refused it (`code`, `message`)."
    )
    record_id: strawberry.ID | None = strawberry.field(
        description="The CRM record written (a Task, a CaseComment or a Case), once APPLIED."
    )
    code: str | None = strawberry.field(
        description="Why it was REJECTED (or, while PENDING, the last attempt's error)."
    )
    message: str | None

    @classmethod
    def of(cls, outcome: WriteOutcome) -> WriteResult:
        return cls(
            write_id=strawberry.ID(outcome.write_id),
            status=WriteStatus(outcome.status),
            record_id=None if outcome.record_id is None else strawberry.ID(outcome.record_id),
            code=outcome.code,
            message=outcome.message,
        )


_KEY = (
    "Unique per write (a UUID): a retry with the same key and body gets the first write's "
    "result; the same key with another body is IDEMPOTENCY_KEY_REUSED. The Idempotency-Key "
    "header, when sent, must be the same."
)


@strawberry.input(description="A wrap-up code (and note) for a contact.")
class RecordDispositionInput:
    interaction_id: strawberry.ID
    code: str = strawberry.field(description="One of [writes] disposition_codes.")
    idempotency_key: str = strawberry.field(description=_KEY)
    note: str | None = strawberry.field(
        default=None, description="Plain text, trimmed; no card numbers or SSNs."
    )


@strawberry.input(description="A note on a case.")
class AddCaseNoteInput:
    case_id: strawberry.ID
    note: str = strawberry.field(description="Plain text, trimmed; no card numbers or SSNs.")
    idempotency_key: str = strawberry.field(description=_KEY)


@strawberry.input(description="A new case for a customer.")
class CreateCaseInput:
    customer_id: strawberry.ID
    subject: str = strawberry.field(description="Plain text, trimmed; no card numbers or SSNs.")
    type: CaseCategory
    priority: CasePriority
    idempotency_key: str = strawberry.field(description=_KEY)
    note: str | None = strawberry.field(
        default=None, description="The case's description: plain text, as a note."
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Record the wrap-up of a contact: the caller's own (the CCaaS says so), or "
        "any for a supervisor."
    )
    async def record_disposition(self, info: Info, input: RecordDispositionInput) -> WriteResult:
        writes = info.context.writes
        return WriteResult.of(
            await writes.record_disposition(
                input.interaction_id, input.code, input.note, input.idempotency_key
            )
        )

    @strawberry.mutation(
        description="Add a note to a case of the customer of the caller's contact (named by "
        "X-Interaction-Id), or to any case for a supervisor."
    )
    async def add_case_note(self, info: Info, input: AddCaseNoteInput) -> WriteResult:
        writes = info.context.writes
        return WriteResult.of(
            await writes.add_case_note(input.case_id, input.note, input.idempotency_key)
        )

    @strawberry.mutation(
        description="Open a case for a customer the caller has had a contact with, or for any "
        "customer for a supervisor."
    )
    async def create_case(self, info: Info, input: CreateCaseInput) -> WriteResult:
        writes = info.context.writes
        return WriteResult.of(
            await writes.create_case(
                input.customer_id,
                input.subject,
                input.type.value,
                input.priority.value,
                input.note,
                input.idempotency_key,
            )
        )
