"""Read-time reconciliation: where the CRM and the core disagree about a customer's identity.

Both systems hold the customer's name, date of birth, phones, email and address: the CRM its
customer record, the core the KYC record it opened the accounts with (`records.Party`). Nothing
is merged or stored; at read time the two are compared field by field after normalising away
what is only format, and each real disagreement is reported, so the agent can confirm with the
customer (Amazon Connect Customer Profiles, by contrast, keeps the most recent value silently).

Normalisation (one place, used by both executions, the journey and the metric):
- phones: E.164 ("(202) 555-0143", "+1-2025550143" and "+12025550143" are one number);
- names, streets, cities, states: Unicode NFKC, case-folded, punctuation and whitespace
  dropped ("O'Brien" is "OBRIEN"; diacritics are kept: "José" and "Jose" differ);
- postal codes: upper-cased, without spaces; countries upper-cased;
- emails: NFKC, case-folded, trimmed; the core's email agrees if it is one of the CRM's;
- dates of birth: the same calendar day.

Severity: a different phone, address or date of birth is HIGH (the wrong person could be
verified, or mail and calls go astray); a different email MEDIUM; a name LOW when it differs
only in diacritics (a system that cannot store them), MEDIUM otherwise. `since` is the later of
the two records' update times (only the core reports one).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sources import records

from .errors import BadUserInput
from .identity import normalise_phone
from .loaders import Loaders

__all__ = [
    "FIELDS",
    "Discrepancy",
    "Value",
    "compare",
    "discrepancies_of",
    "e164",
    "normal_email",
    "normal_postal_code",
    "normal_text",
]

FIELDS = ("NAME", "DATE_OF_BIRTH", "PHONE", "EMAIL", "ADDRESS")
"""Every field compared, in the order discrepancies are reported (and the metric's labels)."""

CRM, CORE = "CRM", "CORE"


@dataclass(frozen=True, slots=True)
class Value:
    """One system's value of a discrepant field: `text` (name, email, ISO date of birth),
    `phone` or `address`, whichever the field is."""

    system: str
    field: str
    text: str | None = None
    phone: records.Phone | None = None
    address: records.Address | None = None

    @property
    def name(self) -> str | None:
        return self.text if self.field == "NAME" else None

    @property
    def date_of_birth(self) -> str | None:
        return self.text if self.field == "DATE_OF_BIRTH" else None

    @property
    def email(self) -> str | None:
        return self.text if self.field == "EMAIL" else None


@dataclass(frozen=True, slots=True)
class Discrepancy:
    field: str
    severity: str
    since: datetime | None
    values: tuple[Value, ...]

    @property
    def systems(self) -> tuple[str, ...]:
        return tuple(v.system for v in self.values)


def normal_text(value: str) -> str:
    """NFKC, case-folded, punctuation and whitespace dropped: a comparison key, in which
    "O'Brien", "OBRIEN" and "O Brien" agree, as "12 Main St." and "12  MAIN ST" do."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    return "".join(
        c for c in folded if not unicodedata.category(c).startswith("P") and not c.isspace()
    )


def _without_marks(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normal_email(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def normal_postal_code(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", value) if not c.isspace()).upper()


def e164(number: str) -> str | None:
    """`number` in E.164 as lookups read it (`identity.normalise_phone`: a 10-digit number is
    national), or None if it cannot be read as a phone number."""
    try:
        return normalise_phone(number)
    except BadUserInput:
        return None


def _phone_key(number: str) -> str:
    return e164(number) or normal_text(number)


def _address_key(a: records.Address) -> tuple[str, ...]:
    return (
        normal_text(a.street),
        normal_text(a.city),
        normal_text(a.state),
        normal_postal_code(a.postal_code),
        a.country.strip().upper(),
    )


def _name_severity(crm: str, core: str) -> str:
    return "LOW" if _without_marks(crm) == _without_marks(core) else "MEDIUM"


def compare(customer: records.Customer, party: records.Party | None) -> tuple[Discrepancy, ...]:
    """Every field the two records both hold and disagree on, in `FIELDS` order."""
    if party is None:
        return ()
    since = party.updated_at
    found: list[Discrepancy] = []

    def add(field: str, severity: str, crm: Value, core: Value) -> None:
        found.append(Discrepancy(field, severity, since, (crm, core)))

    name = f"{customer.first_name} {customer.last_name}"
    crm_name, core_name = normal_text(name), normal_text(party.name)
    if crm_name != core_name:
        add(
            "NAME",
            _name_severity(crm_name, core_name),
            Value(CRM, "NAME", text=name),
            Value(CORE, "NAME", text=party.name),
        )
    born, core_born = customer.date_of_birth, party.date_of_birth
    if born is not None and core_born is not None and born != core_born:
        add(
            "DATE_OF_BIRTH",
            "HIGH",
            Value(CRM, "DATE_OF_BIRTH", text=born.isoformat()),
            Value(CORE, "DATE_OF_BIRTH", text=core_born.isoformat()),
        )
    core_phones = {"Mobile": party.mobile_phone, "Home": party.home_phone}
    for phone in customer.phones:
        theirs = core_phones.get(phone.type)
        if theirs is None:
            continue
        if _phone_key(phone.number) != _phone_key(theirs):
            shown = records.Phone(phone.type, e164(theirs) or theirs)
            crm_value = Value(CRM, "PHONE", phone=phone)
            add("PHONE", "HIGH", crm_value, Value(CORE, "PHONE", phone=shown))
    if customer.emails and party.email is not None:
        ours = {normal_email(e) for e in customer.emails}
        if normal_email(party.email) not in ours:
            add(
                "EMAIL",
                "MEDIUM",
                Value(CRM, "EMAIL", text=customer.emails[0]),
                Value(CORE, "EMAIL", text=party.email),
            )
    ours_at, theirs_at = customer.address, party.address
    if (
        ours_at is not None
        and theirs_at is not None
        and _address_key(ours_at) != _address_key(theirs_at)
    ):
        add(
            "ADDRESS",
            "HIGH",
            Value(CRM, "ADDRESS", address=ours_at),
            Value(CORE, "ADDRESS", address=theirs_at),
        )
    return tuple(found)


Settled = list[tuple[Discrepancy, ...] | Exception]


def discrepancies_of(
    loaders: Loaders,
    customers: Sequence[records.Customer],
) -> Awaitable[Settled]:
    """`Customer.discrepancies`: each customer's CRM record (already loaded: it is the parent)
    against the core's party record, through the request's party loader (one core call per
    level, shared with the journey). A customer without a core party has none. The
    comparison of a customer is made once per request (`Loaders.compared`), so the metric
    (`Loaders.on_discrepancy`) counts each discrepancy once, whoever asked."""
    keys = [c.core_party_id for c in customers]
    pending = loaders.parties.settle_many([k for k in keys if k is not None])

    async def settle() -> Settled:
        parties = iter(await pending)
        out: Settled = []
        for customer, key in zip(customers, keys, strict=True):
            party = None if key is None else next(parties)
            if isinstance(party, Exception):
                out.append(party)
                continue
            out.append(_compared(loaders, customer, party))
        return out

    return settle()


def _compared(
    loaders: Loaders, customer: records.Customer, party: records.Party | None
) -> tuple[Discrepancy, ...]:
    done = loaders.compared.get(customer.id)
    if done is None:
        done = loaders.compared[customer.id] = compare(customer, party)
        if loaders.on_discrepancy is not None:
            for d in done:
                loaders.on_discrepancy(d.field)
    return done
