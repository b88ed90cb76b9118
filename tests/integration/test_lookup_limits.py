"""Lookups as an oracle (issue #12 item 4): an unverified agent sees a phone's last 4 and tried
area codes, 10 aliased `findCustomers` per request, until one matched. Lookups are capped per
operation (aliases included) and per (issuer, subject) and window, refused with LOOKUP_LIMIT
before any back-end call, and each one is audited without its key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sources.sandbox.client import mint_token

from .budgeted import PARTNER, own_gateway
from .conftest import Gateway

PER_WINDOW = 6
LIMITS = {
    "lookups": {"per_operation": 3, "per_window": 100, "roles": {"agent": PER_WINDOW}},
    "data_budget": {"enabled": False},
}


@pytest.fixture(scope="module")
def limited(sandbox_url: str) -> Iterator[Gateway]:
    with own_gateway(sandbox_url, LIMITS) as gateway:
        yield gateway


def guesses(last4: str, area_codes: list[int]) -> str:
    fields = " ".join(
        f'a{code}: findCustomers(phone: "+1{code}555{last4}") {{ id }}' for code in area_codes
    )
    return "{ " + fields + " }"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", ())]


async def test_the_area_code_attack_is_refused_early_without_back_end_calls(
    limited: Gateway, sample: list[dict[str, Any]]
) -> None:
    phone = next(c["phones"][0] for c in sample if c["phones"])
    last4 = phone[-4:]
    agent = await mint_token(limited.sandbox, sub="agent-oracle", roles=["agent"])

    # ten aliased guesses in one request: refused whole, nothing asked of any system (not even
    # the CCaaS question an X-Interaction-Id would raise for the agent's verification)
    await limited.reset()
    limited.audit.clear()
    body = await limited.query(
        guesses(last4, list(range(201, 211))),
        token=agent,
        headers={"x-interaction-id": str(uuid.uuid4())},
    )
    assert body["data"] is None and codes(body) == ["LOOKUP_LIMIT"]
    assert await limited.calls() == {}
    lines = [e for e in limited.audit if e["type"] == "lookup"]
    assert len(lines) == 10 and {e["outcome"] for e in lines} == {"refused"}

    # three per request: the window's lookups run out after two requests
    answered = 0
    for start in range(300, 330, 3):
        await limited.reset()
        body = await limited.query(guesses(last4, [start, start + 1, start + 2]), token=agent)
        if codes(body) == ["LOOKUP_LIMIT"]:
            assert body["data"] is None and await limited.calls() == {}
            assert body["errors"][0]["extensions"]["retryAfter"] >= 1
            continue
        assert "errors" not in body
        answered += 1
    assert answered == PER_WINDOW // 3
    alerts = [e for e in limited.audit if e["type"] == "lookup_limit_exceeded"]
    assert len(alerts) == 1 and alerts[0]["subject"] == "agent-oracle"
    assert last4 not in str(limited.audit)  # no key, no part of one, is ever written


async def test_lookups_are_audited_with_their_kind_and_matches_never_their_key(
    limited: Gateway, sample: list[dict[str, Any]]
) -> None:
    phone = next(c["phones"][0] for c in sample if c["phones"])
    analyst = await mint_token(limited.sandbox, sub="analyst-lookups", roles=["fraud_analyst"])
    limited.audit.clear()
    query = """query($p: String!) { hit: findCustomers(phone: $p) { id }
        miss: findCustomers(email: "nobody@example.invalid") { id } }"""
    body = await limited.query(query, {"p": phone}, token=analyst)
    assert "errors" not in body
    lines = {e["path"]: e for e in limited.audit if e["type"] == "lookup"}
    hit, miss = lines["hit"], lines["miss"]
    assert hit["field"] == "findCustomers" and hit["keys"] == ["phone"]
    assert hit["outcome"] == "found" and hit["matches"] == len(body["data"]["hit"]) >= 1
    assert miss["keys"] == ["email"] and miss["outcome"] == "none" and miss["matches"] == 0
    assert hit["subject"] == "analyst-lookups" and hit["requestId"] == miss["requestId"]
    assert phone not in str(limited.audit) and "nobody@" not in str(limited.audit)


async def test_the_per_operation_cap_counts_every_lookup_root_field(
    limited: Gateway, sample: list[dict[str, Any]]
) -> None:
    analyst = await mint_token(limited.sandbox, sub="analyst-cap", roles=["fraud_analyst"])
    a, b = sample[0]["id"], sample[1]["id"]
    four = f"""{{ x: customer(id: "{a}") {{ id }} y: customer(id: "{b}") {{ id }}
        z: customers(ids: ["{a}"]) {{ id }}
        w: findCustomers(email: "x@example.invalid") {{ id }} }}"""
    await limited.reset()
    body = await limited.query(four, token=analyst)
    assert codes(body) == ["LOOKUP_LIMIT"] and await limited.calls() == {}
    # @include(if: false) fields are not looked up, so they do not count
    skipped = four.replace('"x@example.invalid")', '"x@example.invalid") @include(if: false)')
    assert "errors" not in await limited.query(skipped, token=analyst)


async def test_the_window_is_per_issuer_and_subject(limited: Gateway) -> None:
    query = guesses("0000", [201, 202, 203])
    spent = await mint_token(limited.sandbox, sub="agent-spent", roles=["agent"])
    for _ in range(PER_WINDOW // 3):
        assert "errors" not in await limited.query(query, token=spent)
    assert codes(await limited.query(query, token=spent)) == ["LOOKUP_LIMIT"]
    other = await mint_token(limited.sandbox, sub="agent-other", roles=["agent"])
    partner = await mint_token(limited.sandbox, sub="agent-spent", roles=["agent"], iss=PARTNER)
    for token in (other, partner):
        assert "errors" not in await limited.query(query, token=token)
