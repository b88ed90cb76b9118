"""The `on_settled` hook (gateway/writes/settled.py): one audit line per final write and its
canonical events into the broker — ids and states only, never the note."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.events.broker import Delivery, InProcessBroker
from gateway.events.mapping import CloudEvent
from gateway.observability.audit import AuditLog
from gateway.writes import WriteRecord
from gateway.writes.settled import events_of, on_settled_for
from tests.mutations.doubles import make_record

ISSUER = "https://idp.example"


def _record(operation: Any, status: Any = "APPLIED", record_id: str | None = "REC1") -> WriteRecord:
    return make_record(
        write_id="w_abc",
        status=status,
        operation=operation,
        target="TARGET1",
        issuer=ISSUER,
        subject="agent-0001",
        record_id=record_id,
    )


@pytest.mark.parametrize(
    ("operation", "kind", "subject", "data"),
    [
        (
            "recordDisposition",
            "interaction.dispositioned",
            "TARGET1",
            {"interactionId": "TARGET1", "taskId": "REC1", "writeId": "w_abc"},
        ),
        (
            "addCaseNote",
            "case.updated",
            "TARGET1",
            {"caseId": "TARGET1", "commentId": "REC1", "writeId": "w_abc"},
        ),
        (
            "createCase",
            "case.created",
            "REC1",
            {"caseId": "REC1", "customerId": "TARGET1", "writeId": "w_abc"},
        ),
    ],
)
def test_an_applied_write_emits_its_canonical_event_then_settled(
    operation: str, kind: str, subject: str, data: dict[str, str]
) -> None:
    domain, settled = events_of(_record(operation))
    assert (domain.type, domain.subject, dict(domain.data)) == (kind, subject, data)
    assert domain.id == f"w_abc:{kind}" and domain.source == "switchboard/writes"
    assert (settled.type, settled.subject) == ("write.settled", "w_abc")
    assert dict(settled.data) == {"writeId": "w_abc", "operation": operation, "status": "APPLIED"}


def test_an_agent_s_case_note_names_the_case_s_customer_so_the_journey_shows_it() -> None:
    record = make_record(
        write_id="w_abc",
        status="APPLIED",
        operation="addCaseNote",
        target="500SB0000000000001",
        issuer=ISSUER,
        subject="agent-0001",
        record_id="00aSB1",
        customer_id="003SB0000000000007",
    )
    domain, _ = events_of(record)
    assert domain.data["customerId"] == "003SB0000000000007"
    assert domain.data["caseId"] == "500SB0000000000001"


def test_a_rejected_write_emits_only_settled() -> None:
    (settled,) = events_of(_record("addCaseNote", "REJECTED", None))
    assert settled.type == "write.settled" and settled.data["status"] == "REJECTED"


def test_the_hook_audits_and_publishes_once_even_when_run_twice() -> None:
    lines: list[dict[str, Any]] = []
    audit = AuditLog(lambda b: lines.extend(json.loads(x) for x in b.splitlines()))
    broker = InProcessBroker()

    async def scenario() -> list[CloudEvent]:
        subscription = broker.subscribe(None)
        hook = on_settled_for(broker, audit)
        record = _record("createCase")
        await hook(record)
        await hook(record)  # a replica crashed after the CRM answered: the hook runs again
        seen = []
        while True:
            try:
                async with asyncio.timeout(0.2):
                    item = await anext(subscription)
            except TimeoutError:
                break
            assert isinstance(item, Delivery)
            seen.append(item.event)
        await subscription.aclose()
        await audit.aclose()
        return seen

    seen = asyncio.run(scenario())
    assert [e.type for e in seen] == ["case.created", "write.settled"]
    assert len(lines) == 2  # one audit line per run of the hook: each run is a fact
    line = lines[0]
    assert {k: line[k] for k in ("type", "subject", "issuer", "operation", "outcome")} == {
        "type": "write",
        "subject": "agent-0001",
        "issuer": ISSUER,
        "operation": "createCase",
        "outcome": "APPLIED",
    }
    assert (line["writeId"], line["target"], line["recordId"]) == ("w_abc", "TARGET1", "REC1")


def test_a_broker_outage_does_not_cost_the_audit_line(caplog: pytest.LogCaptureFixture) -> None:
    lines: list[bytes] = []
    audit = AuditLog(lines.append)

    class Down:
        async def publish(self, event: CloudEvent) -> str | None:
            raise ConnectionError("redis is down")

    async def scenario() -> None:
        hook = on_settled_for(Down(), audit)  # type: ignore[arg-type]
        await hook(_record("recordDisposition"))
        await audit.aclose()

    asyncio.run(scenario())
    assert len(lines) == 1
    assert "interaction.dispositioned not published (ConnectionError)" in caplog.text
