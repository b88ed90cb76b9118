"""Issue #15's "Done when", the GraphQL side, over real sockets with the real write service and
the sandbox CRM: a disposition APPLIED shows once in the CRM; the same key twice at once makes one
record; the same key with another body is refused; a note holding a PAN and an ivr token write
nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("gateway.writes.service", reason="the write service (wback) is not merged")

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from sources.sandbox.client import mint_token, sample_customers, start_contact
from sources.sandbox.server import background_server
from tests.mutations.test_authorisation import DISPOSE
from tests.support.canary import WATCH, canary_sandbox


@dataclass(frozen=True)
class Crm:
    gateway: str
    sandbox: str
    customers: list[dict[str, Any]]

    def token(self, sub: str, roles: list[str]) -> str:
        return asyncio.run(mint_token(self.sandbox, sub=sub, roles=roles))

    def contact(self, n: int, agent: str) -> str:
        customer = self.customers[n]["id"]
        return asyncio.run(start_contact(self.sandbox, customer_id=customer, agent_id=agent))

    def tasks(self, interaction: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.sandbox}/crm/tasks", params={"interactionId": interaction})
        assert answer.status_code == 200, answer.text
        records: list[dict[str, Any]] = answer.json()["records"]
        return records

    async def dispose(self, token: str, variables: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{self.gateway}/graphql",
                json={"query": DISPOSE, "variables": variables},
                headers={"authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crm]:
    outbox: Path = tmp_path_factory.mktemp("outbox") / "outbox.sqlite3"
    with canary_sandbox(seed=13, customers=200) as sandbox:
        raw = demo_config(0, int(sandbox.rsplit(":", 1)[1]))
        raw["trusted_documents"] = {"roles": []}  # ivr is refused as a role, not as a document
        raw["rate_limit"] = {"enabled": False}
        raw["writes"] = {
            "outbox_path": str(outbox),
            # the CRM-down test waits for the outbox's next attempt once the CRM is back
            "backoff_base_seconds": 0.1,
            "backoff_max_seconds": 0.5,
            "poll_seconds": 0.1,
        }
        app = create_app(build_config(raw, env={}))
        with background_server(app, lifespan="on") as url:
            yield Crm(url, sandbox, asyncio.run(sample_customers(sandbox, 20)))


def _input(contact: str, key: str | None = None, note: str = "Waived the fee.") -> dict[str, Any]:
    return {
        "input": {
            "interactionId": contact,
            "code": "RESOLVED",
            "note": note,
            "idempotencyKey": key or str(uuid.uuid4()),
        }
    }


def test_a_disposition_is_applied_and_shows_once_in_the_crm(crm: Crm) -> None:
    contact = crm.contact(0, "agent-0601")
    body = asyncio.run(crm.dispose(crm.token("agent-0601", ["agent"]), _input(contact)))
    result = body["data"]["recordDisposition"]
    assert result["status"] == "APPLIED" and result["recordId"]
    [task] = crm.tasks(contact)
    assert task["Id"] == result["recordId"]
    assert (task["CallDisposition"], task["Description"]) == ("RESOLVED", "Waived the fee.")
    assert task["ExternalId__c"].startswith("sb_")  # derived, never the raw key


def test_the_same_key_twice_at_once_makes_one_crm_record(crm: Crm) -> None:
    contact = crm.contact(1, "agent-0602")
    token = crm.token("agent-0602", ["agent"])
    variables = _input(contact)

    async def twice() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(crm.dispose(token, variables), crm.dispose(token, variables))
        )

    first, second = (b["data"]["recordDisposition"] for b in asyncio.run(twice()))
    assert first == second and first["status"] == "APPLIED"
    assert len(crm.tasks(contact)) == 1


def test_the_same_key_with_another_body_is_refused(crm: Crm) -> None:
    contact = crm.contact(2, "agent-0603")
    token = crm.token("agent-0603", ["agent"])
    key = str(uuid.uuid4())
    first = asyncio.run(crm.dispose(token, _input(contact, key)))
    assert first["data"]["recordDisposition"]["status"] == "APPLIED"
    other = asyncio.run(crm.dispose(token, _input(contact, key, note="Another note.")))
    assert [e["extensions"]["code"] for e in other["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    [task] = crm.tasks(contact)
    assert task["Description"] == "Waived the fee."


def test_a_note_holding_a_pan_writes_nothing(crm: Crm) -> None:
    contact = crm.contact(3, "agent-0604")
    note = "card 4111-1111-1111-1111 read out by the caller"
    body = asyncio.run(crm.dispose(crm.token("agent-0604", ["agent"]), _input(contact, note=note)))
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SENSITIVE_DATA_IN_NOTE"]
    assert "4111" not in str(body)
    assert crm.tasks(contact) == []


def test_ivr_cannot_write(crm: Crm) -> None:
    contact = crm.contact(4, "agent-0605")
    body = asyncio.run(crm.dispose(crm.token("agent-0605", ["ivr"]), _input(contact)))
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert crm.tasks(contact) == []


def test_a_note_about_the_caller_reaches_the_crm_and_no_log(crm: Crm) -> None:
    """The PII canary (tests/support/canary.py) on the write path: a note carrying the canary
    customer's e-mail and phone is written to the CRM, and neither appears in any log line of
    the write (the request, the outbox, the CRM call); a note with their PAN is refused, and
    that PAN is logged nowhere either."""
    n = next(i for i, c in enumerate(crm.customers) if i >= 5 and c["cards"] and c["emails"])
    who = crm.customers[n]
    contact = crm.contact(n, "agent-0606")
    token = crm.token("agent-0606", ["agent"])
    note = f"Caller asked us to use {who['emails'][0]} and {who['phones'][0]} from now on."
    body = asyncio.run(crm.dispose(token, _input(contact, note=note)))
    assert body["data"]["recordDisposition"]["status"] == "APPLIED"
    [task] = crm.tasks(contact)
    assert task["Description"] == note and WATCH.found(note)  # a canary, written
    refused = asyncio.run(
        crm.dispose(token, _input(contact, note=f"card {who['cards'][0]['pan']} given"))
    )
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["SENSITIVE_DATA_IN_NOTE"]


WRITE = "query ($id: ID!) { write(id: $id) { writeId status recordId code } }"


def test_with_the_crm_down_reads_and_all_a_disposition_is_pending_then_applied_linked(
    crm: Crm,
) -> None:
    """Issue #17: the CRM fully down (its reads too) takes the disposition — PENDING in the
    outbox, never refused — and once the CRM is back it is APPLIED, one Task, linked by the CRM
    to the contact's customer (named by CCaaS profile id, resolved on delivery)."""
    contact = crm.contact(7, "agent-0607")
    token = crm.token("agent-0607", ["agent"])

    def fault(mode: str) -> None:
        answer = httpx.post(f"{crm.sandbox}/_sandbox/faults", json={"system": "crm", "mode": mode})
        assert answer.status_code == 200, answer.text

    fault("down")
    try:
        body = asyncio.run(crm.dispose(token, _input(contact)))
        assert "errors" not in body, body
        result = body["data"]["recordDisposition"]
        assert result["status"] == "PENDING" and result["recordId"] is None
    finally:
        fault("ok")

    async def applied() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http, asyncio.timeout(30):  # a guard
            while True:
                answer = await http.post(
                    f"{crm.gateway}/graphql",
                    json={"query": WRITE, "variables": {"id": result["writeId"]}},
                    headers={"authorization": f"Bearer {token}"},
                )
                write: dict[str, Any] = answer.json()["data"]["write"]
                if write["status"] != "PENDING":
                    return write
                await asyncio.sleep(0.05)

    write = asyncio.run(applied())
    assert write["status"] == "APPLIED", write
    [task] = crm.tasks(contact)
    assert task["Id"] == write["recordId"]
    assert task["WhoId"] == crm.customers[7]["id"]  # the right customer
