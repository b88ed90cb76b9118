"""The access line of a GraphQL request over real sockets: one per request, with the audit
trail's request id, the operation's name and type, the caller as a keyed hash and the outcome
(gateway/observability/logs.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from gateway.observability.logs import subject_hash

from .conftest import Gateway


async def _access_line(caplog: pytest.LogCaptureFixture, request_id: str) -> dict[str, Any]:
    """The line is written once the answer has left: wait for it (a guard against a hang)."""
    async with asyncio.timeout(10):
        while True:
            found = [
                r.fields  # type: ignore[attr-defined]
                for r in caplog.records
                if r.name == "switchboard.access" and r.fields["requestId"] == request_id  # type: ignore[attr-defined]
            ]
            if found:
                assert len(found) == 1
                fields: dict[str, Any] = found[0]
                return fields
            await asyncio.sleep(0.01)


async def test_a_query_has_one_access_line_with_its_context_and_never_the_subject(
    gateway: Gateway, sample: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "switchboard.access")
    gateway.audit.clear()
    response = await gateway.post(
        {
            "query": "query Pop($id: ID!) { customer(id: $id) { ssn } }",
            "variables": {"id": sample[3]["id"]},
            "operationName": "Pop",
        }
    )
    assert response.status_code == 200
    audited = gateway.audit[-1]
    line = await _access_line(caplog, audited["requestId"])
    assert line["operation"] == "Pop" and line["operationType"] == "query"
    assert line["route"] == "/graphql" and line["status"] == 200 and line["outcome"] == "ok"
    assert line["subject"] == subject_hash(audited["issuer"], audited["subject"])
    assert audited["subject"] not in str(line) and sample[3]["id"] not in str(line)


async def test_a_refusal_and_an_invalid_operation_say_why_in_the_outcome(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "switchboard.access")
    refused = await gateway.post({"query": "{ __typename }"}, token="not-a-token")
    assert refused.status_code == 401
    line = await _access_line(caplog, refused.json()["extensions"]["requestId"])
    assert (line["status"], line["outcome"]) == (401, "UNAUTHENTICATED")
    assert "subject" not in line
    invalid = await gateway.post({"query": "query Bad { nope }", "operationName": "Bad"})
    line = await _access_line(caplog, invalid.json()["extensions"]["requestId"])
    assert line["outcome"] == "GRAPHQL_VALIDATION_FAILED" and line["operation"] == "Bad"
