from __future__ import annotations

from decimal import Decimal

import pytest
from graphql import parse

from gateway.masking.treatments import REDACTED, Masker, placeholders
from schema import SensitiveClass as S
from schema import build_schema

masker = Masker(b"k1")


@pytest.mark.parametrize(
    ("treatment", "klass", "value", "shown"),
    [
        ("last4", S.PII_NATIONAL_ID, "912-34-5678", "***-**-5678"),
        ("last4", S.PCI_PAN, "4111111111111111", "************1111"),
        ("bin_last4", S.PCI_PAN, "4111111111112070", "411111******2070"),
        ("bin_last4", S.PCI_PAN, "2070", "2070"),  # Card.last4 under bin_last4
        ("last4", S.PII_PHONE, "+12025550143", "+*******0143"),
        ("last4", S.ACCOUNT_NUMBER, "1234567890", "******7890"),
        ("redact", S.PII_NATIONAL_ID, "912-34-5678", "***-**-****"),
        ("redact", S.BALANCE, Decimal("1234.56"), None),  # not "***.**": not a Decimal
        ("hash", S.BALANCE, Decimal("12.50"), masker.apply("hash", S.BALANCE, "12.50")),
        ("redact", S.PII_EMAIL, ["a@b.example", "c@d.example"], ["*****@*****", "*****@*****"]),
        ("full", S.PCI_PAN, "4111111111111111", "4111111111111111"),
        ("redact", S.RISK_SUMMARY, True, None),
        ("hash", S.COLLECTIONS_DETAIL, 30, None),
        ("last4", S.PII_PHONE, None, None),
    ],
)
def test_treatment_shows_only_what_it_promises(
    treatment: str, klass: S, value: object, shown: object
) -> None:
    assert masker.apply(treatment, klass, value) == shown


def test_redaction_is_fixed_per_class_so_it_leaks_no_length() -> None:
    assert masker.apply("redact", S.CONVERSATION, "short") == masker.apply(
        "redact", S.CONVERSATION, "x" * 500
    )
    assert set(REDACTED) == set(S)


def test_hash_is_stable_keyed_and_class_scoped() -> None:
    a = masker.apply("hash", S.PII_NATIONAL_ID, "912-34-5678")
    assert a == masker.apply("hash", S.PII_NATIONAL_ID, "912-34-5678")
    assert a.startswith("hash:") and "5678" not in a
    assert a != Masker(b"k2").apply("hash", S.PII_NATIONAL_ID, "912-34-5678")
    assert a != masker.apply("hash", S.PII_PHONE, "912-34-5678")


def test_placeholders_replace_every_value_by_its_type_not_the_data() -> None:
    schema = build_schema()._schema
    document = parse(
        """query Q { c: customer(id: "1") { __typename id ssn ...F
             journey { stage openItems { kind since } } } }
           fragment F on Customer { fullName segment accounts { balance opened: openedOn
             transactions { amount } } risk { needsSpecialist daysPastDue } }"""
    )
    data = {
        "c": {
            "__typename": "Customer",
            "id": "003SB0000000000042",
            "ssn": "***-**-****",
            "fullName": "Ada Lovelace",
            "segment": "PRIVATE",
            "accounts": [
                {"balance": "12.50", "opened": "2020-01-02", "transactions": None},
                {"balance": None, "opened": "2021-01-02", "transactions": [{"amount": "-3"}]},
            ],
            "risk": {"needsSpecialist": True, "daysPastDue": 30},
            "journey": {
                "stage": "FRAUD_REVIEW",
                "openItems": [{"kind": "FRAUD_HOLD", "since": "2026-01-01T00:00:00+00:00"}],
            },
        }
    }
    assert placeholders(schema, document, "Q", data) == {
        "c": {
            "__typename": "Customer",
            "id": "id",
            "ssn": "***-**-****",  # the policy's mask is kept
            "fullName": "string",
            "segment": "MASS",
            "accounts": [
                {"balance": "0.00", "opened": "string", "transactions": None},
                {"balance": None, "opened": "string", "transactions": [{"amount": "0.00"}]},
            ],
            "risk": {"needsSpecialist": False, "daysPastDue": 0},
            "journey": {
                "stage": "NEEDS_SPECIALIST",
                "openItems": [{"kind": "LIVE_CONTACT", "since": "1970-01-01T00:00:00+00:00"}],
            },
        }
    }
    assert placeholders(schema, document, "Q", None) is None
