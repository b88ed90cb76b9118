"""Vendor payloads as EVENTS-CONTRACT.md pins them, and signed deliveries of them."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from gateway.events.signatures import sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # base64 of 24 letters
CONTACT = "2f1c7a0e-8d43-4b8e-9a57-3f2b9e0c1d44"
AGENT = "agent-0042"
ARN = f"arn:aws:connect:us-east-1:000000000000:instance/sandbox/agent/{AGENT}"


def connect(event_type: str, *, idv: str | None = None, event_id: str | None = None) -> Any:
    detail: dict[str, Any] = {
        "eventType": event_type,
        "contactId": CONTACT,
        "channel": "VOICE",
        "initiationMethod": "INBOUND",
    }
    if event_type != "INITIATED":
        detail["agentInfo"] = {"agentArn": ARN}
    if idv is not None:
        detail["contactData"] = {"attributes": {"idv": idv}}
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Amazon Connect Contact Event",
        "source": "aws.connect",
        "time": "2026-12-06T02:40:00Z",
        "account": "000000000000",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def case_change(change: str = "UPDATE", *, entity: str = "Case", key: str = "") -> Any:
    return {
        "schema": "fVwTzmK3R4Yk",
        "payload": {
            "ChangeEventHeader": {
                "entityName": entity,
                "changeType": change,
                "recordIds": ["500Hs00001XyZaBIAV"],
                "commitTimestamp": 1_765_000_000_000,
                "transactionKey": key or str(uuid.uuid4()),
                "changedFields": ["Status"],
            },
            "ContactId": "CUST-000123",
            "Status": "Escalated",
        },
        "event": {"replayId": 4711},
    }


def core(event_type: str = "PAYMENT_POSTED", *, event_id: str = "") -> Any:
    return {
        "eventId": event_id or str(uuid.uuid4()),
        "eventType": event_type,
        "occurredAt": "2026-12-06T03:40:00+01:00",
        "partyId": "P-0000123",
        "referenceId": "PAY-778",
    }


def signed(
    payload: Any,
    *,
    secret: str = SECRET,
    webhook_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }
    return body, headers
