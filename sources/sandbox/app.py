"""The sandbox as one raw ASGI callable: route by system prefix, count, inject faults, answer.

A raw callable rather than a framework router: the sandbox is the benchmarks' back-end, and a
dict look-up plus two `send` calls is as little of its own cost as it can add.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from starlette.types import Receive, Scope, Send

from .calls import Calls
from .ccaas import Ccaas
from .control import DATA_SYSTEMS, SYSTEMS, Control, Counter, Fault
from .core import Core
from .crm import Crm
from .crm_writes import CrmWrites, sf_error
from .data import Dataset
from .http import JSON, BadRequest, Handler, Request, Response, error, ok
from .idp import Idp
from .knowledge import Knowledge
from .openapi import document
from .webhooks import Poster

_GARBAGE = b'{"totalSize": 1, "done": true, "records": [{"Id": "003SB0000'
_MAX_BODY = 1 << 20


class SandboxApp:
    def __init__(
        self,
        *,
        seed: int,
        customers: int,
        latency_ms: float,
        anchor: datetime,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        canary: bool = False,
    ) -> None:
        if (webhook_url is None) != (webhook_secret is None):
            raise ValueError("a webhook URL and a webhook secret go together")
        self.data = Dataset(seed, customers, anchor, canary=canary)
        self.poster = (
            Poster(webhook_url, webhook_secret)
            if webhook_url is not None and webhook_secret is not None
            else None
        )
        self.calls = Calls(self.data, self.poster)
        self.writes = CrmWrites(self.data)
        self.crm = Crm(self.data, self.writes)
        self.routes: dict[str, dict[str, Handler]] = {
            "crm": self.crm.routes(),
            "core": Core(self.data).routes(),
            "ccaas": Ccaas(self.data).routes(),
            "knowledge": Knowledge(seed, self.data.clock).routes(),
            "idp": Idp().routes(),
        }
        self.openapi = {name: document(name) for name in SYSTEMS}
        self.faults = {
            name: Fault(latency_ms=latency_ms if name in DATA_SYSTEMS else 0.0) for name in SYSTEMS
        }
        self.counters = {name: Counter() for name in SYSTEMS}
        self.control = Control(self.data, self.faults, self.counters).routes()
        self.control.update(self.calls.routes())
        self.control.update(
            {
                "GET /faults/writes": self.writes.show_fault,
                "POST /faults/writes": self.writes.set_fault,
                "POST /crm/duplicates": self.writes.seed_duplicate,
            }
        )
        self._draws = random.Random(seed)  # error_rate decisions, reproducible per seed
        self._hanging: set[Any] = set()
        self._closing = False

    def abort_hanging(self) -> None:
        """Drop connections held open by the `timeout` fault and stop simulated calls and their
        webhook deliveries, so a server can shut down."""
        self._closing = True
        self.calls.cancel()
        if self.poster is not None:
            self.poster.cancel()
        for transport in list(self._hanging):
            transport.abort()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        _, system, rest = path.split("/", 2) if path.count("/") >= 2 else ("", "", "")
        route = f"{method} /{rest}"
        if system == "_sandbox":
            handler = self.control.get(route) or self.calls.match(method, rest)
        elif system == "crm" and method == "PATCH":
            await self._write(rest, receive, send)
            return
        elif system in self.routes:
            if route == "GET /openapi.json":
                await _answer(send, ok(self.openapi[system]))
                return
            handler = self.routes[system].get(route)
            if handler is None and system == "crm":
                handler = self.crm.match(method, rest)
                route = f"{method} /cases/{{id}}/comments" if handler is not None else route
            if handler is not None:
                self.counters[system].count(route, _traceparent(scope))
                if not await self._survive_fault(system, receive, send):
                    return
        else:
            handler = None
        if handler is None:
            await _answer(send, error(404, f"no route {method} {path}"))
            return
        host, content_type = "127.0.0.1", ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        try:
            body = await _read_body(receive) if method == "POST" else b""
            query = scope["query_string"]
            response = handler(Request.parse(method, path, query, host, content_type, body))
        except BadRequest as exc:
            response = error(400, exc.message)
        await _answer(send, response)

    async def _write(self, rest: str, receive: Receive, send: Send) -> None:
        """An upsert by external id (crm_writes.py): counted, the `crm` fault first (a CRM that
        is down takes writes with it), then the write fault, then the write itself."""
        target = CrmWrites.parse_path(rest)
        if target is None:
            await _answer(send, sf_error(404, "NOT_FOUND", "The requested resource does not exist"))
            return
        obj, external_id = target
        self.counters["crm"].count(f"PATCH /sobjects/{obj}")
        if not await self._survive_fault("crm", receive, send):
            return
        mode = self.writes.fault.take()
        if mode in ("down", "timeout"):
            await self._hang(receive, drop=mode == "down")
            return
        try:
            body = await _read_body(receive)
        except BadRequest as exc:
            await _answer(send, sf_error(400, "JSON_PARSER_ERROR", exc.message))
            return
        latency = self.writes.fault.latency_ms
        if mode == "ok" and latency > 0:  # slow: processed, then applied and answered late
            await asyncio.sleep(latency / 1000)
        if mode == "error":
            await _answer(send, error(503, "crm writes are unavailable (injected fault)"))
            return
        if mode == "reject":
            await _answer(
                send,
                sf_error(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Rejected (injected fault)"),
            )
            return
        response = self.writes.upsert(obj, external_id, body)
        if mode == "applied_then_timeout":  # written; the answer comes too late, or never
            if latency <= 0:
                await self._hang(receive, drop=False)
                return
            await asyncio.sleep(latency / 1000)
        await _answer(send, response)

    async def _hang(self, receive: Receive, *, drop: bool) -> None:
        if drop or self._closing:
            _transport(receive).abort()  # a closed socket, not an HTTP answer
            await _until_disconnect(receive)
            return
        transport = _transport(receive)
        self._hanging.add(transport)
        try:
            await _until_disconnect(receive)
        finally:
            self._hanging.discard(transport)

    async def _survive_fault(self, system: str, receive: Receive, send: Send) -> bool:
        """Apply the system's fault switches; False when the fault already dealt with the call."""
        fault = self.faults[system]
        if fault.mode in ("down", "timeout"):
            await self._hang(receive, drop=fault.mode == "down")
            return False
        if fault.latency_ms > 0:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.mode == "error" or (
            fault.error_rate > 0 and self._draws.random() < fault.error_rate
        ):
            await _answer(send, error(503, f"{system} is unavailable (injected fault)"))
            return False
        if fault.mode == "garbage":
            await _answer(send, ok(_GARBAGE))
            return False
        return True


def _transport(receive: Receive) -> Any:
    """The connection under uvicorn's request cycle (`receive` is its bound method).

    ASGI has no way to say "drop the connection", so `down` and `timeout` reach past it; both
    uvicorn's httptools and h11 protocols keep the asyncio transport on the cycle.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("down/timeout faults need the sandbox to run under uvicorn")
    return transport


def _traceparent(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"traceparent":
            text: str = value.decode("latin-1")
            return text[:64]
    return None


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise BadRequest("body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(send: Send, response: Response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (b"content-type", JSON),
                (b"content-length", str(len(response.body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(
    *,
    seed: int = 7,
    customers: int = 10_000,
    latency_ms: float = 0.0,
    anchor: datetime | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    canary: bool = False,
) -> SandboxApp:
    """The five systems in one ASGI app; `anchor` defaults to now, truncated to the minute.
    With a webhook URL and secret, simulated calls post signed vendor webhooks there.
    `canary`: names, e-mails and streets carry a marker (population.CANARY) for leak tests."""
    if anchor is None:
        anchor = datetime.now(UTC).replace(second=0, microsecond=0)
    return SandboxApp(
        seed=seed,
        customers=customers,
        latency_ms=latency_ms,
        anchor=anchor,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        canary=canary,
    )
