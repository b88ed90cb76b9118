"""`Access.audit_lines` encodes what lines share once (issue #18, round 5: the class and field,
the treatment and outcome, each object's dotted path): every line is still the whole event, in
the same key order, for reads of both executions (standard: the value's path; compiled: the
object's path and the field's key)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import orjson
from graphql.pyutils import Path

from gateway.auth.authenticator import Principal
from gateway.masking.access import Access, _Read
from gateway.observability import codes
from schema import Owner, SensitiveClass

KEYS = [
    "type", "time", "requestId", "clientRequestId", "subject", "issuer", "roles", "operation",
    "interactionId", "class", "field", "path", "values", "customerId", "profileId", "verified",
    "treatment", "outcome",
]  # fmt: skip


def _access(reads: dict[tuple[str, Owner], _Read]) -> Access:
    access = Access.__new__(Access)
    principal = SimpleNamespace(
        subject="agent-1", issuer="https://idp", roles=frozenset({"b", "a"})
    )
    access.principal = cast(Principal, principal)
    access.interaction_id = "int-1"
    access._reads = reads
    return access


def test_each_line_is_the_whole_event_in_order_for_both_executions() -> None:
    klasses = list(SensitiveClass)
    pii, card = klasses[0], klasses[1]
    alice, by_profile = Owner("003A", None), Owner(None, "prof-9")
    customer = Path(None, "findCustomers", None).add_key(0)
    accounts = customer.add_key("accounts")
    first, second = accounts.add_key(0), accounts.add_key(1)
    reads = {
        # compiled: the object's path and the field's key
        ("Customer.dateOfBirth", alice): _Read(pii, "mask", customer, "dob", alice, False),
        ("Customer.email", alice): _Read(pii, "redact", customer, "email", alice, False),
        ("Account.number", alice): _Read(card, "last4", first, "number", alice, True, count=3),
        ("Account.iban", alice): _Read(card, "deny", second, "iban", alice, False, refusal=None),
        # standard: the value's own path; a customer known by profile; a data budget refusal
        ("Contact.phone:" + pii.value, by_profile): _Read(
            pii,
            "deny",
            Path(Path(None, "interaction", "Contact"), "phone", None),
            None,
            by_profile,
            False,
            refusal=codes.DATA_BUDGET_EXCEEDED,
        ),
    }
    for _ in range(2):  # the parts encoded once are the same the second time
        raw = _access(reads).audit_lines("req-1", "Pop", "client-1", {"prof-9": "003B"})
        lines = [orjson.loads(line) for line in raw.splitlines()]
        assert raw.endswith(b"\n") and len(lines) == 4  # the redacted email: no line
        for line in lines:
            assert list(line)[: len(KEYS)] == KEYS
            assert line["type"] == "sensitive_read" and line["requestId"] == "req-1"
            assert line["clientRequestId"] == "client-1" and line["roles"] == ["a", "b"]
            assert line["operation"] == "Pop" and line["interactionId"] == "int-1"
        own = [{k: v for k, v in line.items() if k in KEYS[9:] or k == "refusal"} for line in lines]
        expected: list[dict[str, Any]] = [
            {"class": pii.value, "field": "Customer.dateOfBirth", "path": "findCustomers.0.dob",
             "values": 1, "customerId": "003A", "profileId": None, "verified": False,
             "treatment": "mask", "outcome": "granted"},
            {"class": card.value, "field": "Account.number",
             "path": "findCustomers.0.accounts.0.number", "values": 3, "customerId": "003A",
             "profileId": None, "verified": True, "treatment": "last4", "outcome": "granted"},
            {"class": card.value, "field": "Account.iban",
             "path": "findCustomers.0.accounts.1.iban", "values": 1, "customerId": "003A",
             "profileId": None, "verified": False, "treatment": "deny", "outcome": "denied"},
            {"class": pii.value, "field": "Contact.phone", "path": "interaction.phone",
             "values": 1, "customerId": "003B", "profileId": "prof-9", "verified": False,
             "treatment": "deny", "outcome": "denied", "refusal": codes.DATA_BUDGET_EXCEEDED},
        ]  # fmt: skip
        assert own == expected


def test_a_field_read_as_two_classes_names_each_its_own() -> None:
    klasses = list(SensitiveClass)
    owner = Owner("003A", None)
    root = Path(None, "customer", "Customer")
    lines = []
    for klass in klasses[:2]:
        reads = {("Customer.identifier", owner): _Read(klass, "mask", root, "id", owner, False)}
        lines.append(orjson.loads(_access(reads).audit_lines("r", None)))
    assert [line["class"] for line in lines] == [k.value for k in klasses[:2]]
