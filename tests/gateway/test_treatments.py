from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.treatments import REDACTED, Masker
from schema import SensitiveClass as S

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
        ("redact", S.BALANCE, Decimal("1234.56"), "***.**"),
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
