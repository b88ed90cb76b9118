"""What is a discrepancy and what is only format (resolvers/discrepancies.py), record by record:
the one comparison both executions, the journey and the metric use."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from msgspec.structs import replace

from resolvers.discrepancies import compare, e164, normal_postal_code, normal_text
from resolvers.journey import assemble
from sources.records import Address, Customer, Party, Phone

CHANGED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

CRM = Customer(
    id="003SB0000000000042",
    first_name="Jose",
    last_name="O'Brien",
    date_of_birth=date(1980, 4, 2),
    ssn=None,
    phones=(Phone("Mobile", "+12025550143"), Phone("Home", "+12025550199")),
    emails=("jose.obrien@example.com", "j.obrien@mail.example.com"),
    address=Address("12 Main St", "Springfield", "IL", "62701", "US"),
    segment="MASS",
    preferred_language=None,
    core_party_id="PTY100000042",
    ccaas_profile_id=None,
    created_at=None,
)

CORE = Party(
    id="PTY100000042",
    name="JOSE  OBRIEN",
    date_of_birth=date(1980, 4, 2),
    email=" J.OBRIEN@MAIL.EXAMPLE.COM",
    home_phone="(202) 555-0199",
    mobile_phone="+1-2025550143",
    address=Address("  12  MAIN ST.", "SPRINGFIELD ", "il", " 627 01", "us"),
    updated_at=CHANGED,
)


def fields(party: Party | None) -> list[tuple[str, str]]:
    return [(d.field, d.severity) for d in compare(CRM, party)]


def test_format_only_differences_are_not_discrepancies() -> None:
    assert fields(CORE) == []


@pytest.mark.parametrize(
    "number", ["+12025550143", "+1-2025550143", "(202) 555-0143", "202.555.0143", "12025550143"]
)
def test_phones_compare_in_e164(number: str) -> None:
    assert e164(number) == "+12025550143"


def test_an_unreadable_phone_is_compared_as_text() -> None:
    assert e164("ext. 12") is None
    assert fields(replace(CORE, mobile_phone="ext. 12")) == [("PHONE", "HIGH")]


def test_text_and_postal_code_normalisation() -> None:
    assert normal_text("  O'Brien,\u00a0JOSE. ") == normal_text("o brien jose")
    assert normal_text("\uff2a\uff4f\uff53\uff45") == "jose"  # NFKC: full-width letters
    assert normal_text("José") != normal_text("Jose")  # diacritics are kept
    assert normal_postal_code(" sw1a 1aa ") == "SW1A1AA"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"mobile_phone": "+1-2025550144"}, [("PHONE", "HIGH")]),
        ({"home_phone": "(202) 555-0100"}, [("PHONE", "HIGH")]),
        ({"date_of_birth": date(1980, 4, 3)}, [("DATE_OF_BIRTH", "HIGH")]),
        ({"email": "someone.else@example.com"}, [("EMAIL", "MEDIUM")]),
        ({"name": "José O'Brien"}, [("NAME", "LOW")]),
        ({"name": "Joseph O'Brien"}, [("NAME", "MEDIUM")]),
        (
            {"address": Address("12 Main St", "Springfield", "IL", "62702", "US")},
            [("ADDRESS", "HIGH")],
        ),
        (
            {"address": Address("14 Main St", "Springfield", "IL", "62701", "US")},
            [("ADDRESS", "HIGH")],
        ),
    ],
)
def test_real_differences_are_flagged_with_their_severity(
    change: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    assert fields(replace(CORE, **change)) == expected


def test_only_fields_both_systems_hold_are_compared() -> None:
    absent = replace(CORE, mobile_phone=None, home_phone=None, email=None, address=None)
    assert fields(replace(absent, date_of_birth=None)) == []
    assert fields(None) == []  # no core party: nothing to compare


def test_a_discrepancy_carries_both_values_in_order_and_the_update_time() -> None:
    (found,) = compare(CRM, replace(CORE, mobile_phone="+1-2025550144"))
    assert found.systems == ("CRM", "CORE") and found.since == CHANGED
    crm, core = found.values
    assert crm.phone == Phone("Mobile", "+12025550143")
    assert core.phone == Phone("Mobile", "+12025550144")  # shown in E.164, as the CRM's are
    assert crm.email is None and crm.name is None and crm.address is None


def test_the_journey_says_which_field_differs_never_the_values() -> None:
    moved = Address("  12  MAIN ST.", "SPRINGFIELD ", "il", "99999", "us")
    drift = compare(CRM, replace(CORE, address=moved))
    journey = assemble([], [], [], None, CHANGED, [(d.field, d.since) for d in drift])
    (item,) = journey.open_items
    assert item.kind == "DATA_MISMATCH" and item.since == CHANGED and item.ref_id is None
    assert item.summary == "core has a different address than the CRM — confirm with the customer"
    assert "99999" not in item.summary and item.sensitive_class("summary") is None
    assert journey.stage == "STEADY"
