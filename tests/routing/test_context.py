"""`Query.routingContext` and `GET /routing/v1/context` over real sockets against the sandbox:
0, 1 and several matches, the same values the agent-facing fields give (one semantics), a
system down or slow answered partially within the routing deadline, the flat map strings-only
with no sensitive value, and the same trusted-document rule, lookup audit and refusals as
GraphQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from gateway.app import create_app
from gateway.routing import ROUTING_DOCUMENT, flatten
from sources.sandbox.client import mint_token, set_fault
from sources.sandbox.server import background_server

from .conftest import DEADLINE_MS, Gateway, routing_gateway_config

UNKNOWN_PHONE = "+12025550199"

AGENT_VIEW = """query($id: ID!) { customer(id: $id) {
  id segment preferredLanguage cases(status: OPEN) { status }
  journey { repeatContact repeatIntent } risk { needsSpecialist }
} }"""


async def _context(gateway: Gateway, **key: str) -> dict[str, Any]:
    body = await gateway.graphql(ROUTING_DOCUMENT, key, gateway.ivr)
    assert "errors" not in body, body
    context: dict[str, Any] = body["data"]["routingContext"]
    return context


def _households(sample: list[dict[str, Any]]) -> tuple[str, set[str], str]:
    """(a shared phone, its members in the sample, a phone only one customer has)."""
    by_phone: dict[str, set[str]] = {}
    for c in sample:
        for phone in c["phones"]:
            by_phone.setdefault(phone, set()).add(c["id"])
    shared, members = max(by_phone.items(), key=lambda kv: len(kv[1]))
    single = next(p for p, ids in by_phone.items() if len(ids) == 1)
    return shared, members, single


async def test_one_match_gives_the_values_the_agent_view_gives(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    _, _, phone = _households(sample)
    context = await _context(gateway, phone=phone)
    assert context["matches"] == 1 and context["degraded"] == []
    agent = await gateway.graphql(AGENT_VIEW, {"id": context["customerId"]}, gateway.analyst)
    customer = agent["data"]["customer"]
    assert context["segment"] == customer["segment"]
    assert context["preferredLanguage"] == customer["preferredLanguage"]
    assert context["openCases"] == len(customer["cases"])
    assert context["escalatedCase"] == any(c["status"] == "ESCALATED" for c in customer["cases"])
    assert context["repeatContact"] == customer["journey"]["repeatContact"]
    assert context["repeatIntent"] == customer["journey"]["repeatIntent"]
    assert context["needsSpecialist"] == bool(
        customer["risk"] and customer["risk"]["needsSpecialist"]
    )
    assert context["rule"] and context["queue"] and context["reason"] and context["priority"] >= 1


async def test_every_key_kind_names_the_same_customer(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    _, _, phone = _households(sample)
    by_phone = await _context(gateway, phone=phone)
    by_id = await _context(gateway, customerId=by_phone["customerId"])
    assert by_id == by_phone
    contacts = await gateway.graphql(
        "query($id: ID!) { customer(id: $id) { interactions(first: 1) { id } } }",
        {"id": by_phone["customerId"]},
        gateway.analyst,
    )
    [contact] = contacts["data"]["customer"]["interactions"]
    by_contact = await _context(gateway, interactionId=contact["id"])
    assert by_contact == by_phone


async def test_a_household_phone_gives_several_matches_and_no_one_customer(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    shared, members, _ = _households(sample)
    assert len(members) >= 2, "the sandbox sample should contain a shared household phone"
    context = await _context(gateway, phone=shared)
    assert context["matches"] >= len(members)
    for fact in ("customerId", "segment", "openCases", "needsSpecialist", "repeatContact"):
        assert context[fact] is None
    assert (context["rule"], context["reason"]) == ("household", "IDENTIFY_HOUSEHOLD_MEMBER")


async def test_an_unknown_caller_matches_no_one(gateway: Gateway) -> None:
    context = await _context(gateway, phone=UNKNOWN_PHONE)
    assert context["matches"] == 0 and context["degraded"] == []
    assert (context["rule"], context["reason"]) == ("unknown-caller", "UNKNOWN_CALLER")
    unknown = await _context(gateway, customerId="003SB9999999999999")
    assert unknown["matches"] == 0 and unknown["rule"] == "unknown-caller"


async def test_not_exactly_one_key_is_bad_user_input(gateway: Gateway) -> None:
    query = "query($p: String, $c: ID) { routingContext(phone: $p, customerId: $c) { matches } }"
    for variables in ({}, {"p": UNKNOWN_PHONE, "c": "003SB9999999999999"}):
        body = await gateway.graphql(query, variables, gateway.analyst)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "exactly one of phone, customerId, interactionId" in body["errors"][0]["message"]
    body = await gateway.graphql(query, {"c": "not-an-id"}, gateway.analyst)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_system_down_is_degraded_and_the_rest_answers(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    _, _, phone = _households(sample)
    whole = await _context(gateway, phone=phone)
    await set_fault(gateway.sandbox, "core", mode="down")
    try:
        context = await _context(gateway, phone=phone)
    finally:
        await set_fault(gateway.sandbox, "core", mode="ok")
    assert context["degraded"] == ["CORE"]
    assert context["needsSpecialist"] is None
    for fact in ("matches", "customerId", "segment", "openCases", "repeatContact"):
        assert context[fact] == whole[fact]


async def test_a_slow_system_is_left_at_the_routing_deadline(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    """1.5 s of CCaaS latency is inside the request's 2 s deadline: only the routing deadline
    (1 s here, `[routing] deadline_ms`) can leave it out, so this answer shows the setting
    applied."""
    _, _, phone = _households(sample)
    whole = await _context(gateway, phone=phone)
    assert DEADLINE_MS < 1500 < 2000
    await set_fault(gateway.sandbox, "ccaas", latency_ms=1500)
    try:
        context = await _context(gateway, phone=phone)
    finally:
        await set_fault(gateway.sandbox, "ccaas", latency_ms=0)
    assert context["degraded"] == ["CCAAS"]
    assert context["repeatContact"] is None and context["repeatIntent"] is None
    assert context["openCases"] == whole["openCases"]
    assert context["needsSpecialist"] == whole["needsSpecialist"]


async def test_the_crm_down_leaves_nothing_known_and_routes_by_the_degraded_rule(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    await set_fault(gateway.sandbox, "crm", mode="down")
    try:
        context = await _context(gateway, phone=sample[0]["phones"][0])
    finally:
        await set_fault(gateway.sandbox, "crm", mode="ok")
    assert context["matches"] is None and context["degraded"] == ["CRM"]
    assert (context["rule"], context["reason"]) == ("context-unavailable", "CONTEXT_UNAVAILABLE")


def _sensitive_values(raw: dict[str, Any]) -> set[str]:
    values = {*raw["phones"], *raw["emails"], *raw["accountNumbers"]}
    values |= {str(raw["ssn"]), str(raw["dateOfBirth"])}
    values |= {c["pan"] for c in raw["cards"]} | {c["pan"][-4:] for c in raw["cards"]}
    values |= {str(b) for b in raw["balances"]}
    values |= {p[-4:] for p in raw["phones"]} | {n[-4:] for n in raw["accountNumbers"]}
    return {v for v in values if v and v != "None"}


async def test_the_flat_map_is_strings_only_and_tells_ivr_nothing_sensitive(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    shared, _, _ = _households(sample)
    for raw in sample[:20]:
        for params in ({"phone": raw["phones"][0]}, {"customerId": raw["id"]}):
            response = await gateway.flat(params)
            assert response.status_code == 200, response.text
            flat = response.json()
            assert all(isinstance(v, str) for v in flat.values())
            assert flat["degraded"] == "" and flat["rule"]
            graphql = await _context(gateway, **params)
            assert flat == flatten(graphql)  # the same operation, flattened
            secrets = _sensitive_values(raw)
            for key, value in flat.items():
                if key != "customerId":  # the CRM id: not sensitive, and full of digits
                    assert not any(s in value for s in secrets), (key, value)
    household = (await gateway.flat({"phone": shared})).json()
    assert "customerId" not in household and "segment" not in household  # null: left out
    assert household["matches"].isdigit() and int(household["matches"]) >= 2


async def test_the_flat_endpoint_refuses_as_the_gateway_does(gateway: Gateway) -> None:
    assert (await gateway.flat({"phone": UNKNOWN_PHONE}, token="")).status_code == 401
    assert (await gateway.flat({"phone": UNKNOWN_PHONE}, token="not.a.jwt")).status_code == 401
    for params in (
        {},
        {"phone": UNKNOWN_PHONE, "customerId": "003SB9999999999999"},
        {"email": "a@example.com"},
        {"phone": ""},
    ):
        response = await gateway.flat(params)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        raw_plus = await http.get(  # E.164 sent unencoded, as some flow designers do
            "/routing/v1/context?phone=+442079460000",  # a space once decoded
            headers={"authorization": f"Bearer {gateway.ivr}"},
        )
    assert raw_plus.status_code == 200 and raw_plus.json()["matches"] == "0"
    malformed = await gateway.flat({"phone": "call me"})
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_ivr_runs_the_registered_document_only(gateway: Gateway) -> None:
    other = "query($p: String) { routingContext(phone: $p) { matches queue } }"
    body = await gateway.graphql(other, {"p": UNKNOWN_PHONE}, gateway.ivr)
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_routing_lookup_is_audited_by_kind_of_key_never_its_value(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    shared, members, phone = _households(sample)
    gateway.audit.clear()
    for key in ({"phone": phone}, {"phone": shared}, {"phone": UNKNOWN_PHONE}):
        assert (await gateway.flat(key)).status_code == 200
    await _context(gateway, customerId=sample[0]["id"])
    lookups = [e for e in gateway.audit if e.get("type") == "lookup"]
    seen = [(e["field"], e["keys"], e["outcome"], e["matches"]) for e in lookups]
    assert seen[0] == ("routingContext", ["phone"], "found", 1)
    assert seen[1][:3] == ("routingContext", ["phone"], "found") and seen[1][3] >= len(members)
    assert seen[2] == ("routingContext", ["phone"], "none", 0)
    assert seen[3] == ("routingContext", ["customerId"], "found", 1)
    assert {e["subject"] for e in lookups} == {"ivr-main"}
    for number in (phone, shared, UNKNOWN_PHONE):
        assert number not in str(gateway.audit) and number[1:] not in str(gateway.audit)


async def test_phone_searches_count_against_the_lookup_window_and_ids_do_not(
    sandbox_url: str, sample: list[dict[str, Any]]
) -> None:
    """routingContext(phone:) is a search like findCustomers: without the count, a token could
    walk phone numbers through it past [limits.lookups]."""
    config = routing_gateway_config(sandbox_url)
    config = replace(config, lookups=replace(config.lookups, roles={"ivr": 2}))
    with background_server(create_app(config), lifespan="on") as url:
        token = await mint_token(sandbox_url, sub="ivr-walker", roles=["ivr"])
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            by_id = {"customerId": sample[0]["id"]}
            statuses = [
                (await http.get("/routing/v1/context", params=p, headers=headers)).status_code
                for p in ({"phone": UNKNOWN_PHONE}, by_id, {"phone": UNKNOWN_PHONE}, by_id)
            ]
            third = await http.get(
                "/routing/v1/context", params={"phone": UNKNOWN_PHONE}, headers=headers
            )
    assert statuses == [200, 200, 200, 200]
    assert third.status_code == 429
    assert third.json()["errors"][0]["extensions"]["code"] == "LOOKUP_LIMIT"
