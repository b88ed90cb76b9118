"""What happens once a write is final (the service's `on_settled` hook, WRITES-CONTRACT.md 3):
its audit line, its canonical event for the journey and the other desktops, and the
`write.settled` event that `writeCompleted` waits for (through the broker, so a write delivered
by another replica's worker completes a subscription here too).

The audit line says who (issuer and subject, as the read audit trail does), which operation,
which record, and the outcome — never the note. Events carry ids and states only (DOMAIN.md),
with an id stable per write and type: a hook run twice for one write (a replica crashed between
the CRM's answer and the hook's end) publishes nothing new, the broker dedupes it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

import orjson

from gateway.events.broker import Broker
from gateway.events.mapping import CloudEvent
from gateway.observability.audit import AuditLog
from gateway.writes import OnSettled, WriteRecord

__all__ = ["APPLIED_EVENTS", "SETTLED", "audit_line", "events_of", "on_settled_for"]

log = logging.getLogger("switchboard.writes")

SETTLED: Final = "write.settled"
SOURCE: Final = "switchboard/writes"
APPLIED_EVENTS: Final = MappingProxyType(
    {
        "recordDisposition": "interaction.dispositioned",
        "addCaseNote": "case.updated",
        "createCase": "case.created",
    }
)
"""The canonical event of each operation, once APPLIED."""

AUDIT_WAIT_SECONDS = 10.0


def on_settled_for(broker: Broker, audit: AuditLog) -> OnSettled:
    async def on_settled(record: WriteRecord) -> None:
        # each step on its own: a broker outage must not cost the audit line, nor the reverse
        try:
            await audit_line(audit, _audited(record))
        except Exception as exc:
            log.error("write %s: audit line failed (%s)", record.write_id, type(exc).__name__)
        for event in events_of(record):
            try:
                await broker.publish(event)
            except Exception as exc:
                log.error(
                    "write %s: %s not published (%s)",
                    record.write_id,
                    event.type,
                    type(exc).__name__,
                )

    return on_settled


def _audited(record: WriteRecord) -> dict[str, Any]:
    return {
        "type": "write",
        "subject": record.subject,
        "issuer": record.issuer,
        "operation": record.operation,
        "writeId": record.write_id,
        "target": record.target,
        "recordId": record.record_id,
        "outcome": record.status,
        "code": record.code,
    }


async def audit_line(audit: AuditLog, line: Mapping[str, Any]) -> None:
    """One audit line, waited for until written. The write already happened: when the audit
    queue is full the line waits for a place (AUDIT_WAIT_SECONDS) rather than being dropped."""
    delay = 0.01
    loop = asyncio.get_running_loop()
    give_up = loop.time() + AUDIT_WAIT_SECONDS
    while not audit.reserve():
        if loop.time() > give_up:
            log.error("audit queue full: a %s line was not recorded", line.get("type"))
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
    stamped = {"time": datetime.now(UTC).isoformat(), **line}
    await audit.submit(orjson.dumps(stamped) + b"\n")


def events_of(record: WriteRecord) -> tuple[CloudEvent, ...]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    settled = _event(
        f"{record.write_id}:settled",
        SETTLED,
        now,
        record.write_id,
        writeId=record.write_id,
        operation=record.operation,
        status=record.status,
    )
    if record.status != "APPLIED" or record.record_id is None:
        return (settled,)
    kind = APPLIED_EVENTS[record.operation]
    ident = f"{record.write_id}:{kind}"
    if record.operation == "recordDisposition":
        domain = _event(
            ident,
            kind,
            now,
            record.target,
            interactionId=record.target,
            taskId=record.record_id,
            writeId=record.write_id,
        )
    elif record.operation == "addCaseNote":
        domain = _event(
            ident,
            kind,
            now,
            record.target,
            caseId=record.target,
            commentId=record.record_id,
            writeId=record.write_id,
            # the journey of the case's customer shows it (known when an agent writes on their
            # contact's customer's case; a supervisor's note names no customer)
            **({} if record.customer_id is None else {"customerId": record.customer_id}),
        )
    else:
        domain = _event(
            ident,
            kind,
            now,
            record.record_id,
            caseId=record.record_id,
            customerId=record.target,
            writeId=record.write_id,
        )
    # the domain event first: a desktop woken by writeCompleted finds the journey updated
    return (domain, settled)


def _event(id: str, type: str, time: str, subject: str, **data: str) -> CloudEvent:
    return CloudEvent(
        id=id, source=SOURCE, type=type, time=time, subject=subject, data=MappingProxyType(data)
    )
