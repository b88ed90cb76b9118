"""The compiled executor's view of the schema (gateway/execution/compile.py), gathered from
the bindings that sit beside their types (schema/types.py, banking.py, service.py; the roots
beside Query in query.py); the kinds of binding are in schema/binding.py.

Only fields bound here can be compiled; anything else falls back to standard execution. A
subscription's root field needs no binding: its value is each event's payload, whose type is
bound here like any other (its record is the object the subscription's resolver yields). The
differential tests (tests/differential/) hold the two executions to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import banking, journey_updates, service, subscription, types
from .binding import Binding, Child, Fetch, Read, RootFetch
from .query import ROOT
from .sensitive import Owner, contact_owner, customer_owner

__all__ = [
    "BINDINGS",
    "OWNERS",
    "ROOT",
    "Child",
    "Fetch",
    "Read",
    "RootFetch",
]

OWNERS: dict[str, Callable[[Any, Owner | None], Owner]] = {
    "Customer": customer_owner,
    "Interaction": contact_owner,
}
"""Whose data an object is (masking and audit): a customer owns everything read through it; a
contact read on its own belongs to its CCaaS profile. Other types inherit their parent's."""

BINDINGS: dict[str, dict[str, Binding]] = {
    "Customer": types.CUSTOMER_BINDING,
    "PhoneNumber": types.PHONE_NUMBER_BINDING,
    "Address": types.ADDRESS_BINDING,
    "Interaction": types.INTERACTION_BINDING,
    "JourneyEvent": types.JOURNEY_EVENT_BINDING,
    "OpenItem": types.OPEN_ITEM_BINDING,
    "Journey": types.JOURNEY_BINDING,
    "Account": banking.ACCOUNT_BINDING,
    "Transaction": banking.TRANSACTION_BINDING,
    "Card": banking.CARD_BINDING,
    "RiskProfile": banking.RISK_PROFILE_BINDING,
    "Case": service.CASE_BINDING,
    "Article": service.ARTICLE_BINDING,
    "ScreenPop": subscription.SCREEN_POP_BINDING,
    "JourneyUpdate": journey_updates.JOURNEY_UPDATE_BINDING,
    "WriteResult": {},
}
"""Per type, the fields that are not a same-named attribute of the record (camelCase GraphQL
name -> binding); every other field reads the record attribute of its Python name."""
