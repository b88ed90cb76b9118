"""Masked values do not leak through the logs either: everything the gateway logs while serving
a role that may not see a value is free of it (SECURITY.md: error messages, logs, traces)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sources.sandbox.client import mint_token, set_fault

from .conftest import Gateway


async def test_nothing_logged_while_masking_contains_a_raw_value(
    gateway: Gateway, sample: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    raw = next(c for c in sample[90:] if c["cards"])
    ivr = await mint_token(gateway.sandbox, sub="ivr-bot", roles=["ivr"])
    query = """query Leak($id: ID!) { customer(id: $id) { ssn dateOfBirth emails
        cards { pan expiry } accounts { accountNumber balance transactions { amount } } } }"""
    caplog.set_level(logging.DEBUG)
    await set_fault(gateway.sandbox, "knowledge", mode="garbage")
    try:
        body = await gateway.query(query, {"id": raw["id"]}, token=ivr)
        await gateway.query(
            "query($id: ID!) { customer(id: $id) { suggestedArticles { id } } }",
            {"id": raw["id"]},
            token=ivr,
        )
    finally:
        await set_fault(gateway.sandbox, "knowledge", mode="ok")
    assert any(e["extensions"]["code"] == "FORBIDDEN_FIELD" for e in body["errors"])
    logged = "\n".join(r.getMessage() + str(r.args) + str(r.exc_info) for r in caplog.records)
    for value in (
        raw["ssn"],
        raw["dateOfBirth"],
        *raw["emails"],
        *(c["pan"] for c in raw["cards"]),
    ):
        assert value not in logged
