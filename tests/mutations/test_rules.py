"""What a write may hold (gateway/writes/rules.py): PCI DSS 3.3.1 for free text — a PAN or an
SSN in a note is refused, however it is spelt — without refusing ordinary numbers."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from gateway.writes.rules import (
    WriteRules,
    check_code,
    check_key,
    clean_text,
    holds_sensitive_data,
    rules_of,
)

# Luhn-valid test PANs (Visa 16, Amex 15, a 13-digit Visa, a 19-digit one)
VISA = "4111111111111111"
AMEX = "378282246310005"


@pytest.mark.parametrize(
    "note",
    [
        f"card {VISA} declined",
        "card 4111 1111 1111 1111 declined",
        "card 4111-1111-1111-1111",
        "card 4111.1111.1111.1111",
        "card 4111 - 1111 - 1111 - 1111",  # separators of up to three characters
        "card 4111-1111.1111 1111",  # mixed
        "amex 3782 822463 10005",
        "4222222222222 is old",  # 13 digits
        "6011000990139424 then",
        "4111 1111 1111 1111 12 25 was the card",  # an expiry after it
        "card " + "".join(chr(0xFF10 + int(d)) for d in VISA),  # fullwidth digits
        "PAN:4111111111111111.",
        "pan 4000000000000000006",  # 19 digits
    ],
)
def test_a_card_number_is_found_however_it_is_spelt(note: str) -> None:
    assert holds_sensitive_data(note)


@pytest.mark.parametrize(
    "note",
    [
        "ssn 123-45-6789",
        "ssn 123 45 6789",
        "ssn 123.45.6789",
        "123-45-6789",  # the dashed shape alone
        "SSN: 123456789",  # bare digits with the word
        "social security number is 123456789",
        "taxpayer id 123456789",
    ],
)
def test_an_ssn_is_found(note: str) -> None:
    assert holds_sensitive_data(note)


@pytest.mark.parametrize(
    "note",
    [
        "reference 482913 for the refund",  # a 6-digit reference
        "case 00012345 reopened",
        "called +1 (555) 123-4567 twice",  # a phone number
        "4111111111111112 failed Luhn",  # 16 digits, not a PAN
        "account 12345678901234567890123",  # one run of 23 digits: an account number
        "routing 021000021",  # 9 bare digits without an SSN word
        "ssn 000-12-3456 is not issued",  # never issued: area 000
        "ssn 666-12-3456",
        "ssn 923-45-6789",
        "amount 1,234.56 paid on 2026-12-05",
        "",
    ],
)
def test_ordinary_numbers_are_not_refused(note: str) -> None:
    assert not holds_sensitive_data(note)


def _code(error: pytest.ExceptionInfo[GraphQLError]) -> str:
    code = (error.value.extensions or {})["code"]
    assert isinstance(code, str)
    return code


def test_a_refused_note_is_never_quoted() -> None:
    note = "card 4111 1111 1111 1111 exp 12/29"
    with pytest.raises(GraphQLError) as refused:
        clean_text(note, "the note", 2000, required=True)
    assert _code(refused) == "SENSITIVE_DATA_IN_NOTE"
    assert "4111" not in refused.value.message and "12/29" not in refused.value.message


def test_text_is_trimmed_and_kept_as_written() -> None:
    assert clean_text("  Promised a call back.\r\nLine two\t.  ", "x", 100, required=True) == (
        "Promised a call back.\nLine two\t."
    )
    assert clean_text("   ", "the note", 100, required=False) == ""
    assert clean_text("I <3 this bank; 2 < 3", "x", 100, required=True)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("x" * 101, "longer than 100"),
        ("bell\x07", "control"),
        ("null\x00byte", "control"),
        ("zero\u200bwidth", "control or formatting"),
        ("right-to-left \u202e override", "control or formatting"),
        ("<script>alert(1)</script>", "plain text"),
        ("a <img src=x onerror=alert(1)>", "plain text"),
        ("< b>bold", "plain text"),
    ],
)
def test_text_that_is_not_plain_is_refused_with_a_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(GraphQLError) as refused:
        clean_text(text, "the note", 100, required=True)
    assert _code(refused) == "BAD_USER_INPUT"
    assert fragment in refused.value.message
    assert refused.value.message.startswith("the note")


def test_the_cap_counts_characters_after_trimming() -> None:
    assert clean_text("  " + "é" * 100 + "  ", "x", 100, required=True) == "é" * 100


def test_disposition_codes_come_from_the_configured_list() -> None:
    rules = WriteRules(disposition_codes=("RESOLVED", "CALLBACK"))
    assert check_code(rules, "CALLBACK") == "CALLBACK"
    with pytest.raises(GraphQLError) as refused:
        check_code(rules, "resolved")
    assert _code(refused) == "INVALID_DISPOSITION_CODE"
    assert "RESOLVED, CALLBACK" in refused.value.message
    with pytest.raises(ValueError, match="at least one"):
        WriteRules(disposition_codes=())


def test_the_rules_read_the_writes_settings_where_they_have_the_keys() -> None:
    class Settings:
        disposition_codes = ("A",)
        max_note_chars = 10

    assert rules_of(Settings()) == WriteRules(("A",), 10)
    assert rules_of(None) == WriteRules()


def test_the_idempotency_key_header_must_agree_with_the_input() -> None:
    assert check_key("k-1", None) == "k-1"
    assert check_key("k-1", "k-1") == "k-1"
    with pytest.raises(GraphQLError) as differ:
        check_key("k-1", "k-2")
    assert _code(differ) == "BAD_REQUEST"
    for bad in ("", "has space", "x" * 256, "caf\u00e9"):
        with pytest.raises(GraphQLError) as refused:
            check_key(bad, None)
        assert _code(refused) == "BAD_USER_INPUT"
