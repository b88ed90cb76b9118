"""The write service's contract (WRITES-CONTRACT.md section 3), as the GraphQL side codes
against it. A stand-in: the backend's own definitions replace this module's when the two halves
are merged, under the same names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "CrmObject",
    "IdempotencyKeyReused",
    "OnSettled",
    "Operation",
    "Status",
    "UnwiredWrites",
    "WriteIntent",
    "WriteRecord",
    "WriteResult",
    "Writes",
]

Operation = Literal["recordDisposition", "addCaseNote", "createCase"]
CrmObject = Literal["Task", "CaseComment", "Case"]
Status = Literal["APPLIED", "PENDING", "REJECTED"]


@dataclass(frozen=True, slots=True)
class WriteIntent:
    """Already authorised and validated (gateway/writes/api.py)."""

    operation: Operation
    issuer: str
    subject: str
    idempotency_key: str
    target: str
    crm_object: CrmObject
    fields: Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class WriteResult:
    write_id: str
    status: Status
    record_id: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """Where a write stands, with whose it is (the owner check) and what it was about."""

    write_id: str
    status: Status
    operation: Operation
    target: str
    issuer: str
    subject: str
    record_id: str | None = None
    code: str | None = None
    message: str | None = None


class IdempotencyKeyReused(Exception):
    """The same (issuer, subject, key) with another body."""


OnSettled = Callable[[WriteRecord], Awaitable[None]]


class Writes(Protocol):
    async def submit(self, intent: WriteIntent) -> WriteResult: ...
    async def get(self, write_id: str) -> WriteRecord | None: ...
    async def dead_letters(self, limit: int = 100) -> list[WriteRecord]: ...
    async def replay(self, write_id: str) -> WriteResult: ...
    async def start(self) -> None: ...
    async def aclose(self) -> None: ...


class UnwiredWrites:
    """Until the write service is wired (gateway/app.py): every write fails as internal."""

    async def submit(self, intent: WriteIntent) -> WriteResult:
        raise RuntimeError("the write service is not wired")

    async def get(self, write_id: str) -> WriteRecord | None:
        return None

    async def dead_letters(self, limit: int = 100) -> list[WriteRecord]:
        return []

    async def replay(self, write_id: str) -> WriteResult:
        raise RuntimeError("the write service is not wired")

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
