"""Lazy, deterministic generation of a customer's identity and banking records.

Every part draws from its own `random.Random` seeded by (seed, customer index, part), so parts
can be generated in any order, on any request, and still come out identical across runs.
"""

from __future__ import annotations

import random

from .population import CANARY, Population, Skeleton
from .records import (
    Account,
    Banking,
    Card,
    Clock,
    Customer,
    Joined,
    dumps,
    luhn_complete,
    money,
)
from .vocabulary import (
    CITIES,
    FRAUD_REASONS,
    LANGUAGES,
    MERCHANTS,
    PRODUCTS,
    STREETS,
)

CUSTOMER, BANKING, LEDGER, EVENTS, CONTACTS, CASES, ADDRESS = range(1, 8)
DAY = 86_400
HISTORY_DAYS = 90

_ACCOUNT_TYPES = ("SAVINGS", "SAVINGS", "CREDIT_CARD", "CREDIT_CARD", "CREDIT_CARD", "LOAN")
_TEST_BINS = {"VISA": ("411111", "424242", "400005"), "MASTERCARD": ("555555", "510510", "222300")}


class Generator:
    """Pure functions of (seed, anchor, index): call them as often as you like."""

    def __init__(self, population: Population, clock: Clock) -> None:
        self.population = population
        self.clock = clock
        self.seed = population.seed

    def rng(self, index: int, part: int, sub: int = 0) -> random.Random:
        return random.Random(((self.seed * 1_000_003 + index) * 64 + part) * 128 + sub)

    def skeleton(self, index: int) -> Skeleton:
        return self.population.customers[index]

    def customer(self, index: int) -> Customer:
        who = self.skeleton(index)
        rng = self.rng(index, CUSTOMER)
        # Household members share an address: draw it from the household's own stream.
        home = self.rng(who.household if who.household >= 0 else index, ADDRESS)
        city, state, zip_prefix = home.choice(CITIES)
        canary = f"{CANARY} " if self.population.canary else ""
        birth_year = self.clock.anchor.year - rng.randint(19, 88)
        birthdate = f"{birth_year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        ssn = f"9{rng.randint(0, 99):02d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        segment = rng.choices(("MASS", "PREMIER", "PRIVATE"), (85, 12, 3))[0]
        created = self.clock.iso(rng.randint(120, 15 * 365) * DAY + rng.randint(0, DAY))
        body = dumps(
            {
                "Id": who.crm_id,
                "FirstName": who.first_name,
                "LastName": who.last_name,
                "Birthdate": birthdate,
                "SSN__c": ssn,
                "Phones": [{"Type": kind, "Number": number} for kind, number in who.phones],
                "Emails": list(who.emails),
                "MailingAddress": {
                    "street": f"{home.randint(1, 999)} {canary}{home.choice(STREETS)}",
                    "city": city,
                    "state": state,
                    "postalCode": f"{zip_prefix}{home.randint(0, 99):02d}",
                    "country": "US",
                },
                "Segment__c": segment,
                "PreferredLanguage__c": rng.choice(LANGUAGES),
                "CoreParty__c": who.party_id,
                "CcaasProfile__c": who.profile_id,
                "CreatedDate": created,
            }
        )
        return Customer(ssn=ssn, birthdate=birthdate, body=body)

    def banking(self, index: int) -> Banking:
        who = self.skeleton(index)
        rng = self.rng(index, BANKING)
        types = ["CHECKING" if rng.random() < 0.9 else "SAVINGS"]
        types += [rng.choice(_ACCOUNT_TYPES) for _ in who.account_ids[1:]]
        fraud_hold = rng.random() < 0.03
        fraud_reason = rng.choice(FRAUD_REASONS) if fraud_hold else None
        accounts: list[Account] = []
        cards: list[Card] = []
        worst_dpd = 0
        for ordinal, (account_id, number) in enumerate(
            zip(who.account_ids, who.account_numbers, strict=True)
        ):
            kind = types[ordinal]
            dpd = 0
            if kind in ("CREDIT_CARD", "LOAN") and rng.random() < 0.06:
                dpd = rng.choice((5, 15, 30, 45, 60, 95, 150))
            worst_dpd = max(worst_dpd, dpd)
            current, available = self._balances(rng, kind)
            opened = rng.randint(5, HISTORY_DAYS) if rng.random() < 0.05 else rng.randint(91, 6000)
            status = rng.choices(("Enabled", "Disabled", "Pending"), (95, 3, 2))[0]
            product = rng.choice(PRODUCTS[kind])
            body = dumps(
                {
                    "AccountId": account_id,
                    "PartyId": who.party_id,
                    "AccountType": kind,
                    "ProductName": product,
                    "Status": status,
                    "Currency": "USD",
                    "AccountNumber": number,
                    "Balance": {"Current": money(current), "Available": money(available)},
                    "OpenedOn": self.clock.date(opened),
                    "DaysPastDue": dpd,
                }
            )
            accounts.append(Account(account_id, kind, product, money(current), opened, body))
            if kind in ("CHECKING", "CREDIT_CARD"):
                cards.append(self._card(rng, who, account_id, len(cards), fraud_hold))
        if worst_dpd == 0:
            collections = "CURRENT"
        elif worst_dpd >= 120:
            collections = "CHARGED_OFF"
        else:
            collections = "ARRANGEMENT" if rng.random() < 0.3 else "DELINQUENT"
        risk = dumps(
            {
                "PartyId": who.party_id,
                "FraudHold": fraud_hold,
                "FraudReason": fraud_reason,
                "CollectionsStatus": collections,
                "DaysPastDue": worst_dpd,
            }
        )
        return Banking(tuple(accounts), tuple(cards), fraud_hold, fraud_reason, worst_dpd, risk)

    @staticmethod
    def _balances(rng: random.Random, kind: str) -> tuple[int, int]:
        """Liabilities (cards, loans) are negative, as the ledger sees them."""
        if kind == "CHECKING":
            current = int(rng.lognormvariate(12.5, 1.2)) - (40_000 if rng.random() < 0.04 else 0)
            return current, current - rng.choice((0, 0, 0, rng.randint(100, 20_000)))
        if kind == "SAVINGS":
            current = int(rng.lognormvariate(14.0, 1.4))
            return current, current
        if kind == "CREDIT_CARD":
            limit = rng.choice((100_000, 250_000, 500_000, 1_000_000))
            owed = rng.randint(0, limit)
            return -owed, limit - owed
        return -rng.randint(200_000, 4_000_000), 0

    def _card(
        self, rng: random.Random, who: Skeleton, account_id: str, ordinal: int, fraud_hold: bool
    ) -> Card:
        brand = rng.choice(("VISA", "VISA", "MASTERCARD"))
        prefix = rng.choice(_TEST_BINS[brand])
        pan = luhn_complete(prefix + "".join(rng.choice("0123456789") for _ in range(9)))
        blocked = (fraud_hold and ordinal == 0) or rng.random() < 0.02
        status = "Blocked" if blocked else ("Expired" if rng.random() < 0.03 else "Active")
        year = self.clock.anchor.year + (rng.randint(-2, -1) if status == "Expired" else 3)
        card_id = f"CRD{who.party_id[3:]}{ordinal}"
        body = dumps(
            {
                "CardId": card_id,
                "PartyId": who.party_id,
                "AccountId": account_id,
                "Pan": pan,
                "Brand": brand,
                "Status": status,
                "Expiry": f"{year}-{rng.randint(1, 12):02d}",
            }
        )
        return Card(card_id, pan, account_id, blocked, body)

    def ledger(self, index: int, ordinal: int, account: Account) -> Joined:
        """An account's transactions over the last 90 days, newest first."""
        rng = self.rng(index, LEDGER, ordinal)
        count = min(60, int(rng.expovariate(1 / 12)))
        if account.opened_days_ago < HISTORY_DAYS:
            count //= 3
        horizon = min(account.opened_days_ago, HISTORY_DAYS) * DAY
        offsets = sorted(rng.randint(600, max(601, horizon)) for _ in range(count))
        bodies = []
        for position, offset in enumerate(offsets):
            indicator, cents, information, merchant = self._movement(rng, account.account_type)
            status = "PDNG" if offset < 2 * DAY and rng.random() < 0.6 else "BOOK"
            if rng.random() < 0.02:
                status = "RJCT"
            bodies.append(
                dumps(
                    {
                        "TransactionId": f"TX{account.account_id[3:]}{position:03d}",
                        "AccountId": account.account_id,
                        "BookingDateTime": self.clock.iso(offset),
                        "Amount": {"Amount": money(cents), "Currency": "USD"},
                        "CreditDebitIndicator": indicator,
                        "Status": status,
                        "TransactionInformation": information,
                        "MerchantDetails": {"MerchantName": merchant} if merchant else None,
                    }
                )
            )
        return Joined.of(bodies)

    @staticmethod
    def _movement(rng: random.Random, kind: str) -> tuple[str, int, str, str | None]:
        roll = rng.random()
        if kind == "SAVINGS":
            if roll < 0.1:
                return "Credit", rng.randint(5, 900), "Interest payment", None
            if roll < 0.7:
                return "Credit", rng.randint(5_000, 100_000), "Transfer from checking", None
            return "Debit", rng.randint(5_000, 150_000), "Transfer to checking", None
        if kind == "LOAN":
            if roll < 0.6:
                return "Credit", rng.randint(15_000, 90_000), "Loan payment - thank you", None
            return "Debit", rng.randint(1_000, 20_000), "Interest charged", None
        if kind == "CHECKING" and roll < 0.12:
            return "Credit", rng.randint(80_000, 450_000), "Payroll ACME CORP", None
        if kind == "CHECKING" and roll < 0.18:
            return "Debit", rng.choice((2_000, 4_000, 6_000, 10_000)), "ATM withdrawal", None
        if kind == "CREDIT_CARD" and roll < 0.1:
            return "Credit", rng.randint(5_000, 200_000), "Payment - thank you", None
        merchant = rng.choice(MERCHANTS)
        cents = int(rng.lognormvariate(7.8, 1.0)) + 99
        return "Debit", cents, f"Card purchase {merchant.upper()}", merchant
