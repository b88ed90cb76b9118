"""The fast way of reading back-end answers (msgspec Structs decoded in C, sources/_decode.py)
held to the reference decoder (`Reader` over orjson) on the sandbox's own answers: it builds the
same records, and it never accepts what the reference refuses, so every refusal and its message
stay the reference's. Then each check by name, through the clients, with the exact message."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from sources import SYSTEMS, MockExchange, SourceBadResponse, Sources, SourceSettings
from sources._decode import Decoded, Shape
from sources.ccaas import CONTACTS
from sources.core import ACCOUNTS, CARDS, EVENTS, PARTIES, RISKS, TRANSACTIONS
from sources.crm import CASES, CUSTOMERS
from sources.knowledge import ARTICLES
from sources.sandbox import create_app
from sources.transport import Reply, Request
from tests.sources.test_clients import ACCOUNT  # one well-formed account, shared

SHAPES: dict[str, Shape[Any, Any]] = {
    "accounts": ACCOUNTS,
    "transactions": TRANSACTIONS,
    "cards": CARDS,
    "risk": RISKS,
    "parties": PARTIES,
    "events": EVENTS,
    "customers": CUSTOMERS,
    "cases": CASES,
    "contacts": CONTACTS,
    "search": ARTICLES,
}

BAD = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**64,  # orjson reads it as a float: not an integer
    "",
    "x",
    "NaN",
    "Infinity",
    "-Infinity",
    "sNaN",
    "1e999",
    "10.5",
    "2024-01-02",
    "20240102",
    "2024-01-02T10:00:00",  # naive
    "2024-01-02t10:00:00z",  # RFC 3339 allows it, Python's fromisoformat does not
    "2024-01-02T10:00Z",
    "2024-01-02T10:00:00.123456789+01:00",
    [],
    ["x"],
    [1],
    {},
    {"x": 1},
]
"""What a misbehaving system may send in place of any value."""


@pytest.fixture(scope="module")
def answers() -> dict[str, bytes]:
    """One answer of each kind, as the sandbox sends it, with every optional part present."""
    app = create_app(seed=7, customers=60)

    async def fetch() -> dict[str, bytes]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:

            async def get(path: str, params: list[tuple[str, str]]) -> bytes:
                response = await c.get(path, params=tuple(params))
                assert response.status_code == 200
                return response.content

            sample = orjson.loads(await get("/_sandbox/sample", [("n", "40")]))["customers"]
            ids = [("id", s["id"]) for s in sample]
            customers = await get("/crm/customers", ids)
            records = orjson.loads(customers)["records"]
            parties = [("partyId", r["CoreParty__c"]) for r in records if r.get("CoreParty__c")]
            profiles = [("profileId", r["CcaasProfile__c"]) for r in records]
            accounts = await get("/core/accounts", parties)
            account_ids = [
                ("accountId", a["AccountId"]) for a in orjson.loads(accounts)["Data"]["Account"]
            ]
            return {
                "customers": customers,
                "accounts": accounts,
                "transactions": await get(
                    "/core/transactions", [*account_ids[:20], ("perAccount", "5")]
                ),
                "cards": await get("/core/cards", parties),
                "risk": await get("/core/risk", parties),
                "parties": await get("/core/parties", parties),
                "events": await get("/core/events", [*parties, ("perParty", "5")]),
                "cases": await get("/crm/cases", [("customerId", i) for _, i in ids]),
                "contacts": await get("/ccaas/contacts", [*profiles, ("perProfile", "5")]),
                "search": await get(
                    "/knowledge/articles/search", [("query", "card"), ("per_page", "10")]
                ),
            }

    return asyncio.run(fetch())


def dumps(value: Any) -> bytes:
    """JSON as a system may send it: integers of any size (orjson writes 64 bits at most)."""
    return json.dumps(value).encode()


def reference(shape: Shape[Any, Any], body: bytes) -> list[Any] | str:
    """The reference's records, or its refusal's message."""
    try:
        return shape.read("sys", orjson.loads(body))
    except orjson.JSONDecodeError:
        return "sys answered a malformed body"
    except SourceBadResponse as refused:
        return str(refused)


def richest(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record with the most non-null values (every optional part worth mutating)."""

    def filled(value: Any) -> int:
        if isinstance(value, dict):
            return sum(filled(v) for v in value.values())
        if isinstance(value, list):
            return 1 + sum(filled(v) for v in value[:1])
        return value is not None

    return max(records, key=filled)


def places(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path inside a record: keys of objects, the first item of lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*at, key)
            yield from places(value, (*at, key))
    elif isinstance(node, list) and node:
        yield (*at, 0)
        yield from places(node[0], (*at, 0))


_GONE = object()


def mutated(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(record)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    if value is _GONE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def envelope_of(shape: Shape[Any, Any], records: list[Any]) -> bytes:
    body: Any = records
    for key in reversed(shape.envelope):
        body = {key: body}
    return dumps(body)


@pytest.mark.parametrize("name", SHAPES)
def test_the_fast_way_builds_what_the_reference_builds(
    answers: dict[str, bytes], name: str
) -> None:
    shape, body = SHAPES[name], answers[name]
    fast = shape.fast(body)
    assert isinstance(fast, Decoded) and fast.items  # a real answer takes the fast way
    assert shape.read("sys", fast) == reference(shape, body)
    # each read gets its own list: a cached answer is never shared mutable state
    assert shape.read("sys", fast) is not shape.read("sys", fast)


@pytest.mark.parametrize("name", SHAPES)
def test_the_fast_way_never_accepts_what_the_reference_refuses(
    answers: dict[str, bytes], name: str
) -> None:
    """Every value of the richest record, replaced by each of `BAD` or removed: the fast way
    either refuses (the reference then decides, message included) or builds exactly what the
    reference builds. Removing any check from a Struct (a Literal, a bound, a required field,
    a string where a number would pass) makes this fail."""
    shape = SHAPES[name]
    records = orjson.loads(answers[name])
    for key in shape.envelope:
        records = records[key]
    record = richest(records)
    refused = 0
    for path in places(record):
        for value in [*BAD, _GONE]:
            body = envelope_of(shape, [mutated(record, path, value)])
            expected = reference(shape, body)
            fast = shape.fast(body)
            if fast is None:
                refused += 1
                continue
            assert not isinstance(expected, str), f"{path}={value!r}: fast accepted, {expected}"
            assert list(fast.items) == expected, f"{path}={value!r}"
    assert refused > 0


@pytest.mark.parametrize("name", SHAPES)
def test_unknown_keys_are_ignored_and_a_wrong_envelope_refused(
    answers: dict[str, bytes], name: str
) -> None:
    shape = SHAPES[name]
    records = orjson.loads(answers[name])
    for key in shape.envelope:
        records = records[key]
    extra = [{**r, "NewVendorField": {"nested": [1, "x", None]}} for r in records]
    body = envelope_of(shape, extra)
    fast = shape.fast(body)
    assert fast is not None and list(fast.items) == reference(shape, body)
    for wrong in (b'{"error": "session expired"}', b"[]", b"null", b'{"results": 5}'):
        assert shape.fast(wrong) is None
        assert reference(shape, wrong) == "sys answered a malformed envelope"


# Each check by name, through the clients (MockExchange), with the message the gateway shows.

CASE = {
    "Id": "500SB1",
    "CaseNumber": "10045808",
    "ContactId": "003SB1",
    "Subject": "Card declined",
    "Status": "New",
    "Priority": "High",
    "Type": "Card",
    "CreatedDate": "2026-10-14T00:53:43Z",
    "LastModifiedDate": "2026-10-15T04:58:02+02:00",
    "OwnerName": None,
}
ARTICLE = {
    "id": 360035231,
    "title": "Declined cards",
    "snippet": None,
    "html_url": "https://help.example.com/hc/articles/360035231",
    "label_names": ["card_declined"],
    "updated_at": "2026-05-01T23:37:25Z",
}


def sources_answering(body: bytes) -> Sources:
    def handler(request: Request) -> Reply:
        return Reply(200, body)

    settings = {
        name: SourceSettings(name=name, base_url=f"http://sandbox/{name}", retries=0)
        for name in SYSTEMS
    }
    return Sources.open(settings, exchange=MockExchange.serving(handler))


async def accounts_of(account: dict[str, Any]) -> list[Any]:
    sources = sources_answering(dumps({"Data": {"Account": [account]}}))
    try:
        return await sources.core.accounts(["PTY1"])
    finally:
        await sources.aclose()


async def cases_of(case: dict[str, Any]) -> list[Any]:
    sources = sources_answering(dumps({"records": [case]}))
    try:
        return await sources.crm.cases(["003SB1"])
    finally:
        await sources.aclose()


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"DaysPastDue": True}, "DaysPastDue"),  # a bool is not an int
        ({"DaysPastDue": 1.0}, "DaysPastDue"),
        ({"DaysPastDue": 2**64}, "DaysPastDue"),  # past 64 bits: a float to the reference
        ({"AccountId": 7}, "AccountId"),
        ({"AccountId": None}, "AccountId"),  # null for a required value
        ({"AccountType": "CHEQUE"}, "AccountType"),  # an unknown choice
        ({"Status": "Frozen"}, "Status"),
        ({"Balance": {"Current": "NaN"}}, "Current"),  # non-finite decimals
        ({"Balance": {"Current": "Infinity"}}, "Current"),
        ({"Balance": {"Current": "-Infinity"}}, "Current"),
        ({"Balance": {"Current": "sNaN"}}, "Current"),
        ({"Balance": {"Current": "ten"}}, "Current"),  # malformed
        ({"Balance": {"Current": 10.5}}, "Current"),  # a number, not the string it must be
        ({"Balance": {"Current": "1", "Available": "NaN"}}, "Available"),
        ({"Balance": "10.50"}, "Balance"),
        ({"Balance": None}, "Balance"),
        ({"OpenedOn": "yesterday"}, "OpenedOn"),
    ],
)
async def test_an_account_with_a_wrong_value_is_refused_with_its_key(
    patch: dict[str, Any], key: str
) -> None:
    with pytest.raises(SourceBadResponse) as caught:
        await accounts_of({**ACCOUNT, **patch})
    assert caught.value.source == "core"
    kind = "balance" if key in ("Current", "Available") else "account"
    assert str(caught.value) == f"core answered a malformed {kind} ({key})"


@pytest.mark.parametrize("key", ["AccountId", "Balance", "DaysPastDue", "Status"])
async def test_an_account_missing_a_required_key_is_refused(key: str) -> None:
    account = {k: v for k, v in ACCOUNT.items() if k != key}
    with pytest.raises(SourceBadResponse, match=rf"^core answered a malformed account \({key}\)$"):
        await accounts_of(account)


async def test_a_decimal_in_exponent_form_is_a_finite_amount() -> None:
    [account] = await accounts_of({**ACCOUNT, "Balance": {"Current": "1e999"}})
    assert account.balance == Decimal("1e999") and account.available_balance is None


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2026-10-14T00:53:43", "CreatedDate"),  # naive: no offset
        ("2026-10-14t00:53:43z", "CreatedDate"),  # lower-case: refused as it always was
        ("2026-10-14", "CreatedDate"),
        (None, "CreatedDate"),
        (1760403223, "CreatedDate"),
    ],
)
async def test_a_case_with_a_wrong_timestamp_is_refused(value: Any, key: str) -> None:
    with pytest.raises(SourceBadResponse) as caught:
        await cases_of({**CASE, key: value})
    assert str(caught.value) == f"crm answered a malformed case ({key})"


async def test_a_case_keeps_each_timestamps_own_offset() -> None:
    [case] = await cases_of(CASE)
    assert case.opened_at == datetime(2026, 10, 14, 0, 53, 43, tzinfo=UTC)
    assert case.updated_at.utcoffset() is not None
    assert case.updated_at.utcoffset().total_seconds() == 7200
    assert case.owner is None and case.is_open


@pytest.mark.parametrize(
    ("ident", "expected"), [(360035231, "360035231"), ("360035231", "360035231")]
)
async def test_an_article_id_sent_as_a_number_or_a_string_reads_as_a_string(
    ident: Any, expected: str
) -> None:
    sources = sources_answering(dumps({"results": [{**ARTICLE, "id": ident}]}))
    [article] = await sources.knowledge.search("card", 5)
    assert article.id == expected and article.summary == ""
    assert article.intents == ("card_declined",)
    await sources.aclose()


@pytest.mark.parametrize("ident", [True, 1.5, None, 2**64])
async def test_an_article_id_of_another_type_is_refused(ident: Any) -> None:
    sources = sources_answering(dumps({"results": [{**ARTICLE, "id": ident}]}))
    with pytest.raises(SourceBadResponse, match=r"^knowledge answered a malformed article \(id\)$"):
        await sources.knowledge.search("card", 5)
    await sources.aclose()


async def test_by_intent_reads_the_fast_way_and_refuses_an_intent_not_asked_for() -> None:
    body = dumps({"results": {"card_declined": [ARTICLE], "make_payment": [ARTICLE]}})
    sources = sources_answering(body)
    found = await sources.knowledge.by_intent(["card_declined", "make_payment"], 3)
    assert [a.id for a in found["make_payment"]] == ["360035231"]
    with pytest.raises(SourceBadResponse, match="an intent not asked for"):
        await sources.knowledge.by_intent(["card_declined"], 3)
    await sources.aclose()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"Data": {"Account": [', "core answered a malformed body"),
        (b"<html>502</html>", "core answered a malformed body"),
        (b'{"error": "session expired"}', "core answered a malformed envelope"),
        (b'{"Data": {"Account": {}}}', "core answered a malformed envelope"),
        (b'{"Data": {"Account": [5]}}', "core answered a malformed account"),
    ],
)
async def test_a_body_that_is_not_the_answer_is_refused(body: bytes, message: str) -> None:
    sources = sources_answering(body)
    with pytest.raises(SourceBadResponse) as caught:
        await sources.core.accounts(["PTY1"])
    assert str(caught.value) == message
    await sources.aclose()


async def test_a_stale_answer_served_again_gives_each_caller_its_own_records() -> None:
    """Reference data keeps its last answer for when the system fails (stale-if-error): what
    is kept is the decoded answer, read into a new list for each caller."""
    answers = iter([Reply(200, dumps({"results": [ARTICLE]}))])

    def handler(request: Request) -> Reply:
        reply = next(answers, None)
        if reply is None:
            raise ConnectionRefusedError("knowledge is down")
        return reply

    settings = {
        name: SourceSettings(
            name=name,
            base_url=f"http://sandbox/{name}",
            retries=0,
            stale_if_error_seconds=60 if name == "knowledge" else 0,
        )
        for name in SYSTEMS
    }
    sources = Sources.open(settings, exchange=MockExchange.serving(handler))
    first = await sources.knowledge.search("card", 5)
    first.clear()  # a caller may do what it likes with its list
    again = await sources.knowledge.search("card", 5)  # the system is down: the kept answer
    assert [a.id for a in again] == ["360035231"]
    await sources.aclose()
