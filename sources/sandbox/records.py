"""Generated records, each carrying its JSON already serialised.

The sandbox is also the benchmarks' back-end: serialising a record once and answering by joining
bytes keeps its own CPU out of the gateway's measurements. Only the few fields the endpoints
filter, sort or sample on are kept beside the bytes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson


@dataclass(frozen=True, slots=True)
class Joined:
    """Records kept newest first as one comma-joined blob, so "newest K" is a single slice."""

    blob: bytes
    ends: tuple[int, ...]  # ends[k] is the offset just past record k

    @classmethod
    def of(cls, bodies: Sequence[bytes]) -> Joined:
        ends, offset = [], 0
        for position, body in enumerate(bodies):
            offset += len(body) + (1 if position else 0)
            ends.append(offset)
        return cls(b",".join(bodies), tuple(ends))

    @property
    def count(self) -> int:
        return len(self.ends)

    def newest(self, k: int) -> bytes:
        if k <= 0 or not self.ends:
            return b""
        return self.blob[: self.ends[min(k, len(self.ends)) - 1]]


EMPTY = Joined(b"", ())


@dataclass(frozen=True, slots=True)
class Customer:
    ssn: str
    birthdate: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    account_type: str
    product: str
    current: str
    opened_days_ago: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Card:
    card_id: str
    pan: str
    account_id: str
    blocked: bool
    body: bytes


@dataclass(frozen=True, slots=True)
class Banking:
    """Accounts, cards and risk of one party: generated together because they must agree."""

    accounts: tuple[Account, ...]
    cards: tuple[Card, ...]
    fraud_hold: bool
    fraud_reason: str | None
    days_past_due: int
    risk: bytes


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: str
    time: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Case:
    closed: bool
    body: bytes


def dumps(value: object) -> bytes:
    """orjson's result keeps its ~4 KiB working buffer; an exact-size copy is what we cache."""
    return bytes(memoryview(orjson.dumps(value)))


class Clock:
    """Turns "so long before the anchor" into the ISO strings every system speaks."""

    def __init__(self, anchor: datetime) -> None:
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        self.anchor = anchor.astimezone(UTC)
        self._epoch = int(self.anchor.timestamp())

    def iso(self, seconds_before: float) -> str:
        # time.gmtime + an f-string is ~8x cheaper than datetime.strftime, and generation
        # formats hundreds of timestamps per customer.
        t = time.gmtime(self._epoch - int(seconds_before))
        return (
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
            f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"
        )

    def date(self, days_before: int) -> str:
        return (self.anchor - timedelta(days=days_before)).strftime("%Y-%m-%d")


def money(cents: int) -> str:
    """Open Banking amounts are decimal strings; never let a float round them."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def luhn_complete(partial: str) -> str:
    """Append the Luhn check digit (ISO/IEC 7812-1) so test PANs pass client-side validation."""
    total = 0
    for position, char in enumerate(reversed(partial)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return partial + str((10 - total % 10) % 10)
