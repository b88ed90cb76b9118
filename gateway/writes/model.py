"""What a write is, as the GraphQL side hands it over and as the outbox keeps it (issue #15).

A `WriteIntent` is authorised and validated before it gets here; a `WriteRecord` is that intent
plus where it stands. The body hash (operation, target, fields) decides "same write" for an
idempotency key; the external id sent to the CRM is derived from (issuer, subject, key), never
the raw key, so one caller's keys can neither collide with nor reveal another's.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import orjson

from sources import CrmObject

__all__ = [
    "Operation",
    "Status",
    "Unreadable",
    "UnreadableRecord",
    "WriteIntent",
    "WriteRecord",
    "WriteResult",
    "Writes",
    "body_hash",
    "external_id",
    "idempotency_id",
    "new_write_id",
]

Operation = Literal["recordDisposition", "addCaseNote", "createCase"]
Status = Literal["APPLIED", "PENDING", "REJECTED"]
OPERATIONS: tuple[Operation, ...] = ("recordDisposition", "addCaseNote", "createCase")
CRM_OBJECTS: tuple[CrmObject, ...] = ("Task", "CaseComment", "Case")
STATUSES: tuple[Status, ...] = ("APPLIED", "PENDING", "REJECTED")


class IdempotencyKeyReused(Exception):
    """The same (issuer, subject, key) came with another body: never applied, never stored.
    (The GraphQL side answers it with its registered code.)"""

    def __init__(self) -> None:
        super().__init__("this idempotency key was used for a different write")


class NotADeadLetter(Exception):
    """`replay` of a write that is not in the dead-letter list (unknown, pending or applied)."""


class UnreadableRecord(ValueError):
    """A stored record this version cannot read: not JSON, a field missing or of another type,
    or a status, operation or CRM object it does not know (a newer or older release's record
    during a rolling upgrade, or a corrupted one). The message names the error's type and the
    field, never a value: a record holds notes and case text."""


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A write whose record could not be read, set aside by the store (out of the outbox, never
    retried, its raw record kept for `retention_hours` where an operator can read it) and listed
    next to the dead letters."""

    write_id: str
    reason: str
    """UnreadableRecord's message: the error's type and field, no value."""
    set_aside_at: float

    def summary(self) -> dict[str, object]:
        return {
            "writeId": self.write_id,
            "status": "UNREADABLE",
            "reason": self.reason,
            "setAsideAt": self.set_aside_at,
        }


@dataclass(frozen=True, slots=True)
class WriteIntent:
    operation: Operation
    issuer: str
    subject: str
    idempotency_key: str
    target: str
    """The interaction id / case id / customer id written about."""
    crm_object: CrmObject
    fields: Mapping[str, str | None]
    """The CRM fields of docs/sandbox.md "Writes", final."""
    customer_id: str | None = None
    """The CRM customer the write is about, when the gateway learned it checking the write
    (its canonical event names it, so that customer's journey shows the change)."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    write_id: str
    status: Status
    record_id: str | None = None
    code: str | None = None
    """Why REJECTED (the CRM's code), or the last retry's error while PENDING."""
    message: str | None = None


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """A write as the store keeps it. `fields` hold the intent until it is APPLIED and are
    dropped then: the CRM is the system of record, the outbox only what is still owed."""

    write_id: str
    idem: str
    """idempotency_id(issuer, subject, key): the reservation's key."""
    body_hash: str
    operation: Operation
    issuer: str
    subject: str
    target: str
    crm_object: CrmObject
    external_id: str
    fields: Mapping[str, str | None] = field(default_factory=dict)
    status: Status = "PENDING"
    record_id: str | None = None
    code: str | None = None
    message: str | None = None
    attempts: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    next_at: float = 0.0
    """When the worker may try it next (a lease while an attempt is out)."""
    customer_id: str | None = None
    """WriteIntent.customer_id."""
    dead: bool = False
    """REJECTED by the worker (retries ended, or the CRM said no to a queued write): in the
    dead-letter list an operator can replay. A write rejected while its caller waited is not."""

    @property
    def result(self) -> WriteResult:
        return WriteResult(self.write_id, self.status, self.record_id, self.code, self.message)

    @property
    def final(self) -> bool:
        return self.status != "PENDING"

    def settled(
        self,
        status: Status,
        now: float,
        *,
        record_id: str | None = None,
        code: str | None = None,
        message: str | None = None,
        dead: bool = False,
    ) -> WriteRecord:
        return replace(
            self,
            status=status,
            record_id=record_id,
            code=code,
            message=message,
            updated_at=now,
            dead=dead,
            fields={} if status == "APPLIED" else self.fields,
        )

    def requeued(self, now: float) -> WriteRecord:
        """A dead letter back in the outbox (operator replay): due now, attempts and age
        reset, so max_attempts and max_age_seconds apply afresh."""
        return replace(
            self,
            status="PENDING",
            dead=False,
            attempts=0,
            code=None,
            message=None,
            created_at=now,
            updated_at=now,
            next_at=now,
        )

    def summary(self) -> dict[str, object]:
        """What an operator sees (dead-letter list, CLI): ids, outcome and times, never the
        fields — a note is free text and may name a customer."""
        return {
            "writeId": self.write_id,
            "operation": self.operation,
            "crmObject": self.crm_object,
            "target": self.target,
            "subject": self.subject,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    def to_json(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def from_json(cls, raw: bytes | str) -> WriteRecord:
        """The record `to_json` wrote, checked: UnreadableRecord for anything else. A field this
        version does not know (written by a newer replica during a rolling upgrade) is ignored,
        as one it knows but the record lacks takes its default; a value it cannot act on (an
        unknown status would read as final, and the write be dropped) is refused."""
        try:
            values = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UnreadableRecord(f"JSONDecodeError: {exc.msg}") from None
        if not isinstance(values, dict):
            raise UnreadableRecord("not a JSON object")
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for name in _REQUIRED:
            if not isinstance(known.get(name), str):
                raise UnreadableRecord(f"field {name} missing or not a string")
        for name, types in _TYPES.items():
            if name in known and not isinstance(known[name], types):
                raise UnreadableRecord(f"field {name} is not of its type")
        fields = known.get("fields", {})
        if not all(isinstance(v, str | None) for v in fields.values()):
            raise UnreadableRecord("field fields holds a value that is not a string")
        for name, allowed in _ENUMS.items():
            if name in known and known[name] not in allowed:
                raise UnreadableRecord(f"field {name} has a value this version does not know")
        return cls(**known)

    @classmethod
    def of(cls, intent: WriteIntent, now: float, lease: float) -> WriteRecord:
        """A new PENDING record for `intent`, leased to its direct attempt for `lease` seconds
        (so no worker delivers it meanwhile; if this process dies, it is due after that)."""
        if intent.operation not in OPERATIONS or intent.crm_object not in CRM_OBJECTS:
            raise ValueError("unknown operation or CRM object")
        if not (intent.issuer and intent.subject and intent.idempotency_key):
            raise ValueError("a write needs its issuer, subject and idempotency key")
        return cls(
            write_id=new_write_id(),
            idem=idempotency_id(intent.issuer, intent.subject, intent.idempotency_key),
            body_hash=body_hash(intent),
            operation=intent.operation,
            issuer=intent.issuer,
            subject=intent.subject,
            target=intent.target,
            crm_object=intent.crm_object,
            external_id=external_id(intent.issuer, intent.subject, intent.idempotency_key),
            fields=dict(intent.fields),
            customer_id=intent.customer_id,
            created_at=now,
            updated_at=now,
            next_at=now + lease,
        )


_REQUIRED = (
    "write_id",
    "idem",
    "body_hash",
    "operation",
    "issuer",
    "subject",
    "target",
    "crm_object",
    "external_id",
)
_NUMBER = (int, float)
_TYPES: dict[str, type | tuple[type, ...]] = {
    "fields": dict,
    "status": str,
    "record_id": (str, type(None)),
    "code": (str, type(None)),
    "message": (str, type(None)),
    "attempts": int,
    "created_at": _NUMBER,
    "updated_at": _NUMBER,
    "next_at": _NUMBER,
    "customer_id": (str, type(None)),
    "dead": bool,
}
_ENUMS: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "operation": OPERATIONS,
    "crm_object": CRM_OBJECTS,
}


def new_write_id() -> str:
    """Opaque and unguessable: knowing one write's id says nothing of another's."""
    return "w_" + secrets.token_hex(16)


_WRITE_ID = re.compile(r"w_[0-9a-f]{32}")


def is_write_id(text: str) -> bool:
    """Whether `text` has the shape `new_write_id` makes: anything else (a caller's guess, a
    corrupted stream entry) names no write, and is never logged as it is."""
    return _WRITE_ID.fullmatch(text) is not None


def _digest(*parts: str) -> str:
    # length-prefixed, so ("ab", "c") and ("a", "bc") never meet
    joined = "".join(f"{len(p)}:{p}" for p in parts)
    return hashlib.sha256(joined.encode()).hexdigest()


def idempotency_id(issuer: str, subject: str, key: str) -> str:
    return _digest("idem", issuer, subject, key)


def external_id(issuer: str, subject: str, key: str) -> str:
    """The CRM's ExternalId__c for this (issuer, subject, key): stable across retries and
    replicas, distinct per caller, and no key in it."""
    return "sb_" + _digest("external", issuer, subject, key)[:32]


def body_hash(intent: WriteIntent) -> str:
    fields = orjson.dumps(dict(intent.fields), option=orjson.OPT_SORT_KEYS).decode()
    return _digest("body", intent.operation, intent.target, fields)


class Writes(Protocol):
    """The write service as the GraphQL side sees it (gateway/writes/service.py)."""

    async def submit(self, intent: WriteIntent) -> WriteResult: ...

    async def get(self, write_id: str) -> WriteRecord | None: ...

    async def dead_letters(self, limit: int = 100) -> list[WriteRecord]: ...

    async def unreadable(self, limit: int = 100) -> list[Unreadable]:
        """Writes set aside because their record could not be read (listed with the dead
        letters)."""
        ...

    async def replay(self, write_id: str) -> WriteResult: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...
