"""The PII canary (issue #16; the machinery is tests/support/canary.py, run under every test of
this suite and of tests/events). Here: every root field for every role, with every sensitive
field, so the canary's values pass through the gateway whatever the role sees; proof that the
canary catches a customer record logged by a resolver; and the canary's own forms."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from resolvers import roots
from sources.sandbox.client import mint_token, start_contact
from sources.sandbox.data import Dataset
from sources.sandbox.population import CANARY, Population
from tests.support.canary import WATCH, Watch

from .conftest import Gateway

ROLES = ["ivr", "agent", "collections", "supervisor", "fraud_analyst", "developer"]
CUSTOMER = """id fullName firstName lastName dateOfBirth ssn phones { number type } emails
    address { street city state postalCode country }
    accounts { accountNumber balance transactions(first: 3) { amount description } }
    cards { pan last4 expiry } interactions(first: 3) { id summary intent }
    cases { number subject } journey { stage events(first: 5) { at summary } }
    suggestedArticles { title } risk { fraudHold collectionsStatus }"""
ROOTS = {
    "customer": f"query One($id: ID!) {{ customer(id: $id) {{ {CUSTOMER} }} }}",
    "customers": f"query Many($ids: [ID!]!) {{ customers(ids: $ids) {{ {CUSTOMER} }} }}",
    "byPhone": f"query P($phone: String) {{ findCustomers(phone: $phone) {{ {CUSTOMER} }} }}",
    "byEmail": f"query E($email: String) {{ findCustomers(email: $email) {{ {CUSTOMER} }} }}",
    "byAccount": f"query A($n: String) {{ findCustomers(accountNumber: $n) {{ {CUSTOMER} }} }}",
    "interaction": f"""query I($contact: ID!) {{ interaction(id: $contact) {{ id summary
        customer {{ {CUSTOMER} }} }} }}""",
    "searchArticles": 'query S { searchArticles(query: "card") { title url } }',
}


async def test_every_root_field_for_every_role_passes_canaries_through_and_logs_none(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    who = next(c for c in sample[120:] if c["cards"] and c["emails"])
    contact = await start_contact(gateway.sandbox, customer_id=who["id"], agent_id="agent-0001")
    variables = {
        "id": who["id"],
        "ids": [who["id"], sample[121]["id"]],
        "phone": who["phones"][0],
        "email": who["emails"][0],
        "n": who["accountNumbers"][0],
        "contact": contact,
    }
    lines = WATCH.lines
    answered: dict[str, str] = {}
    for role in ROLES:
        sub = "agent-0001" if role == "agent" else f"{role}-0001"
        token = await mint_token(gateway.sandbox, sub=sub, roles=[role])
        for root, query in ROOTS.items():
            response = await gateway.post(
                {"query": query, "variables": variables},
                token=token,
                headers={"x-interaction-id": contact},
            )
            assert response.status_code == 200, (role, root, response.text)
            answered[f"{role} {root}"] = response.text
    # the canaries did go through: a role that sees them in full got them back
    assert WATCH.found(answered["fraud_analyst customer"])
    assert WATCH.found(answered["agent byPhone"])
    assert WATCH.lines > lines  # and the logs were being read meanwhile (canary_check: none)


async def test_a_customer_record_logged_by_a_resolver_is_caught(
    gateway: Gateway, sample: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The protection removed (a resolver that logs what it read, at debug): the canary fails
    the test that did it."""
    customer = roots.customer

    async def leaky(*args: Any) -> Any:
        found = await customer(*args)
        logging.getLogger("resolvers.debugging").debug("loaded %r", found)
        return found

    monkeypatch.setattr(roots, "customer", leaky)
    ivr = await mint_token(gateway.sandbox, sub="ivr-bot", roles=["ivr"])
    body = await gateway.query(
        "query($id: ID!) { customer(id: $id) { id } }", {"id": sample[7]["id"]}, token=ivr
    )
    assert body["data"]["customer"]["id"] == sample[7]["id"]  # the caller saw nothing more
    leaks = WATCH.take_leaks()  # taken: this test's own leak is the expected one
    assert any("resolvers.debugging" in leak and CANARY in leak for leak in leaks), leaks


@pytest.mark.parametrize(
    "line",
    [
        "name QanaryNora",
        '{"message": "qanarynora.qanaryjensen12@example.com"}',
        "ssn 912-34-5678",
        "ssn=912345678",
        "born 1985-03-12",
        "born datetime.date(1985, 03, 12)",
        "pan 4111 1111 1111 1111",
        "pan=4111111111111111;",
        "phone +12005551234",
        "phone (200) 555-1234",
        "phone 2005551234",
    ],
)
def test_the_canary_finds_a_value_in_any_of_its_forms(line: str) -> None:
    watch = Watch()
    watch.numbers = {"912345678", "19850312", "4111111111111111", "12005551234", "2005551234"}
    assert watch.found(line), line


@pytest.mark.parametrize(
    "line",
    [
        '{"time":"2026-12-06T04:38:19.850+00:00","requestId":"a1985031b2b4111c200555123d"}',
        # the seconds and microseconds of a timestamp read as a date of birth (20 + 041019)
        '{"time":"2026-12-06T11:46:20.041019+00:00"}',
        "at 11:46:20.041019",
        '{"ms":1985.0,"status":200,"route":"/graphql","subject":"9f12345678ab"}',
        "customer 003SB0000000001985 account ACC000001234",
    ],
)
def test_the_canary_does_not_mistake_ids_times_and_counts(line: str) -> None:
    watch = Watch()
    watch.numbers = {"912345678", "19850312", "4111111111111111", "12005551234", "20041019"}
    assert not watch.found(line), line


def test_a_canary_sandbox_marks_names_emails_and_streets_and_changes_nothing_else() -> None:
    plain, marked = Population(7, 300), Population(7, 300, canary=True)
    for a, b in zip(plain.customers, marked.customers, strict=True):
        assert (b.first_name, b.last_name) == (CANARY + a.first_name, CANARY + a.last_name)
        assert all(CANARY.lower() in email for email in b.emails)
        assert (a.crm_id, a.phones, a.account_numbers) == (b.crm_id, b.phones, b.account_numbers)
    dataset = Dataset(7, 300, datetime(2026, 12, 1, tzinfo=UTC), canary=True)
    record = json.loads(dataset.generator.customer(5).body)
    assert CANARY in record["MailingAddress"]["street"]


def test_the_canary_reads_span_names_attributes_and_events() -> None:
    """For the in-memory span exporter's spans, once tracing is installed (issue #16)."""
    from types import SimpleNamespace

    watch = Watch()
    watch.numbers = {"912345678"}
    clean = SimpleNamespace(name="graphql.operation", attributes={"keys": 3}, events=())
    event = SimpleNamespace(name="retry", attributes={"url": "/crm/customers?ssn=912-34-5678"})
    leaky = SimpleNamespace(name="crm.call", attributes={}, events=(event,))
    watch.check_spans([clean, leaky])
    assert len(watch.leaks) == 1 and "912-34-5678" in watch.leaks[0]
