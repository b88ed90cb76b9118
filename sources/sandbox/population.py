"""The eager part of the synthetic population: who exists and how to find them.

Only what the lookup indexes need (ids, names, phones, emails, account numbers) is drawn up
front, from one seeded stream; everything else about a customer is generated on first use from
(seed, index) in `generate`. That keeps start-up with 10,000 customers in the tens of
milliseconds while every answer stays a pure function of the seed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from .vocabulary import FIRST_NAMES, LAST_NAMES

# Share of "slots" that start a household of 2-3 customers sharing a Home phone. With the
# per-customer phone mix below this makes roughly 10% of distinct phone numbers shared.
_HOUSEHOLD_RATE = 0.155
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
CANARY = "Qanary"
"""`canary=True`: every name (so every e-mail) and street starts with this marker, found by
`grep -i qanary` in whatever must never hold customer data (logs, metrics, spans)."""


def _bijection(serial: int, multiplier: int, offset: int, modulus: int) -> int:
    """Scatter consecutive serials over a range without collisions (multiplier is coprime)."""
    return (serial * multiplier + offset) % modulus


@dataclass(frozen=True, slots=True)
class Skeleton:
    """What the indexes need to know about a customer; the rest is generated lazily."""

    index: int
    crm_id: str
    party_id: str
    profile_id: str
    first_name: str
    last_name: str
    household: int  # index of the household's first member, or -1 when living alone
    phones: tuple[tuple[str, str], ...]  # (Type, E.164 number)
    emails: tuple[str, ...]
    account_ids: tuple[str, ...]
    account_numbers: tuple[str, ...]


class Population:
    """Customers' skeletons plus the lookup indexes every search and batch endpoint uses."""

    def __init__(self, seed: int, size: int, *, canary: bool = False) -> None:
        if size < 1:
            raise ValueError("the sandbox needs at least one customer")
        self.seed = seed
        self.canary = canary
        self.size = size
        rng = random.Random(seed)
        self._phone_offset = rng.randrange(8_000_000)
        self._account_offset = rng.randrange(9_000_000_000)
        self._account_id_offset = rng.randrange(1_000_000_000)
        party_numbers = list(range(size))
        rng.shuffle(party_numbers)
        self.sample_order: tuple[int, ...] = tuple(rng.sample(range(size), size))
        self._phone_serial = 0
        self._account_serial = 0

        self.customers: list[Skeleton] = []
        self.by_crm_id: dict[str, int] = {}
        self.by_party_id: dict[str, int] = {}
        self.by_profile_id: dict[str, int] = {}
        self.by_phone: dict[str, list[int]] = {}
        self.by_email: dict[str, list[int]] = {}
        self.by_account_id: dict[str, tuple[int, int]] = {}
        self.by_account_number: dict[str, tuple[int, int]] = {}

        index = 0
        while index < size:
            if rng.random() < _HOUSEHOLD_RATE and index + 1 < size:
                members = min(rng.choice((2, 2, 3)), size - index)
                last_name = rng.choice(LAST_NAMES)
                home = self._next_phone()
                for member in range(members):
                    self._add(rng, index + member, party_numbers, last_name, index, home)
                index += members
            else:
                self._add(rng, index, party_numbers, rng.choice(LAST_NAMES), -1, None)
                index += 1

    def _next_phone(self) -> str:
        value = _bijection(self._phone_serial, 2_654_437, self._phone_offset, 8_000_000)
        self._phone_serial += 1
        area, line = 200 + value // 10_000, value % 10_000
        return f"+1{area}555{line:04d}"

    def _add(
        self,
        rng: random.Random,
        index: int,
        party_numbers: list[int],
        last_name: str,
        household: int,
        home: str | None,
    ) -> None:
        first_name = rng.choice(FIRST_NAMES)
        if self.canary:  # marked after the draws: the rest of the population stays the same
            first_name, last_name = CANARY + first_name, CANARY + last_name
        phones: list[tuple[str, str]] = []
        if home is None or rng.random() < 0.7:
            phones.append(("Mobile", self._next_phone()))
        if home is not None:
            phones.append(("Home", home))
        elif rng.random() < 0.2:
            phones.append(("Home", self._next_phone()))
        if rng.random() < 0.15:
            phones.append(("Work", self._next_phone()))
        domain = _EMAIL_DOMAINS[index % len(_EMAIL_DOMAINS)]
        emails = [f"{first_name}.{last_name}{index}@{domain}".lower()]
        if rng.random() < 0.1:
            emails.append(f"{first_name[0]}{last_name}.{index}@mail.example.com".lower())
        account_ids, account_numbers = [], []
        for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
            serial = self._account_serial
            self._account_serial += 1
            number = 1_000_000_000 + _bijection(
                serial, 7_919_117_911, self._account_offset, 9_000_000_000
            )
            account_ids.append(
                f"ACC{_bijection(serial, 7_654_321, self._account_id_offset, 10**9):09d}"
            )
            account_numbers.append(str(number))
        digest = hashlib.blake2b(f"{self.seed}/{index}".encode(), digest_size=16).hexdigest()
        skeleton = Skeleton(
            index=index,
            crm_id=f"003SB{index + 1:013d}",
            party_id=f"PTY{100_000_000 + party_numbers[index]}",
            profile_id=digest,
            first_name=first_name,
            last_name=last_name,
            household=household,
            phones=tuple(phones),
            emails=tuple(emails),
            account_ids=tuple(account_ids),
            account_numbers=tuple(account_numbers),
        )
        self.customers.append(skeleton)
        self.by_crm_id[skeleton.crm_id] = index
        self.by_party_id[skeleton.party_id] = index
        self.by_profile_id[skeleton.profile_id] = index
        for _, phone in phones:
            self.by_phone.setdefault(phone, []).append(index)
        for email in emails:
            self.by_email.setdefault(email, []).append(index)
        for ordinal, (account_id, number_text) in enumerate(
            zip(account_ids, account_numbers, strict=True)
        ):
            self.by_account_id[account_id] = (index, ordinal)
            self.by_account_number[number_text] = (index, ordinal)
