"""Data minimisation over real HTTP, on both executions (compiled plans and graphql-core's
standard execution, two gateways on one sandbox): for every role, nothing in an answer reveals
more about a class than the role's treatment of that class allows, derived values included
(a journey stage, an open item's kind, an event's kind and ref id); a token with no role the
policy knows reads nothing; the developer role reads placeholders only; and a masked answer
says why (`extensions.unlock`, `extensions.verification`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import GraphQLEnumType

from gateway.config import build_config
from gateway.demo import demo_config
from gateway.masking.policy import Policy
from gateway.masking.treatments import PLACEHOLDERS, REDACTED
from schema import SensitiveClass as S
from schema import build_schema
from sources.sandbox.client import mint_token, set_fault, start_contact
from tests.support.audited import audited_gateway

from .conftest import ROOT, Gateway

ROLES = ["ivr", "agent", "collections", "supervisor", "fraud_analyst", "developer"]
POLICY = Policy.load()
EXECUTIONS = ["compiled", "standard"]
MANIFEST = ROOT / "docs" / "trusted-documents.json"

RISKY = """query Risky($id: ID!) { customer(id: $id) {
  journey { stage openItems { kind refId summary }
            events(first: 50) { at system kind refId summary } }
  risk { needsSpecialist fraudHold fraudReason collectionsStatus daysPastDue }
} }"""

KIND_CLASS = {
    "FRAUD_ALERT": S.FRAUD_DETAIL,
    "CARD_BLOCKED": S.RISK_SUMMARY,
    "PAYMENT_POSTED": S.TRANSACTIONS,
    "FEE_CHARGED": S.TRANSACTIONS,
}
"""The class a core event's kind derives from (unknown core kinds: FRAUD_DETAIL)."""


@pytest.fixture(scope="module")
def standard(sandbox_url: str) -> Iterator[Gateway]:
    """A second gateway on the same sandbox, on standard execution for every operation."""
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]), execution="standard")
    for source in raw["sources"].values():
        source["breaker_min_calls"] = 10_000
    raw["trusted_documents"] = {"roles": []}
    raw["rate_limit"] = {"enabled": False}
    with audited_gateway(build_config(raw, env={})) as served:
        token = asyncio.run(mint_token(sandbox_url, sub="analyst-0001", roles=["fraud_analyst"]))
        yield Gateway(
            url=served.url, sandbox=sandbox_url, token=token, audit=served.audit, admin=""
        )


@pytest.fixture(params=EXECUTIONS)
def gw(request: pytest.FixtureRequest, gateway: Gateway, standard: Gateway) -> Gateway:
    return gateway if request.param == "compiled" else standard


@pytest.fixture(scope="module")
def risky(gateway: Gateway, sample: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sample customers whose full view (fraud analyst) has a fraud hold or arrears, between
    them every risk kind of open item and of core event."""

    async def scan() -> list[dict[str, Any]]:
        found = []
        for raw in sample[:200]:
            body = await gateway.query(RISKY, {"id": raw["id"]})
            customer = body["data"]["customer"]
            if customer["risk"] and customer["risk"]["needsSpecialist"]:
                found.append({"raw": raw, "full": customer})
        return found

    found = asyncio.run(scan())
    stages = {f["full"]["journey"]["stage"] for f in found}
    kinds = {e["kind"] for f in found for e in f["full"]["journey"]["events"]}
    assert {"FRAUD_REVIEW", "COLLECTIONS"} <= stages, stages
    assert {"FRAUD_ALERT", "CARD_BLOCKED", "PAYMENT_POSTED"} <= kinds, kinds
    fraud = [f for f in found if f["full"]["journey"]["stage"] == "FRAUD_REVIEW"][:3]
    arrears = [f for f in found if f["full"]["journey"]["stage"] == "COLLECTIONS"][:3]
    return fraud + arrears


def secrets(full: dict[str, Any]) -> dict[S, set[Any]]:
    """Per class, the values of the full view that derive from it."""
    out: dict[S, set[Any]] = {k: set() for k in S}
    journey = full["journey"]
    if journey["stage"] in ("FRAUD_REVIEW", "COLLECTIONS"):
        out[S.RISK_SUMMARY].add(journey["stage"])
    for item in journey["openItems"]:
        if item["kind"] in ("FRAUD_HOLD", "PAST_DUE"):
            out[S.RISK_SUMMARY] |= {item["kind"], item["refId"], item["summary"]}
    for event in journey["events"]:
        if event["system"] == "CORE" and event["kind"] != "ACCOUNT_OPENED":
            klass = KIND_CLASS.get(event["kind"], S.FRAUD_DETAIL)
            out[klass] |= {event["kind"], event["refId"], event["summary"]}
    out[S.FRAUD_DETAIL].add(full["risk"]["fraudReason"])
    for klass in out:
        out[klass].discard(None)
    return out


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value


async def tokens_for(gw: Gateway) -> dict[str, str]:
    return {r: await mint_token(gw.sandbox, sub=f"{r}-0007", roles=[r]) for r in ROLES}


@pytest.mark.parametrize("verified", [False, True], ids=["unverified", "verified"])
async def test_no_role_learns_more_about_a_class_than_its_treatment_allows(
    gw: Gateway, risky: list[dict[str, Any]], verified: bool
) -> None:
    tokens = await tokens_for(gw)
    for role in ROLES:
        for case in risky:
            raw, full = case["raw"], case["full"]
            headers = None
            if verified:
                call = await start_contact(
                    gw.sandbox, customer_id=raw["id"], agent_id=f"{role}-0007"
                )
                headers = {"x-interaction-id": call}
            gw.audit.clear()
            body = await gw.query(RISKY, {"id": raw["id"]}, token=tokens[role], headers=headers)
            shown = set(leaves(body["data"]))
            where = (role, verified, raw["id"])
            derived = secrets(full)
            visible = {k for k in S if POLICY.treatment({role}, k, verified) == "full"}
            # a value that a visible class shows too (a blocked card's id, also the ref id of
            # its fraud alert) reveals nothing of the hidden class
            seen_anyway = set().union(*(derived[k] for k in visible))
            for klass, values in derived.items():
                if klass not in visible:
                    leaked = shown & (values - seen_anyway)
                    assert not leaked, (where, klass, leaked)
            journey = body["data"]["customer"]["journey"]
            risk_full = POLICY.treatment({role}, S.RISK_SUMMARY, verified) == "full"
            if risk_full or role == "developer":
                continue
            assert journey["stage"] == "NEEDS_SPECIALIST", where
            assert "NEEDS_SPECIALIST" in {i["kind"] for i in journey["openItems"]}, where
            # the derived reads are audited as the class they derive from
            audited = {
                (e["field"], e["class"], e["outcome"])
                for e in gw.audit
                if e["type"] == "sensitive_read"
            }
            assert ("Journey.stage", "RISK_SUMMARY", "denied") in audited, where
            assert ("OpenItem.kind", "RISK_SUMMARY", "denied") in audited, where


async def test_the_shipped_bot_context_tells_the_bot_only_to_route(
    gw: Gateway, risky: list[dict[str, Any]]
) -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    bot = next(o["body"] for o in manifest["operations"] if o["name"] == "BotContext")
    ivr = await mint_token(gw.sandbox, sub="ivr-0001", roles=["ivr"])
    for case in risky:
        body = await gw.query(bot, {"id": case["raw"]["id"]}, token=ivr)
        journey = body["data"]["customer"]["journey"]
        assert journey["stage"] == "NEEDS_SPECIALIST"
        kinds = {i["kind"] for i in journey["openItems"]}
        assert "NEEDS_SPECIALIST" in kinds and not kinds & {"FRAUD_HOLD", "PAST_DUE"}
        assert "errors" not in body


@pytest.mark.parametrize("roles", [[], ["nobody"], ["Agent", "root"]], ids=str)
async def test_a_token_without_a_known_role_reads_nothing(
    gw: Gateway, sample: list[dict[str, Any]], roles: list[str]
) -> None:
    token = await mint_token(gw.sandbox, sub="stranger-0001", roles=roles)
    query = """query($id: ID!) { customer(id: $id) { id fullName segment
        cases { subject } interactions { intent agentId } journey { stage } } }"""
    await gw.reset()
    gw.audit.clear()
    body = await gw.query(query, {"id": sample[5]["id"]}, token=token)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert sample[5]["id"] not in json.dumps(body)
    assert await gw.calls() == {}  # refused before execution: no back-end call
    assert gw.audit == []
    typename = await gw.query("{ __typename t: __typename }", token=token)
    assert typename["data"] == {"__typename": "Query", "t": "Query"}


EVERYTHING = """query Everything($id: ID!) { customer(id: $id) { ...All } }
fragment All on Customer {
  __typename id fullName firstName lastName segment preferredLanguage ssn dateOfBirth emails
  phones { number type } address { street city state postalCode country }
  cards { id pan last4 brand status expiry accountId }
  accounts { id type productName status balance availableBalance openedOn daysPastDue
             transactions(first: 3) { id postedAt amount status description merchant } }
  risk { needsSpecialist fraudHold collectionsStatus daysPastDue }
  cases { id number subject status category }
  interactions(first: 3) { id channel agentId intent summary idvResult verified }
  journey { stage openItems { kind refId summary } events(first: 10) { kind refId summary } }
}"""


REAL = """query($id: ID!) { customer(id: $id) { id fullName
  cases { id subject } interactions(first: 3) { id intent agentId } } }"""


async def test_the_developer_role_sees_the_shape_and_placeholders_only(
    gw: Gateway, sample: list[dict[str, Any]]
) -> None:
    raw = sample[7]
    developer = await mint_token(gw.sandbox, sub="dev-0001", roles=["developer"])
    body = await gw.query(EVERYTHING, {"id": raw["id"]}, token=developer)
    customer = body["data"]["customer"]
    assert customer["__typename"] == "Customer"
    assert customer["id"] == "id" and customer["fullName"] == "string"
    allowed = {*PLACEHOLDERS.values(), *REDACTED.values(), None, "Customer"}
    enums = [t for t in build_schema()._schema.type_map.values() if isinstance(t, GraphQLEnumType)]
    allowed |= {next(iter(t.values)) for t in enums}
    for value in leaves(body["data"]):
        assert value in allowed, value
    real = await gw.query(REAL, {"id": raw["id"]})  # fraud analyst
    text = json.dumps(body)
    for value in set(leaves(real["data"])) - {None, "Customer"}:
        assert str(value) not in text, value
    assert len(customer["accounts"]) == len(raw["accountNumbers"])  # the shape is kept


async def test_a_developer_with_a_real_role_too_sees_real_values(
    gw: Gateway, sample: list[dict[str, Any]]
) -> None:
    token = await mint_token(gw.sandbox, sub="dev-0002", roles=["developer", "supervisor"])
    query = "query($id: ID!) { customer(id: $id) { id ssn } }"
    body = await gw.query(query, {"id": sample[7]["id"]}, token=token)
    assert body["data"]["customer"] == {
        "id": sample[7]["id"],
        "ssn": "***-**-" + sample[7]["ssn"][-4:],  # supervisor: last 4
    }


async def test_a_denial_that_verification_would_lift_says_so(
    gw: Gateway, sample: list[dict[str, Any]]
) -> None:
    agent = await mint_token(gw.sandbox, sub="agent-0077", roles=["agent"])
    body = await gw.query(
        "query($id: ID!) { customer(id: $id) { ssn risk { fraudReason } } }",
        {"id": sample[8]["id"]},
        token=agent,
    )
    errors = {tuple(e["path"]): e["extensions"] for e in body["errors"]}
    assert errors[("customer", "ssn")] == {
        "code": "FORBIDDEN_FIELD",
        "class": "PII_NATIONAL_ID",
        "unlock": "VERIFIED_INTERACTION",
    }
    # fraud detail stays denied to a verified agent: nothing to unlock
    assert errors[("customer", "risk", "fraudReason")] == {
        "code": "FORBIDDEN_FIELD",
        "class": "FRAUD_DETAIL",
    }


async def _reason(gw: Gateway, token: str, cid: str, header: str | None) -> Any:
    headers = None if header is None else {"x-interaction-id": header}
    body = await gw.query(
        "query($id: ID!) { customer(id: $id) { ssn } }", {"id": cid}, token=token, headers=headers
    )
    return body["extensions"].get("verification")


async def test_the_answer_says_why_the_interaction_did_not_verify(
    gw: Gateway, sample: list[dict[str, Any]]
) -> None:
    mine = sample[9]
    agent = await mint_token(gw.sandbox, sub="agent-0078", roles=["agent"])
    sandbox = gw.sandbox
    own = await start_contact(sandbox, customer_id=mine["id"], agent_id="agent-0078")
    assert await _reason(gw, agent, mine["id"], own) == {"interactionId": own, "status": "verified"}
    assert await _reason(gw, agent, mine["id"], None) is None

    def not_verified(interaction: str | None, reason: str) -> dict[str, Any]:
        return {"interactionId": interaction, "status": "not_verified", "reason": reason}

    other = await start_contact(sandbox, customer_id=mine["id"], agent_id="agent-0999")
    report = await _reason(gw, agent, mine["id"], other)
    assert report == not_verified(other, "not_yours")
    assert "agent-0999" not in json.dumps(report)
    failed = await start_contact(
        sandbox, customer_id=mine["id"], agent_id="agent-0078", idv="FAILED"
    )
    assert await _reason(gw, agent, mine["id"], failed) == not_verified(failed, "idv_not_passed")
    unknown = own[:-4] + ("0000" if not own.endswith("0000") else "1111")
    assert await _reason(gw, agent, mine["id"], unknown) == not_verified(unknown, "unknown")
    garbage = "../../contacts?id=1"
    assert await _reason(gw, agent, mine["id"], garbage) == not_verified(None, "malformed")
    supervisor = await mint_token(sandbox, sub="sup-0001", roles=["supervisor"])
    assert await _reason(gw, supervisor, mine["id"], own) == not_verified(own, "not_needed")
    await set_fault(sandbox, "ccaas", mode="down")
    try:
        fresh = own  # the CCaaS system cannot be asked: unconfirmed
        assert await _reason(gw, agent, mine["id"], fresh) == not_verified(fresh, "unconfirmed")
    finally:
        await set_fault(sandbox, "ccaas", mode="ok")
