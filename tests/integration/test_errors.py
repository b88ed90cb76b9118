"""Unknown ids, malformed ids, a system answering garbage and a system that is down: each gives a
clear GraphQL error, no crash, and only the failed system's fields go missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sources.sandbox.client import set_fault

from .conftest import Gateway

QUERY = """query($id: ID!) { customer(id: $id) {
  id fullName accounts { id balance } cards { last4 } interactions(first: 3) { id } cases { id }
} }"""


@pytest.fixture
async def core_restored(gateway: Gateway) -> AsyncIterator[None]:
    yield
    await set_fault(gateway.sandbox, "core", mode="ok", latency_ms=0, error_rate=0.0)


async def test_unknown_customer_is_null_with_not_found(gateway: Gateway) -> None:
    body = await gateway.query(QUERY, {"id": "003SB9999999999999"})
    assert body["data"] == {"customer": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND" and error["path"] == ["customer"]


@pytest.mark.parametrize("bad", ["42", "003SB../../etc/pas", "'; DROP TABLE--", "003" + "x" * 40])
async def test_malformed_customer_id_is_bad_user_input_and_calls_nothing(
    gateway: Gateway, bad: str
) -> None:
    await gateway.reset()
    body = await gateway.query(QUERY, {"id": bad})
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await gateway.calls()) == {}


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("garbage", "SOURCE_BAD_RESPONSE"),
        ("down", "SOURCE_UNAVAILABLE"),
        ("error", "SOURCE_UNAVAILABLE"),
    ],
)
async def test_failed_core_nulls_only_core_fields(
    gateway: Gateway, sample: list[dict[str, Any]], core_restored: None, mode: str, code: str
) -> None:
    await set_fault(gateway.sandbox, "core", mode=mode)
    body = await gateway.query(QUERY, {"id": sample[0]["id"]})
    customer = body["data"]["customer"]
    assert customer["id"] == sample[0]["id"] and customer["fullName"]
    assert customer["accounts"] is None and customer["cards"] is None
    assert customer["interactions"] is not None and customer["cases"] is not None
    by_path = {tuple(e["path"]): e for e in body["errors"]}
    assert set(by_path) == {("customer", "accounts"), ("customer", "cards")}
    for error in by_path.values():
        assert error["extensions"] == {"code": code, "source": "core"}
        assert "127.0.0.1" not in error["message"] and "http" not in error["message"]


async def test_crm_down_fails_the_lookup_with_a_typed_error(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    await set_fault(gateway.sandbox, "crm", mode="down")
    try:
        body = await gateway.query(QUERY, {"id": sample[0]["id"]})
    finally:
        await set_fault(gateway.sandbox, "crm", mode="ok")
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"] == {"code": "SOURCE_UNAVAILABLE", "source": "crm"}


async def test_bad_arguments_are_refused_clearly(gateway: Gateway) -> None:
    cases = {
        "{ findCustomers { id } }": "at least one of phone",
        '{ findCustomers(phone: "call me") { id } }': "malformed phone",
        '{ findCustomers(email: "nobody") { id } }': "malformed email",
        '{ findCustomers(accountNumber: "12ab") { id } }': "malformed account number",
        '{ interaction(id: "abc") { id } }': "expected a UUID",
        '{ searchArticles(query: "card", first: 0) { id } }': "between 1 and 20",
        '{ searchArticles(query: "  ") { id } }': "1 to 200 characters",
    }
    for query, message in cases.items():
        body = await gateway.query(query)
        [error] = body["errors"]
        assert message in error["message"], (query, error)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
