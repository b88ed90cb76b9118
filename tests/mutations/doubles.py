"""A test double of the write service (WRITES-CONTRACT.md section 3's `Writes` Protocol): keeps
intents in memory, idempotent per (issuer, subject, key) over (operation, target, fields), and
answers APPLIED — or PENDING, settled later by the test through the `on_settled` hook, the way
the outbox worker would."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import fields, replace
from typing import Any

import orjson

from gateway.writes import (
    IdempotencyKeyReused,
    OnSettled,
    Unreadable,
    WriteIntent,
    WriteRecord,
    WriteResult,
)


class FakeWrites:
    def __init__(self, on_settled: OnSettled) -> None:
        self.on_settled = on_settled
        self.intents: list[WriteIntent] = []
        self.records: dict[str, WriteRecord] = {}
        self._keys: dict[tuple[str, str, str], tuple[str, str]] = {}
        self.pending = False
        """Answer PENDING (the CRM is down) instead of APPLIED."""
        self.loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, intent: WriteIntent) -> WriteResult:
        body = hashlib.sha256(
            orjson.dumps([intent.operation, intent.target, dict(intent.fields)])
        ).hexdigest()
        who = (intent.issuer, intent.subject, intent.idempotency_key)
        first = self._keys.get(who)
        if first is not None:
            if first[1] != body:
                raise IdempotencyKeyReused
            return _result(self.records[first[0]])
        self.intents.append(intent)
        write_id = "w_" + secrets.token_hex(16)
        self._keys[who] = (write_id, body)
        record = make_record(
            crm_object=intent.crm_object,
            write_id=write_id,
            status="PENDING" if self.pending else "APPLIED",
            operation=intent.operation,
            target=intent.target,
            issuer=intent.issuer,
            subject=intent.subject,
            record_id=None if self.pending else f"00T{len(self.intents):015d}",
        )
        self.records[write_id] = record
        if not self.pending:
            await self.on_settled(record)
        return _result(record)

    async def get(self, write_id: str) -> WriteRecord | None:
        return self.records.get(write_id)

    async def dead_letters(self, limit: int = 100) -> list[WriteRecord]:
        return []

    async def unreadable(self, limit: int = 100) -> list[Unreadable]:
        return []

    async def replay(self, write_id: str) -> WriteResult:
        return _result(self.records[write_id])

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def aclose(self) -> None:
        return None

    async def settle(self, write_id: str, record_id: str = "00T000000000000999") -> None:
        record = replace(self.records[write_id], status="APPLIED", record_id=record_id)
        self.records[write_id] = record
        await self.on_settled(record)

    def settle_from_another_thread(self, write_id: str) -> None:
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(self.settle(write_id), self.loop).result(10)


def _result(record: WriteRecord) -> WriteResult:
    return WriteResult(
        write_id=record.write_id,
        status=record.status,
        record_id=record.record_id,
        code=record.code,
        message=record.message,
    )


def make_record(**given: Any) -> WriteRecord:
    """A WriteRecord from the fields the GraphQL side reads; the service's own bookkeeping
    fields (its idempotency id, body hash, external id...) get placeholders when the record
    class has them, so this double serves both the contract's stand-in and the service's."""
    names = {f.name for f in fields(WriteRecord)}
    filler: dict[str, Any] = {"idem": "", "body_hash": "", "external_id": "", "crm_object": "Task"}
    extra = {k: v for k, v in filler.items() if k in names and k not in given}
    return WriteRecord(**{k: v for k, v in given.items() if k in names}, **extra)
