"""Trusted documents: the ivr role may run registered operations only, refused before parsing;
registered operations skip parse and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.limits.shape import VALIDATIONS
from gateway.limits.trusted import TrustedDocuments, TrustedDocumentsError, sha256
from schema import build_schema

from .conftest import IVR_BALANCE, Production


async def test_ivr_runs_a_registered_operation_by_hash(production: Production) -> None:
    raw = production.sample[0]
    response = await production.post(
        {
            "variables": {"id": raw["id"]},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(IVR_BALANCE)}},
        },
        role="ivr",
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["customer"]["firstName"]


async def test_ivr_may_also_send_the_registered_text(production: Production) -> None:
    body = await production.query(IVR_BALANCE, {"id": production.sample[1]["id"]}, role="ivr")
    assert "errors" not in body and body["data"]["customer"]["segment"]


@pytest.mark.parametrize(
    "query",
    [
        '{ customer(id: "003SB0000000000001") { ssn firstName } }',  # valid, not registered
        "{ this is not even GraphQL",  # refused before parsing: no syntax error comes back
        IVR_BALANCE + " ",  # one byte off: another document
    ],
)
async def test_ivr_is_refused_anything_else_before_parsing(
    production: Production, query: str
) -> None:
    await production.reset()
    body = await production.query(query, {"id": production.sample[0]["id"]}, role="ivr")
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert await production.backend_calls() == 0


async def test_unknown_hash_is_refused(production: Production) -> None:
    response = await production.post(
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}, role="ivr"
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_registered_operations_skip_validation(production: Production) -> None:
    before = (VALIDATIONS.hits, VALIDATIONS.misses)
    for raw in production.sample[:3]:
        await production.query(IVR_BALANCE, {"id": raw["id"]}, role="ivr")
    after = (VALIDATIONS.hits, VALIDATIONS.misses)
    assert after == before


async def test_other_roles_may_run_any_document(production: Production) -> None:
    body = await production.query('{ customer(id: "003SB0000000000001") { id } }', role="agent")
    assert "PERSISTED_QUERY_NOT_FOUND" not in str(body)


def test_manifest_entries_must_match_their_hash_parse_and_validate(tmp_path: Path) -> None:
    schema = build_schema()._schema
    good = "{ __typename }"
    with pytest.raises(TrustedDocumentsError, match="not the sha256"):
        TrustedDocuments.from_entries({"0" * 64: good}, schema)
    with pytest.raises(TrustedDocumentsError, match="does not parse"):
        TrustedDocuments.from_entries({sha256("{ x"): "{ x"}, schema)
    with pytest.raises(TrustedDocumentsError, match="invalid"):
        TrustedDocuments.from_entries({sha256("{ nope }"): "{ nope }"}, schema)
    apollo = tmp_path / "apollo.json"
    apollo.write_text(
        '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": '
        f'[{{"id": "{sha256(good)}", "name": "T", "type": "query", "body": "{good}"}}]}}'
    )
    assert sha256(good) in TrustedDocuments.load(apollo, schema).documents
    with pytest.raises(TrustedDocumentsError, match="not found"):
        TrustedDocuments.load(tmp_path / "missing.json", schema)
