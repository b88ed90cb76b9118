"""The wire client's request targets are byte for byte what yarl (and so aiohttp) builds:
`URL.extend_query(params).raw_path_qs`, over generated names and values and over the exact
params every source client sends."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

from sources import SYSTEMS, SourceError, Sources, SourceSettings
from sources.transport import MockExchange, Reply, Request
from sources.transport.query import Target, encode_part

BASES = [
    "http://127.0.0.1:8000/core/accounts",
    "https://crm.example.com/v2/customers",
    "http://sandbox",
    "http://sandbox/",
    "http://sandbox/core?tenant=1",
    "http://sandbox/core?tenant=1&",
    "http://sandbox/a%2Fb/c d/Zoë",
    "http://sandbox/core#fragment",
]

TRICKY = " +&=#%/?;:@,$!'()*~._-\x00\x1f\x7f\t\r\n\"<>[]\\^`{|}" + "éZoë😀\u0301\ud800\udfff"
"""Every character a part may escape or keep: delimiters, controls, non-ASCII, surrogates."""

parts = st.text(alphabet=st.characters(codec=None), max_size=12) | st.text(
    alphabet=st.sampled_from(TRICKY + "aZ09"), max_size=12
)
pairs = st.lists(st.tuples(parts, parts), max_size=6)


def yarl_target(url: URL, params: list[tuple[str, str]]) -> str:
    return url.extend_query(params).raw_path_qs if params else url.raw_path_qs


@pytest.mark.parametrize("base", BASES)
@settings(max_examples=300, deadline=None)
@given(params=pairs)
@example(params=[("partyId", "P-000123"), ("partyId", "P-000124"), ("perParty", "20")])
@example(params=[("phone", "+1 202 555 0143"), ("email", "a+b@x.com")])
@example(params=[("", ""), ("k", ""), ("", "v"), ("k", "a=b&c=d#e%20f")])
@example(params=[(TRICKY, TRICKY)])
def test_targets_are_yarls(base: str, params: list[tuple[str, str]]) -> None:
    url = URL(base)
    target = Target(url)
    assert target.with_params(params) == yarl_target(url, params)
    assert target.with_params(params) == yarl_target(url, params)  # names cached: the same


@settings(max_examples=500, deadline=None)
@given(part=parts)
@example(part=TRICKY)
def test_a_part_is_escaped_as_yarl_escapes_it(part: str) -> None:
    assert encode_part(part) == URL("http://h/").extend_query([("k", part)]).raw_query_string[2:]


@pytest.mark.parametrize(
    "params",
    [
        [("n", 3)],
        [("n", 1.5)],
        [("n", True)],
        [("n", ["a", "b"])],
        [("n", None)],
        [("n", b"x")],
        [("n", float("nan"))],
    ],
)
def test_values_other_than_str_are_yarls_business(params: list[tuple[str, Any]]) -> None:
    """Not what the sources send, but what yarl does with them (answer or error) stays true."""
    url = URL("http://sandbox/core")
    try:
        expected: object = url.extend_query(params).raw_path_qs
    except (TypeError, ValueError) as exc:
        expected = type(exc)
    try:
        got: object = Target(url).with_params(params)
    except (TypeError, ValueError) as exc:
        got = type(exc)
    assert got == expected


async def test_every_source_calls_targets_are_yarls() -> None:
    """The exact (path, params) each source client sends, with the kinds of values users type
    (a phone with a '+', an email, a search with spaces and '&'), build yarl's targets."""
    asked: list[Request] = []

    def handler(request: Request) -> Reply:
        asked.append(request)
        return Reply(503, b"")

    settings_ = {
        name: SourceSettings(name=name, base_url=f"http://sandbox/{name}", retries=0, max_batch=2)
        for name in SYSTEMS
    }
    sources = Sources.open(settings_, exchange=MockExchange.serving(handler))
    ids = ["P-000123", "a b", "x&y=z", "Zoë"]
    calls: list[Any] = [
        sources.crm.customers("id", ids),
        sources.crm.customers("coreId", ids),
        sources.crm.customers("ccaasId", ids),
        sources.crm.search_customers(phone="+1 202 555 0143"),
        sources.crm.search_customers(email="ada+x@example.com"),
        sources.crm.cases(ids),
        sources.core.accounts(ids),
        sources.core.accounts_by_number("1234 5678/90"),
        sources.core.transactions(ids, 20),
        sources.core.cards(ids),
        sources.core.risk(ids),
        sources.core.parties(ids),
        sources.core.events(ids, 5),
        sources.ccaas.contacts(ids),
        sources.ccaas.contacts_of(ids, 7),
        sources.knowledge.search("card lost & stolen? 100%", 3),
        sources.knowledge.by_intent(["card_lost", "dispute #2"], 4),
    ]
    try:
        for call in calls:
            with pytest.raises(SourceError):
                await call
    finally:
        await sources.aclose()
    assert len({request.path for request in asked}) >= 12
    for request in asked:
        url = URL(f"http://sandbox/{request.system}{request.path}")
        params = list(request.params)
        assert params
        assert Target(url).with_params(params) == yarl_target(url, params)
