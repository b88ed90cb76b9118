"""Identity resolution: validating ids and finding the customer behind a phone, email or account.

The CRM id is the gateway's `Customer.id`; each system keys the same person differently, and the
CRM holds the external ids (core party, CCaaS profile) that join them.
"""

from __future__ import annotations

import asyncio
import re
import uuid

from sources.records import Customer

from .errors import BadUserInput, NotFound
from .loaders import Loaders

__all__ = [
    "check_keys",
    "customers_by_id",
    "find_customers",
    "normalise_phone",
    "valid_contact_id",
    "valid_customer_id",
]

# Salesforce ids: 15 characters, or 18 with the case-safe suffix; "003" is the Contact prefix.
_CUSTOMER_ID = re.compile(r"003[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")
_PHONE_NOISE = re.compile(r"[\s().\-/]")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}")
_ACCOUNT_NUMBER = re.compile(r"\d{6,20}")
_DEFAULT_COUNTRY_CODE = "1"  # NANP: the sandbox's and most US contact centers' numbering plan


def valid_customer_id(value: str) -> str:
    if not _CUSTOMER_ID.fullmatch(value):
        raise BadUserInput("malformed customer id: expected a 15- or 18-character CRM id")
    return value


def valid_contact_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadUserInput("malformed interaction id: expected a UUID") from None


def normalise_phone(raw: str) -> str:
    """E.164 from what an agent or an ANI gives: "(555) 123-4567" and "+15551234567" match."""
    text = _PHONE_NOISE.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
    elif len(text) == 10:
        digits = _DEFAULT_COUNTRY_CODE + text
    elif len(text) == 11 and text.startswith(_DEFAULT_COUNTRY_CODE):
        digits = text
    else:
        digits = ""
    if not (digits.isdigit() and digits.isascii() and 7 <= len(digits) <= 15) or digits[0] == "0":
        raise BadUserInput("malformed phone number: expected E.164 or a 10-digit national number")
    return "+" + digits


def _valid_email(raw: str) -> str:
    email = raw.strip()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise BadUserInput("malformed email address")
    return email


def _valid_account_number(raw: str) -> str:
    number = re.sub(r"[\s\-]", "", raw)
    if not _ACCOUNT_NUMBER.fullmatch(number):
        raise BadUserInput("malformed account number: expected 6 to 20 digits")
    return number


def check_keys(
    phone: str | None, email: str | None, account_number: str | None
) -> tuple[str | None, str | None, str | None]:
    """The lookup keys, normalised; BadUserInput if one is malformed or none is given."""
    if phone is None and email is None and account_number is None:
        raise BadUserInput("findCustomers needs at least one of phone, email, accountNumber")
    return (
        None if phone is None else normalise_phone(phone),
        None if email is None else _valid_email(email),
        None if account_number is None else _valid_account_number(account_number),
    )


async def customers_by_id(loaders: Loaders, ids: list[str]) -> list[Customer | Exception]:
    """`customers(ids:)`: in the order asked, each customer's record, or the error of that
    entry alone (a malformed id, an unknown one). One batch for all the valid ids; a failed
    call fails the whole field (its first error in id order)."""
    valid: list[str] = []
    results: list[Customer | Exception | None] = []
    for raw in ids:
        try:
            valid.append(valid_customer_id(raw))
            results.append(None)
        except BadUserInput as exc:
            results.append(exc)
    found = iter(await loaders.customer.settle_many(valid))
    out: list[Customer | Exception] = []
    for raw, result in zip(ids, results, strict=True):
        if result is None:
            record = next(found)
            if isinstance(record, Exception):
                raise record
            result = record if record else NotFound(f"no customer with id {raw!r}")
        out.append(result)
    return out


async def find_customers(
    loaders: Loaders,
    *,
    phone: str | None = None,
    email: str | None = None,
    account_number: str | None = None,
) -> list[Customer]:
    """The customers matching every given key: 0..n (a household shares a phone).

    With several keys the answer is their intersection, so an agent can narrow a shared phone
    down with an email. The lookups run concurrently.
    """
    # every key is checked before any lookup starts: a bad email must not leave the phone's
    # search created and never awaited
    phone, email, number = check_keys(phone, email, account_number)
    lookups = []
    if phone is not None:
        lookups.append(loaders.sources.crm.search_customers(phone=phone))
    if email is not None:
        lookups.append(loaders.sources.crm.search_customers(email=email))
    if number is not None:
        lookups.append(_by_account_number(loaders, number))
    # one key (the usual phone search): awaited in the caller's task, no task and no turn
    # of the event loop before the CRM call starts
    answers = [await lookups[0]] if len(lookups) == 1 else await asyncio.gather(*lookups)
    matches = answers[0]
    for other in answers[1:]:
        ids = {c.id for c in other}
        matches = [c for c in matches if c.id in ids]
    for customer in matches:
        loaders.customer.prime(customer.id, customer)
    return matches


async def _by_account_number(loaders: Loaders, number: str) -> list[Customer]:
    accounts = await loaders.sources.core.accounts_by_number(number)
    parties = list(dict.fromkeys(a.party_id for a in accounts))
    found = await loaders.customer_by_core_party.load_many(parties)
    return [c for c in found if c is not None]
