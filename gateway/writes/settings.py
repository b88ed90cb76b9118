"""`[writes]`: how writes to the CRM are attempted, queued, retried and forgotten.

    [writes]
    deadline_ms = 2000            # the direct attempt; past it the write is PENDING in the outbox
    outbox_path = "./switchboard-outbox.sqlite3"   # one process; [events] redis_url: Redis
    max_attempts = 10
    max_age_seconds = 86400
    retention_hours = 24

Every key is overridable as SWITCHBOARD_WRITES_<KEY>.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_DISPOSITION_CODES", "WriteSettings"]

DEFAULT_DISPOSITION_CODES = (
    "RESOLVED",
    "FOLLOW_UP",
    "ESCALATED",
    "CALLBACK_SCHEDULED",
    "NO_ACTION",
    "TRANSFERRED",
)


@dataclass(frozen=True, slots=True)
class WriteSettings:
    deadline_ms: int = 2000
    """The direct attempt's budget: the CRM's answer within it is the mutation's answer
    (APPLIED/REJECTED); anything retryable, or no answer, makes the write PENDING."""
    outbox_path: str = "./switchboard-outbox.sqlite3"
    """The SQLite outbox (WAL) when there is no [events] redis_url. One process per file."""
    max_attempts: int = 10
    """Attempts sent to the CRM (the direct one included) before a write is dead-lettered."""
    max_age_seconds: float = 86_400.0
    """A write not delivered by then is dead-lettered, whatever its attempts."""
    retention_hours: float = 24.0
    """Outbox and idempotency records are deleted this long after the write was settled (a
    PENDING one never is): a key reused later is a new write."""
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    """Retry n waits uniform(0, min(max, base * 2**(n-1))) seconds: full jitter."""
    claim_idle_seconds: float = 30.0
    """Redis: a delivery claimed by a replica and not acknowledged for this long (the replica
    died) is claimed by another (XAUTOCLAIM). Must exceed the deadline."""
    worker_concurrency: int = 16
    """Deliveries in flight at once per process."""
    poll_seconds: float = 0.5
    """How often the worker looks for due writes when it found none."""
    disposition_codes: tuple[str, ...] = DEFAULT_DISPOSITION_CODES
    """The codes recordDisposition accepts (validated by the GraphQL side)."""
    max_note_chars: int = 2000
    """Notes longer than this (after trimming) are refused (validated by the GraphQL side)."""

    def __post_init__(self) -> None:
        if not 10 <= self.deadline_ms <= 60_000:
            raise ValueError("deadline_ms must be between 10 and 60000")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.max_age_seconds <= self.retention_hours * 3600:
            raise ValueError("max_age_seconds must be > 0 and within retention_hours")
        if not 0 < self.backoff_base_seconds <= self.backoff_max_seconds:
            raise ValueError("backoff_base_seconds must be > 0 and <= backoff_max_seconds")
        if self.claim_idle_seconds * 1000 <= self.deadline_ms:
            raise ValueError("claim_idle_seconds must exceed the deadline (deadline_ms)")
        if self.worker_concurrency < 1 or not self.poll_seconds > 0:
            raise ValueError("worker_concurrency must be >= 1 and poll_seconds > 0")
        if not self.outbox_path:
            raise ValueError("outbox_path must name a file")
        if not self.disposition_codes or len(set(self.disposition_codes)) != len(
            self.disposition_codes
        ):
            raise ValueError("disposition_codes must list distinct codes")
        if not 1 <= self.max_note_chars <= 32_000:
            raise ValueError("max_note_chars must be between 1 and 32000")

    @property
    def deadline(self) -> float:
        return self.deadline_ms / 1000

    @property
    def retention_seconds(self) -> float:
        return self.retention_hours * 3600
