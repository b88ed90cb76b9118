"""The execution mode is visible: GET /metrics counts operations per mode, and an operation
the compiler cannot plan runs on standard execution with a log line and a reason."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest

from .conftest import Gateway


def _counter(text: str, labels: str) -> float:
    pattern = r"^switchboard_operations_total\{" + re.escape(labels) + r"\} (\S+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


async def _metrics(gateway: Gateway) -> str:
    async with httpx.AsyncClient(base_url=gateway.admin) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_compiled_operations_are_counted(
    gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    compiled = 'execution="compiled",reason=""'
    before = _counter(await _metrics(gateway), compiled)
    body = await gateway.query(
        "query($id: ID!) { customer(id: $id) { id fullName } }", {"id": sample[0]["id"]}
    )
    assert body["data"]["customer"]["id"] == sample[0]["id"]
    text = await _metrics(gateway)
    assert _counter(text, compiled) == before + 1
    assert "switchboard_projected_fields_total" in text


async def test_introspection_falls_back_visibly(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    fallback = 'execution="standard",reason="introspection"'
    before = _counter(await _metrics(gateway), fallback)
    with caplog.at_level(logging.INFO, logger="switchboard.execution"):
        body = await gateway.query('query Shape { __type(name: "Customer") { name } }')
    assert body["data"] == {"__type": {"name": "Customer"}}
    assert _counter(await _metrics(gateway), fallback) == before + 1
    assert any(
        "standard execution for operation Shape: introspection" in r.getMessage()
        for r in caplog.records
    )
