"""Where write intents wait: one Protocol, two stores (SQLite for one process, Redis for
replicas), held to one shared test suite (tests/writes/test_stores.py).

Every state change is conditional on the state it expects (a PENDING write is settled once, a
dead letter replayed once), so two attempts racing each other — a direct attempt and a worker,
or two replicas after a claim — cannot both report an outcome.
"""

from __future__ import annotations

import logging
from typing import Protocol

from gateway.writes.model import Unreadable, WriteRecord, is_write_id

__all__ = ["Store", "log_set_aside"]

log = logging.getLogger("switchboard.writes")


class Store(Protocol):
    async def open(self) -> None:
        """Create what the store needs (tables, the consumer group); idempotent."""
        ...

    async def reserve(self, record: WriteRecord) -> WriteRecord | None:
        """Atomically take `record.idem` for `record` (stored PENDING, due at `next_at`):
        None if it was free, else the record that already holds it."""
        ...

    async def get(self, write_id: str) -> WriteRecord | None: ...

    async def settle(self, record: WriteRecord) -> bool:
        """Store `record` (APPLIED or REJECTED) if the stored one is still PENDING: True if
        this call made the transition, False if something else settled it first."""
        ...

    async def defer(self, record: WriteRecord) -> bool:
        """Store a still-PENDING `record` (attempts, last error, `next_at`) if the stored one is
        still PENDING, releasing this process's claim on it."""
        ...

    async def claim(self, now: float, lease: float, limit: int) -> list[WriteRecord]:
        """Up to `limit` PENDING writes due by `now`, each taken for this process for `lease`
        seconds (Redis: until claim_idle_seconds pass unacknowledged)."""
        ...

    async def dead_letters(self, limit: int) -> list[WriteRecord]:
        """Dead-lettered writes, newest first."""
        ...

    async def unreadable(self, limit: int) -> list[Unreadable]:
        """Writes whose record could not be read, set aside (newest first): out of the outbox
        and the dead letters, each once, by whichever read (claim, dead_letters, requeue) met
        it first; kept `retention_hours` from then."""
        ...

    async def requeue(self, write_id: str, now: float) -> WriteRecord | None:
        """A dead letter back to PENDING, due now, its attempts and age reset; None if
        `write_id` is not a dead letter."""
        ...

    async def purge(self, before: float) -> int:
        """Delete final writes settled (and unreadable ones set aside) before `before`, never a
        PENDING one; the number deleted (Redis expires them by itself and answers 0)."""
        ...

    async def oldest_pending(self) -> float | None:
        """When (time.time()) the oldest PENDING write was reserved; None when there is none
        (the outbox-age metric)."""
        ...

    async def pending(self) -> int:
        """How many writes are PENDING (the outbox's depth)."""
        ...

    async def unreadable_count(self) -> int:
        """How many writes are set aside as unreadable (the switchboard_outbox_unreadable
        gauge): a count, not a listing."""
        ...

    async def aclose(self) -> None: ...


def log_set_aside(write_id: str, reason: str) -> None:
    """The one ERROR line per record set aside: its id and why, never the record (notes and
    case text)."""
    log.error(
        "write %s: its outbox record cannot be read (%s); set aside, never delivered: see"
        " `switchboard writes dead-letters`",
        # what the gateway did not make (a corrupted stream entry) is logged escaped, never as
        # lines of its own
        write_id if is_write_id(write_id) else ascii(write_id[:80]),
        reason,
    )
