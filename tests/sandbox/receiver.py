"""A webhook receiver over real sockets for the call and webhook tests: it records every
delivery (headers, raw body) and, when told the sandbox's URL, what the CCaaS contacts API said
about the contact at the moment the delivery arrived."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sources.sandbox.server import background_server

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Delivery:
    system: str
    webhook_id: str
    timestamp: str
    signature: str
    raw: bytes
    contact: dict[str, Any] | None  # the CCaaS contact as the API showed it on arrival
    status: int

    @property
    def body(self) -> Any:
        return orjson.loads(self.raw)

    @property
    def event_type(self) -> str:
        event: str = self.body["detail"]["eventType"]
        return event


def signature_valid(delivery: Delivery, secret: str = SECRET) -> bool:
    """Verify independently of sources.sandbox.webhooks: Standard Webhooks 1.0, by hand."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery.webhook_id}.{delivery.timestamp}.".encode() + delivery.raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (part.partition(",") for part in delivery.signature.split())
    )


def _contact_of(raw: bytes) -> str | None:
    contact: str | None = orjson.loads(raw).get("detail", {}).get("contactId")
    return contact


@dataclass
class Receiver:
    url: str = ""
    sandbox_url: str = ""
    fail_next: int = 0  # answer 503 to this many deliveries, then 204
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, contact_id: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if _contact_of(d.raw) == contact_id]

    def wait(self, contact_id: str, count: int, timeout: float = 10.0) -> list[Delivery]:
        """The contact's first `count` deliveries, polling for at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.of(contact_id)
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, [d.event_type for d in found]
                return found[:count]
            time.sleep(0.01)


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()

    async def receive(request: Request) -> Response:
        raw = await request.body()
        contact = None
        contact_id = _contact_of(raw)
        if contact_id and receiver.sandbox_url:
            async with httpx.AsyncClient(base_url=receiver.sandbox_url, timeout=5) as http:
                found = (await http.get("/ccaas/contacts", params={"id": contact_id})).json()
            contact = found["Contacts"][0] if found["Contacts"] else None
        with receiver.lock:
            status = 503 if receiver.fail_next > 0 else 204
            receiver.fail_next -= 1 if status == 503 else 0
            receiver.deliveries.append(
                Delivery(
                    request.path_params["system"],
                    request.headers["webhook-id"],
                    request.headers["webhook-timestamp"],
                    request.headers["webhook-signature"],
                    raw,
                    contact,
                    status,
                )
            )
        return Response(status_code=status)

    app = Starlette(routes=[Route("/hooks/{system}", receive, methods=["POST"])])
    with background_server(app, lifespan="off") as url:
        receiver.url = f"{url}/hooks"
        yield receiver
