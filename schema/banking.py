"""Core banking types: accounts, transactions, cards and the risk profile."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from resolvers import fields
from resolvers.fields import one
from sources import records

from .binding import Binding, Read, capped
from .context import Info
from .enums import (
    AccountStatus,
    AccountType,
    CardBrand,
    CardStatus,
    CollectionsStatus,
    TransactionStatus,
)
from .limits import MAX_FIRST, first_in_range
from .sensitive import Owner, Sensitive, sensitive
from .sensitive import SensitiveClass as S

__all__ = ["Account", "Card", "RiskProfile", "Transaction"]


@strawberry.type(description="A posted or pending transaction; `amount` is negative for debits.")
class Transaction:
    id: strawberry.ID
    posted_at: datetime
    amount: Decimal | None = sensitive(S.TRANSACTIONS)
    currency: str
    description: str | None = sensitive(S.TRANSACTIONS)
    status: TransactionStatus
    merchant: str | None = sensitive(S.TRANSACTIONS)
    owner: strawberry.Private[Owner]

    @classmethod
    def of(cls, r: records.Transaction, owner: Owner) -> Transaction:
        return cls(
            id=strawberry.ID(r.id),
            posted_at=r.posted_at,
            amount=r.amount,
            currency=r.currency,
            description=r.description,
            status=TransactionStatus(r.status),
            merchant=r.merchant,
            owner=owner,
        )


TRANSACTION_BINDING: dict[str, Binding] = {}


@strawberry.type(description="An account held in the core system of record.")
class Account:
    id: strawberry.ID
    type: AccountType
    product_name: str
    status: AccountStatus
    currency: str
    account_number: str | None = sensitive(S.ACCOUNT_NUMBER)
    balance: Decimal | None = sensitive(S.BALANCE)
    available_balance: Decimal | None = sensitive(S.BALANCE)
    opened_on: str = strawberry.field(description="ISO 8601 date.")
    days_past_due: int | None = sensitive(S.COLLECTIONS_DETAIL)
    owner: strawberry.Private[Owner]
    record: strawberry.Private[records.Account]

    @classmethod
    def of(cls, r: records.Account, owner: Owner) -> Account:
        return cls(
            id=strawberry.ID(r.id),
            type=AccountType(r.type),
            product_name=r.product_name,
            status=AccountStatus(r.status),
            currency=r.currency,
            account_number=r.account_number,
            balance=r.balance,
            available_balance=r.available_balance,
            opened_on=fields.opened_on(r),
            days_past_due=r.days_past_due,
            owner=owner,
            record=r,
        )

    @strawberry.field(
        description="The newest transactions, newest first (first: 1-100).",
        directives=[Sensitive(class_=S.TRANSACTIONS)],
    )
    async def transactions(self, info: Info, first: int = 10) -> list[Transaction] | None:
        first_in_range(first)
        found = await one(fields.transactions_of(info.context.loaders, [self.record], first))
        return [Transaction.of(t, self.owner) for t in found]


ACCOUNT_BINDING: dict[str, Binding] = {
    "openedOn": Read(fields.opened_on),
    "transactions": capped(fields.transactions_of, MAX_FIRST),
}


@strawberry.type
class Card:
    id: strawberry.ID
    pan: str | None = sensitive(S.PCI_PAN, description="Never more than BIN + last 4.")
    last4: str | None = sensitive(S.PCI_PAN)
    brand: CardBrand
    status: CardStatus
    expiry: str | None = sensitive(S.PCI_EXPIRY, description="YYYY-MM.")
    account_id: strawberry.ID
    owner: strawberry.Private[Owner]

    @classmethod
    def of(cls, r: records.Card, owner: Owner) -> Card:
        return cls(
            id=strawberry.ID(r.id),
            pan=r.pan,
            last4=fields.last4(r),
            brand=CardBrand(r.brand),
            status=CardStatus(r.status),
            expiry=r.expiry,
            account_id=strawberry.ID(r.account_id),
            owner=owner,
        )


CARD_BINDING: dict[str, Binding] = {"last4": Read(fields.last4)}


@strawberry.type(description="Fraud and collections standing, from the core system.")
class RiskProfile:
    needs_specialist: bool = strawberry.field(
        description="A fraud hold or arrears: route to a specialist. Visible to every role."
    )
    fraud_hold: bool | None = sensitive(S.RISK_SUMMARY)
    fraud_reason: str | None = sensitive(S.FRAUD_DETAIL)
    collections_status: CollectionsStatus | None = sensitive(S.RISK_SUMMARY)
    days_past_due: int | None = sensitive(S.COLLECTIONS_DETAIL)
    owner: strawberry.Private[Owner]

    @classmethod
    def of(cls, r: records.Risk, owner: Owner) -> RiskProfile:
        return cls(
            needs_specialist=fields.needs_specialist(r),
            fraud_hold=r.fraud_hold,
            fraud_reason=r.fraud_reason,
            collections_status=CollectionsStatus(r.collections_status),
            days_past_due=r.days_past_due,
            owner=owner,
        )


RISK_PROFILE_BINDING: dict[str, Binding] = {"needsSpecialist": Read(fields.needs_specialist)}
