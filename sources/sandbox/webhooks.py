"""Signed vendor webhooks, the way the real systems push them (helpers/EVENTS-CONTRACT.md).

Standard Webhooks 1.0 signing; at-least-once delivery with a few retries on connection errors
and 5xx, keeping the message's `webhook-id` so a receiver can deduplicate; deliveries run as
tracked background tasks, so neither a slow receiver nor a dead one holds up the sandbox's own
answers. Payloads carry ids and states only: no names, numbers or other PII.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
REGION = "us-east-1"
CCAAS_EVENTS = (
    "INITIATED",
    "CONNECTED_TO_AGENT",
    "CONTACT_DATA_UPDATED",
    "DISCONNECTED",
    "COMPLETED",
)
CORE_EVENTS = ("PAYMENT_POSTED", "FRAUD_ALERT")
_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError with a clear message otherwise."""
    if not secret.startswith(_PREFIX):
        raise ValueError("a webhook secret looks like whsec_<base64 key>")
    try:
        key = base64.b64decode(secret[len(_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("the part of a webhook secret after whsec_ must be base64") from None
    if len(key) < 16:
        raise ValueError("a webhook secret's key must be at least 16 bytes")
    return key


def webhook_url(url: str) -> str:
    """The base URL deliveries go to (`{url}/ccaas`...): http(s) with a host, no trailing /."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL must be an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("a webhook URL takes no query or fragment")
    return url.rstrip("/")


def sign(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ccaas_event(
    event_type: str, contact_id: str, *, agent_id: str | None = None, idv: str | None = None
) -> dict[str, Any]:
    """An Amazon Connect contact event in its EventBridge envelope."""
    if event_type not in CCAAS_EVENTS:
        raise ValueError(f"unknown CCaaS event type {event_type!r}")
    detail: dict[str, Any] = {
        "eventType": event_type,
        "contactId": contact_id,
        "channel": "VOICE",
        "initiationMethod": "INBOUND",
    }
    if agent_id is not None:
        detail["agentInfo"] = {
            "agentArn": f"arn:aws:connect:{REGION}:{ACCOUNT}:instance/sandbox/agent/{agent_id}"
        }
    if idv is not None:
        detail["contactData"] = {"attributes": {"idv": idv}}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Amazon Connect Contact Event",
        "source": "aws.connect",
        "time": _now_iso(),
        "account": ACCOUNT,
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


class Poster:
    """Posts signed payloads to `{base}/{system}` in the background, in order per `key`.

    Per-key ordering (one call's events) is a courtesy for tests and demos; receivers must still
    cope with duplicates, which retries produce by design.
    """

    def __init__(
        self,
        base: str,
        secret: str,
        *,
        attempts: int = 4,
        backoff_s: float = 0.1,
        timeout_s: float = 2.0,
    ) -> None:
        secret_key(secret)  # fail at start-up, not at the first delivery
        self.base = webhook_url(base)
        self.secret = secret
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.delivered = 0  # 2xx/3xx answers
        self.failed = 0  # refused (4xx) or given up on
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Task[None]] = {}
        self._replay = itertools.count(1)

    def send(self, system: str, payload: dict[str, Any], *, key: str | None = None) -> str:
        """Schedule one delivery (call on the event loop); returns its webhook id at once."""
        webhook_id = f"msg_{uuid.uuid4().hex}"
        body = orjson.dumps(payload)
        previous = self._last.get(key) if key is not None else None
        task = asyncio.get_running_loop().create_task(
            self._deliver(system, webhook_id, body, previous)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key is not None:
            self._last[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return webhook_id

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self._last.get(key) is task:
            del self._last[key]

    def next_replay_id(self) -> int:
        return next(self._replay)

    def cancel(self) -> None:
        """Drop every pending delivery (shutdown): nothing outlives the sandbox's loop."""
        for task in list(self._tasks):
            task.cancel()

    async def drain(self) -> None:
        """Wait for the deliveries scheduled so far (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _deliver(
        self, system: str, webhook_id: str, body: bytes, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            # Wait for the earlier event of the same key, whatever became of it; shielded so
            # that cancelling this delivery does not cancel that one.
            await asyncio.gather(asyncio.shield(previous), return_exceptions=True)
        url = f"{self.base}/{system}"
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self.secret, webhook_id, timestamp, body),
            }
            try:
                async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                    response = await http.post(url, content=body, headers=headers)
            except httpx.TransportError as exc:
                outcome = type(exc).__name__
            else:
                status = response.status_code
                if status < 400:
                    self.delivered += 1
                    return
                if status < 500 and status != 429:  # refused for good: retrying cannot help
                    self.failed += 1
                    log.warning("webhook %s to /%s refused: %d", webhook_id, system, status)
                    return
                outcome = str(response.status_code)
            log.info("webhook %s to /%s attempt %d: %s", webhook_id, system, attempt + 1, outcome)
        self.failed += 1
        log.warning(
            "webhook %s to /%s gave up after %d attempts", webhook_id, system, self.attempts
        )


def post_case_update(
    poster: Poster,
    *,
    case_id: str,
    customer_id: str,
    status: str,
    change_type: str = "UPDATE",
    changed_fields: Sequence[str] = ("Status",),
) -> str:
    """A Salesforce change event for a Case, to `{base}/crm`; returns the webhook id."""
    if change_type not in ("CREATE", "UPDATE"):
        raise ValueError("change_type must be CREATE or UPDATE")
    payload = {
        "schema": "sandbox-case-change-v1",
        "payload": {
            "ChangeEventHeader": {
                "entityName": "Case",
                "changeType": change_type,
                "recordIds": [case_id],
                "commitTimestamp": int(time.time() * 1000),
                "transactionKey": str(uuid.uuid4()),
                "changedFields": list(changed_fields),
            },
            "ContactId": customer_id,
            "Status": status,
        },
        "event": {"replayId": poster.next_replay_id()},
    }
    return poster.send("crm", payload, key=case_id)


def post_core_event(poster: Poster, *, event_type: str, party_id: str, reference_id: str) -> str:
    """A core banking event (payment posted, fraud alert), to `{base}/core`."""
    if event_type not in CORE_EVENTS:
        raise ValueError(f"event_type must be one of: {', '.join(CORE_EVENTS)}")
    payload = {
        "eventId": str(uuid.uuid4()),
        "eventType": event_type,
        "occurredAt": _now_iso(),
        "partyId": party_id,
        "referenceId": reference_id,
    }
    return poster.send("core", payload, key=party_id)
