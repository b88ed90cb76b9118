"""Over real sockets: a request's objects are freed by reference counting when its answer is
sent, on both executions, with and without failing systems. A reference cycle per request (the
executor and its helpers, the loaders and their functions, a failed batch's traceback, a lexed
token chain) kept the whole request (context, loaders, records, futures) for the cycle
collector: 100+ ms collections and a worker growing to 350 MB (bench/memory.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sources.sandbox.client import set_fault
from tests.support.cycles import cycle_garbage

from .conftest import Gateway

DATA = """query($id: ID!, $ids: [ID!]!) {
  customer(id: $id) { id fullName accounts { id balance transactions(first: 3) { amount } }
    cards { last4 } interactions(first: 3) { id } cases { id } }
  customers(ids: $ids) { id accounts { id } cases { number } }
}"""
STANDARD = """query($id: ID!) { __type(name: "Customer") { name }
  customer(id: $id) { id accounts { id balance } cards { last4 } cases { id } } }"""
"""Introspection: the whole operation runs on standard execution."""
INVALID = """query($id: ID!) { customer(id: $id) { id nope } }"""


@pytest.fixture
async def core_restored(gateway: Gateway) -> AsyncIterator[None]:
    yield
    await set_fault(gateway.sandbox, "core", mode="ok", latency_ms=0, error_rate=0.0)


async def _requests(gateway: Gateway, ids: list[str]) -> list[dict[str, Any]]:
    variables = {"id": ids[0], "ids": [*ids, "003SB9999999999999"]}
    return [
        await gateway.query(DATA, variables),
        await gateway.query(STANDARD, {"id": ids[0]}),
        await gateway.query(INVALID, {"id": ids[0]}),
    ]


@pytest.mark.parametrize("core", ["ok", "error", "timeout"])
async def test_requests_leave_no_cycle_garbage(
    gateway: Gateway, sample: list[dict[str, Any]], core_restored: None, core: str
) -> None:
    ids = [c["id"] for c in sample[:5]]
    await set_fault(gateway.sandbox, "core", mode=core)
    await _requests(gateway, ids)  # first-use caches (plans, parses) outside the count
    with cycle_garbage() as found:
        for _ in range(3):
            answers = await _requests(gateway, ids)
    data, standard, invalid = answers
    assert data["data"]["customer"]["id"] == ids[0]
    assert standard["data"]["__type"] == {"name": "Customer"}
    assert invalid["errors"] and invalid["data"] is None
    if core != "ok":
        failed = {e["extensions"]["code"] for e in data["errors"] + standard["errors"]}
        assert failed & {"SOURCE_UNAVAILABLE", "SOURCE_TIMEOUT", "CIRCUIT_OPEN"}
    assert found == {}, found
