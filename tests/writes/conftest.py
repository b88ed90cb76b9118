"""The write service's tests: every store-level and service-level test runs against both
stores (SQLite in a temp dir; a throwaway redis-server, flushed between tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as redis

from gateway.writes import OutboxWrites, Store, WriteIntent, WriteRecord, WriteSettings
from gateway.writes.redis_store import RedisStore
from gateway.writes.sqlite_store import SqliteStore
from sources import SourceUnavailable, Upserted, WriteRejected
from sources.crm import CrmObject
from tests.support.redis import redis_server

FAST = {
    "deadline_ms": 200,
    "backoff_base_seconds": 0.01,
    "backoff_max_seconds": 0.05,
    "claim_idle_seconds": 0.5,
    "poll_seconds": 0.02,
}


def fast_settings(**more: object) -> WriteSettings:
    return WriteSettings(**{**FAST, **more})  # type: ignore[arg-type]


def intent(key: str = "key-1", note: str = "called back", **more: object) -> WriteIntent:
    values: dict[str, object] = {
        "operation": "recordDisposition",
        "issuer": "https://idp.example",
        "subject": "agent-0001",
        "idempotency_key": key,
        "target": "contact-1",
        "crm_object": "Task",
        "fields": {
            "InteractionId__c": "contact-1",
            "WhoId": None,
            "CallDisposition": "RESOLVED",
            "Description": note,
            "OwnerId": "agent-0001",
        },
    }
    values.update(more)
    return WriteIntent(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "redis"])
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Stores over one database: each call is another process's view (a replica, a restart)."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        flush = redis.from_url(url)
        await flush.flushdb()
        await flush.aclose()

        def make() -> Store:
            return RedisStore(url, retention_seconds=3600, claim_idle_seconds=0.5)

    else:
        path = str(tmp_path / "outbox.sqlite3")

        def make() -> Store:
            return SqliteStore(path)

    yield make


@dataclass
class FakeCrm:
    """The CRM as the service sees it, by external id: `mode` is ok | down | hang | reject |
    applied_then_hang. Records one record per external id, as upsert by external id does."""

    mode: str = "ok"
    records: dict[str, dict[str, str | None]] = field(default_factory=dict)
    calls: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def upsert(
        self,
        obj: CrmObject,
        external_id: str,
        fields: Mapping[str, str | None],
        *,
        budget: float | None = None,
    ) -> Upserted:
        self.calls += 1
        self.entered.set()
        mode = self.mode
        if mode == "down":
            raise SourceUnavailable("crm", "crm is unreachable")
        if mode == "reject":
            raise WriteRejected("crm", "REQUIRED_FIELD_MISSING", "crm refused the Task")
        if mode == "hang":
            await self.release.wait()
        created = external_id not in self.records
        self.records[external_id] = dict(fields)
        if mode == "applied_then_hang":
            await self.release.wait()
        return Upserted(f"00T{len(self.records):015d}", created)


def task_intent(key: str, interaction: str, subject: str = "agent-0001") -> WriteIntent:
    """A disposition of `interaction` as the sandbox CRM takes it."""
    fields = {
        "InteractionId__c": interaction,
        "WhoId": None,
        "CallDisposition": "RESOLVED",
        "Description": "wrap-up note",
        "OwnerId": subject,
    }
    return intent(key, target=interaction, subject=subject, fields=fields)


async def settled(writes: OutboxWrites, write_id: str) -> WriteRecord:
    """The write once final (30 s: a guard against hanging, not a timing assertion); a write
    not found yet (another replica's, a restarted one's) is looked for again."""
    async with asyncio.timeout(30):
        while True:
            record = await writes.get(write_id)
            if record is not None and record.final:
                return record
            await asyncio.sleep(0.01)
