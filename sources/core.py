"""Core banking systems of record: accounts, transactions, cards, risk and events
(Open Banking-flavoured `Data/Links/Meta` envelopes, decimal amounts as strings)."""

from __future__ import annotations

from collections.abc import Iterable

from . import _core_answers as answers
from ._client import SourceClient
from ._decode import Reader, Shape
from .records import (
    ACCOUNT_STATUSES,
    ACCOUNT_TYPES,
    CARD_BRANDS,
    CARD_STATUSES,
    COLLECTIONS_STATUSES,
    CORE_EVENT_TYPES,
    TRANSACTION_STATUSES,
    Account,
    Address,
    Card,
    CoreEvent,
    Party,
    Risk,
    Transaction,
)

__all__ = ["CoreClient"]


class CoreClient(SourceClient):
    async def accounts(self, party_ids: Iterable[str]) -> list[Account]:
        return await self.batch(
            "/accounts",
            "partyId",
            party_ids,
            ACCOUNTS,
            asked=lambda a: a.party_id,
            ident=lambda a: a.id,
        )

    async def accounts_by_number(self, account_number: str) -> list[Account]:
        return await self.fetch(
            "/accounts/search",
            [("accountNumber", account_number)],
            ACCOUNTS,
        )

    async def transactions(self, account_ids: Iterable[str], per_account: int) -> list[Transaction]:
        return await self.batch(
            "/transactions",
            "accountId",
            account_ids,
            TRANSACTIONS,
            asked=lambda t: t.account_id,
            ident=lambda t: t.id,
            extra=[("perAccount", str(per_account))],
        )

    async def cards(self, party_ids: Iterable[str]) -> list[Card]:
        return await self.batch(
            "/cards",
            "partyId",
            party_ids,
            CARDS,
            asked=lambda c: c.party_id,
            ident=lambda c: c.id,
        )

    async def risk(self, party_ids: Iterable[str]) -> list[Risk]:
        return await self.batch(
            "/risk",
            "partyId",
            party_ids,
            RISKS,
            asked=lambda r: r.party_id,
            ident=lambda r: r.party_id,
        )

    async def parties(self, party_ids: Iterable[str]) -> list[Party]:
        """The core's KYC record of each party; unknown ids are absent."""
        return await self.batch(
            "/parties",
            "partyId",
            party_ids,
            PARTIES,
            asked=lambda p: p.id,
            ident=lambda p: p.id,
        )

    async def events(self, party_ids: Iterable[str], per_party: int) -> list[CoreEvent]:
        return await self.batch(
            "/events",
            "partyId",
            party_ids,
            EVENTS,
            asked=lambda e: e.party_id,
            ident=lambda e: e.id,
            extra=[("perParty", str(per_party))],
        )


def _account(r: Reader) -> Account:
    balance = r.obj("Balance", "balance")
    if balance is None:
        raise r.fail("Balance")
    return Account(
        id=r.text("AccountId"),
        party_id=r.text("PartyId"),
        type=r.choice("AccountType", ACCOUNT_TYPES),
        product_name=r.text("ProductName"),
        status=r.choice("Status", ACCOUNT_STATUSES),
        currency=r.text("Currency"),
        account_number=r.text("AccountNumber"),
        balance=balance.decimal("Current"),
        available_balance=balance.opt_decimal("Available"),
        opened_on=r.day("OpenedOn"),
        days_past_due=r.integer("DaysPastDue"),
    )


def _transaction(r: Reader) -> Transaction:
    amount = r.obj("Amount", "amount")
    if amount is None:
        raise r.fail("Amount")
    indicator = r.text("CreditDebitIndicator")
    if indicator not in ("Credit", "Debit"):
        raise r.fail("CreditDebitIndicator")
    value = amount.decimal("Amount")
    merchant = r.obj("MerchantDetails", "merchant")
    return Transaction(
        id=r.text("TransactionId"),
        account_id=r.text("AccountId"),
        posted_at=r.instant("BookingDateTime"),
        amount=value if indicator == "Credit" else -value,
        currency=amount.text("Currency"),
        description=r.text("TransactionInformation"),
        status=r.choice("Status", TRANSACTION_STATUSES),
        merchant=None if merchant is None else merchant.opt_text("MerchantName"),
    )


def _card(r: Reader) -> Card:
    return Card(
        id=r.text("CardId"),
        party_id=r.text("PartyId"),
        account_id=r.text("AccountId"),
        pan=r.text("Pan"),
        brand=r.choice("Brand", CARD_BRANDS),
        status=r.choice("Status", CARD_STATUSES),
        expiry=r.text("Expiry"),
    )


def _risk(r: Reader) -> Risk:
    return Risk(
        party_id=r.text("PartyId"),
        fraud_hold=r.flag("FraudHold"),
        fraud_reason=r.opt_text("FraudReason"),
        collections_status=r.choice("CollectionsStatus", COLLECTIONS_STATUSES),
        days_past_due=r.integer("DaysPastDue"),
    )


def _party(r: Reader) -> Party:
    addresses = list(r.objects("Address", "address"))
    address = None
    if addresses:
        first = addresses[0]
        address = Address(
            street=" ".join(first.texts("AddressLine")),
            city=first.text("TownName"),
            state=first.text("CountrySubDivision"),
            postal_code=first.text("PostCode"),
            country=first.text("Country"),
        )
    return Party(
        id=r.text("PartyId"),
        name=r.text("Name"),
        date_of_birth=r.opt_day("BirthDate"),
        email=r.opt_text("EmailAddress"),
        home_phone=r.opt_text("Phone"),
        mobile_phone=r.opt_text("Mobile"),
        address=address,
        updated_at=r.opt_instant("LastUpdateDateTime"),
    )


def _event(r: Reader) -> CoreEvent:
    return CoreEvent(
        id=r.text("EventId"),
        party_id=r.text("PartyId"),
        type=r.choice("Type", CORE_EVENT_TYPES),
        time=r.instant("Time"),
        summary=r.text("Summary"),
        ref_id=r.opt_text("RefId"),
    )


ACCOUNTS = Shape("account", ("Data", "Account"), _account, answers.Accounts, answers.accounts)
TRANSACTIONS = Shape(
    "transaction", ("Data", "Transaction"), _transaction, answers.Transactions, answers.transactions
)
CARDS = Shape("card", ("Data", "Card"), _card, answers.Cards, answers.cards)
RISKS = Shape("risk", ("Data", "Risk"), _risk, answers.Risks, answers.risks)
PARTIES = Shape("party", ("Data", "Party"), _party, answers.Parties, answers.parties)
EVENTS = Shape("event", ("Data", "Event"), _event, answers.Events, answers.events)
