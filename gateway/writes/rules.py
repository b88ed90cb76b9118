"""What a write may hold: the disposition code list, the idempotency key, and free text (notes,
a case's subject) — trimmed, capped, plain, and never carrying a card number or an SSN.

PCI DSS v4.0.1 3.3.1 / 3.4.1: a PAN typed into a note would be stored in clear in the CRM, in
its exports and in every desktop that shows the note. The scan refuses it before anything is
sent or kept; the refusal never quotes the text (it may hold the number).

- PAN: 13-19 digits that pass the Luhn check, written together or in groups separated by up to
  three spaces, dashes or dots ("4111 1111 1111 1111", "4111-1111-1111-1111",
  "4111.1111.1111.1111"). A run of groups longer than 19 digits (a PAN followed by an expiry,
  "4111 1111 1111 1111 12 25") is checked group-aligned: any consecutive groups holding 13-19
  digits that pass Luhn. One unbroken run of 20+ digits is not a PAN (an account or reference
  number), and nor is a 6-digit reference.
- SSN: NNN-NN-NNNN with dashes, spaces or dots, in the ranges the SSA issues (area not 000,
  666 or 9xx; group not 00; serial not 0000); and 9 bare digits only near a word that says it is
  one ("SSN", "social security", "TIN", "taxpayer"): 9 bare digits alone are as often a routing
  number, a phone without its area code, or a case reference, and refusing those would make
  agents rephrase ordinary notes.
- The text is scanned in NFKC form, so fullwidth digits or a zero-width space between digits
  do not slip past (format characters are refused outright anyway).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from graphql import GraphQLError

from gateway.observability import codes
from gateway.writes.settings import DEFAULT_DISPOSITION_CODES

__all__ = [
    "DEFAULT_DISPOSITION_CODES",
    "WriteRules",
    "check_code",
    "check_key",
    "clean_text",
    "holds_sensitive_data",
    "rules_of",
]

"""The sandbox CCaaS's wrap-up codes (sources/sandbox/vocabulary.py), plus a call-back and
"nothing to do"; the same as the `[writes]` settings' default."""


@dataclass(frozen=True, slots=True)
class WriteRules:
    """The GraphQL side's keys of the `[writes]` section (the service's keys are its own):
    `disposition_codes` and `max_note_chars`."""

    disposition_codes: tuple[str, ...] = DEFAULT_DISPOSITION_CODES
    max_note_chars: int = 2_000
    max_subject_chars: int = 255

    codes: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if not self.disposition_codes:
            raise ValueError("disposition_codes must name at least one code")
        if self.max_note_chars < 1 or self.max_subject_chars < 1:
            raise ValueError("max_note_chars must be at least 1")
        object.__setattr__(self, "codes", frozenset(self.disposition_codes))


def rules_of(settings: object | None) -> WriteRules:
    """The rules from the `[writes]` settings (the service's class holds this side's keys,
    `disposition_codes` and `max_note_chars`); the defaults where it has none."""
    defaults = WriteRules()
    codes_ = getattr(settings, "disposition_codes", defaults.disposition_codes)
    chars = getattr(settings, "max_note_chars", defaults.max_note_chars)
    return WriteRules(tuple(codes_), int(chars))


MAX_KEY_CHARS = 255
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_CHARS}}}")


def bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def check_key(key: str, header: str | None) -> str:
    """The input's `idempotencyKey`, agreeing with the Idempotency-Key header when one is sent
    (two keys for one write would make a retry with either one a different write)."""
    if header is not None and header.strip() != key:
        raise GraphQLError(
            "the Idempotency-Key header and the input's idempotencyKey differ",
            extensions={"code": codes.BAD_REQUEST},
        )
    if not _KEY.fullmatch(key):
        raise bad_input(
            f"idempotencyKey must be 1-{MAX_KEY_CHARS} visible ASCII characters (a UUID is best)"
        )
    return key


def check_code(rules: WriteRules, code: str) -> str:
    if code not in rules.codes:
        raise GraphQLError(
            "unknown disposition code: use one of " + ", ".join(rules.disposition_codes),
            extensions={"code": codes.INVALID_DISPOSITION_CODE},
        )
    return code


_ALLOWED_CONTROLS = frozenset("\n\t")
_MARKUP = re.compile(r"<\s*[A-Za-z!/?]")
"""The start of a tag, a comment or a processing instruction; "<3" and "a < b" are text."""


def clean_text(text: str, what: str, limit: int, *, required: bool) -> str:
    """Trimmed plain text, or a BAD_USER_INPUT / SENSITIVE_DATA_IN_NOTE error that names the
    field and never quotes it."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    if not text:
        if required:
            raise bad_input(f"{what} is empty")
        return text
    if len(text) > limit:
        raise bad_input(f"{what} is longer than {limit} characters")
    for ch in text:
        if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise bad_input(f"{what} holds a control or formatting character")
    if _MARKUP.search(text):
        raise bad_input(f"{what} is plain text: no markup such as <tags>")
    if holds_sensitive_data(text):
        raise GraphQLError(
            f"{what} looks like it holds a card number or a social security number: "
            "write it without (PCI DSS 3.3.1)",
            extensions={"code": codes.SENSITIVE_DATA_IN_NOTE},
        )
    return text


_SEPARATOR = r"[ .\-]{1,3}"
_DIGIT_RUN = re.compile(rf"(?<![0-9])[0-9]+(?:{_SEPARATOR}[0-9]+)*(?![0-9])")
_GROUPS = re.compile(r"[0-9]+")
_SSN = re.compile(r"(?<![0-9])([0-9]{3})[ .\-]([0-9]{2})[ .\-]([0-9]{4})(?![0-9])")
_SSN_BARE = re.compile(
    r"(?:\bssn|\bss\s*#|social\s+security|\btin\b|taxpayer)[^0-9]{0,24}"
    r"(?<![0-9])([0-9]{3})([0-9]{2})([0-9]{4})(?![0-9])",
    re.IGNORECASE,
)


def holds_sensitive_data(text: str) -> bool:
    folded = unicodedata.normalize("NFKC", text)
    return _holds_pan(folded) or _holds_ssn(folded)


def _holds_pan(text: str) -> bool:
    for run in _DIGIT_RUN.finditer(text):
        groups = _GROUPS.findall(run.group())
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and _luhn(digits):
                    return True
    return False


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _holds_ssn(text: str) -> bool:
    found = [m.groups() for m in _SSN.finditer(text)]
    found += [m.groups() for m in _SSN_BARE.finditer(text)]
    return any(_issued(*parts) for parts in found)


def _issued(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
