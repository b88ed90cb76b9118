"""Writes to the CRM (issue #15): idempotent by key, never lost, through an outbox of write
intents. The GraphQL side (mutations, authorisation, validation) builds `WriteIntent`s and
reads `app.state.writes`; this package attempts, queues, retries and settles them."""

from __future__ import annotations

from gateway.events.settings import EventSettings
from gateway.writes.model import (
    IdempotencyKeyReused,
    NotADeadLetter,
    Operation,
    Status,
    Unreadable,
    UnreadableRecord,
    WriteIntent,
    WriteRecord,
    WriteResult,
    Writes,
)
from gateway.writes.service import OnSettled, OutboxWrites, Upserter
from gateway.writes.settings import WriteSettings
from gateway.writes.store import Store

__all__ = [
    "IdempotencyKeyReused",
    "NotADeadLetter",
    "OnSettled",
    "Operation",
    "OutboxWrites",
    "Status",
    "Store",
    "Unreadable",
    "UnreadableRecord",
    "Upserter",
    "WriteIntent",
    "WriteRecord",
    "WriteResult",
    "WriteSettings",
    "Writes",
    "store_of",
    "writes_of",
]


def store_of(settings: WriteSettings, events: EventSettings) -> Store:
    """Redis when [events] redis_url is set (replicas share the outbox), else the SQLite file."""
    if events.redis_url:
        from gateway.writes.redis_store import RedisStore

        return RedisStore(events.redis_url, settings.retention_seconds, settings.claim_idle_seconds)
    from gateway.writes.sqlite_store import SqliteStore

    return SqliteStore(settings.outbox_path)


def writes_of(
    settings: WriteSettings,
    events: EventSettings,
    crm: Upserter,
    *,
    on_settled: OnSettled | None = None,
) -> OutboxWrites:
    return OutboxWrites(store_of(settings, events), crm, settings, on_settled=on_settled)
