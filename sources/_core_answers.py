"""The core's answers as it sends them (Open Banking-style `Data` envelopes), decoded in C by
msgspec, and their mapping onto records: the fast way of sources/_decode.py. Required fields have
no default, a closed vocabulary is its `Literal`, unknown keys are ignored; decimals and
timestamps stay strings here and are converted by the reference decoder's own functions."""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

from ._decode import Int64, parse_instant, parse_money
from .records import (
    Account,
    AccountStatus,
    AccountType,
    Address,
    Card,
    CardBrand,
    CardStatus,
    CollectionsStatus,
    CoreEvent,
    CoreEventType,
    Party,
    Risk,
    Transaction,
    TransactionStatus,
)


class _Balance(msgspec.Struct, gc=False):
    Current: str
    Available: str | None = None


class _Account(msgspec.Struct, gc=False):
    AccountId: str
    PartyId: str
    AccountType: AccountType
    ProductName: str
    Status: AccountStatus
    Currency: str
    AccountNumber: str
    Balance: _Balance
    OpenedOn: date
    DaysPastDue: Int64


class _AccountsData(msgspec.Struct, gc=False):
    Account: list[_Account]


class Accounts(msgspec.Struct, gc=False):
    Data: _AccountsData


def accounts(answer: Accounts) -> list[Account]:
    return [
        Account(
            id=a.AccountId,
            party_id=a.PartyId,
            type=a.AccountType,
            product_name=a.ProductName,
            status=a.Status,
            currency=a.Currency,
            account_number=a.AccountNumber,
            balance=parse_money(a.Balance.Current),
            available_balance=None
            if a.Balance.Available is None
            else parse_money(a.Balance.Available),
            opened_on=a.OpenedOn,
            days_past_due=a.DaysPastDue,
        )
        for a in answer.Data.Account
    ]


class _Amount(msgspec.Struct, gc=False):
    Amount: str
    Currency: str


class _Merchant(msgspec.Struct, gc=False):
    MerchantName: str | None = None


class _Transaction(msgspec.Struct, gc=False):
    TransactionId: str
    AccountId: str
    BookingDateTime: str
    Amount: _Amount
    CreditDebitIndicator: Literal["Credit", "Debit"]
    Status: TransactionStatus
    TransactionInformation: str
    MerchantDetails: _Merchant | None = None


class _TransactionsData(msgspec.Struct, gc=False):
    Transaction: list[_Transaction]


class Transactions(msgspec.Struct, gc=False):
    Data: _TransactionsData


def transactions(answer: Transactions) -> list[Transaction]:
    out = []
    for t in answer.Data.Transaction:
        value = parse_money(t.Amount.Amount)
        merchant = t.MerchantDetails
        out.append(
            Transaction(
                id=t.TransactionId,
                account_id=t.AccountId,
                posted_at=parse_instant(t.BookingDateTime),
                amount=value if t.CreditDebitIndicator == "Credit" else -value,
                currency=t.Amount.Currency,
                description=t.TransactionInformation,
                status=t.Status,
                merchant=None if merchant is None else merchant.MerchantName,
            )
        )
    return out


class _Card(msgspec.Struct, gc=False):
    CardId: str
    PartyId: str
    AccountId: str
    Pan: str
    Brand: CardBrand
    Status: CardStatus
    Expiry: str


class _CardsData(msgspec.Struct, gc=False):
    Card: list[_Card]


class Cards(msgspec.Struct, gc=False):
    Data: _CardsData


def cards(answer: Cards) -> list[Card]:
    return [
        Card(
            id=c.CardId,
            party_id=c.PartyId,
            account_id=c.AccountId,
            pan=c.Pan,
            brand=c.Brand,
            status=c.Status,
            expiry=c.Expiry,
        )
        for c in answer.Data.Card
    ]


class _Risk(msgspec.Struct, gc=False):
    PartyId: str
    FraudHold: bool
    CollectionsStatus: CollectionsStatus
    DaysPastDue: Int64
    FraudReason: str | None = None


class _RisksData(msgspec.Struct, gc=False):
    Risk: list[_Risk]


class Risks(msgspec.Struct, gc=False):
    Data: _RisksData


def risks(answer: Risks) -> list[Risk]:
    return [
        Risk(
            party_id=r.PartyId,
            fraud_hold=r.FraudHold,
            fraud_reason=r.FraudReason,
            collections_status=r.CollectionsStatus,
            days_past_due=r.DaysPastDue,
        )
        for r in answer.Data.Risk
    ]


class _PartyAddress(msgspec.Struct, gc=False):
    TownName: str
    CountrySubDivision: str
    PostCode: str
    Country: str
    AddressLine: list[str] | None = None


class _Party(msgspec.Struct, gc=False):
    PartyId: str
    Name: str
    BirthDate: date | None = None
    EmailAddress: str | None = None
    Phone: str | None = None
    Mobile: str | None = None
    Address: list[_PartyAddress] | None = None
    LastUpdateDateTime: str | None = None


class _PartiesData(msgspec.Struct, gc=False):
    Party: list[_Party]


class Parties(msgspec.Struct, gc=False):
    Data: _PartiesData


def parties(answer: Parties) -> list[Party]:
    out = []
    for p in answer.Data.Party:
        first = p.Address[0] if p.Address else None
        updated = p.LastUpdateDateTime
        out.append(
            Party(
                id=p.PartyId,
                name=p.Name,
                date_of_birth=p.BirthDate,
                email=p.EmailAddress,
                home_phone=p.Phone,
                mobile_phone=p.Mobile,
                address=None
                if first is None
                else Address(
                    street=" ".join(first.AddressLine or ()),
                    city=first.TownName,
                    state=first.CountrySubDivision,
                    postal_code=first.PostCode,
                    country=first.Country,
                ),
                updated_at=None if updated is None else parse_instant(updated),
            )
        )
    return out


class _Event(msgspec.Struct, gc=False):
    EventId: str
    PartyId: str
    Type: CoreEventType
    Time: str
    Summary: str
    RefId: str | None = None


class _EventsData(msgspec.Struct, gc=False):
    Event: list[_Event]


class Events(msgspec.Struct, gc=False):
    Data: _EventsData


def events(answer: Events) -> list[CoreEvent]:
    return [
        CoreEvent(
            id=e.EventId,
            party_id=e.PartyId,
            type=e.Type,
            time=parse_instant(e.Time),
            summary=e.Summary,
            ref_id=e.RefId,
        )
        for e in answer.Data.Event
    ]
