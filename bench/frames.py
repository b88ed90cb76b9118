"""What building a subscription's frame costs, per event, on compiled and on standard execution:
the gateway's own schema and subscription entry point (gateway/events/execute.py, as the
WebSocket runs it), one subscription per configuration, fed prebuilt screen pops (the feed's
re-read of the contact and its customer, the same on both executions, is left out), each event
with fresh loaders and masking access as the feed gives it; back-end answers replayed from
memory (bench/masking.py's `Replay`), so the figure is the gateway's CPU: the frame's
execution, its fields' loader calls and the frame's extensions.

    python -m bench.frames [--events 400] [--warmup 40]

Prints CPU microseconds per frame (this thread's CPU clock; the median of chunks of frames, the
two executions alternating) for each document and caller, and standard / compiled.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.routing import WebSocketRoute

from bench.masking import Replay
from gateway.app import create_app
from gateway.auth.authenticator import Principal
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.events.execute import Subscriptions
from gateway.http.view import SubscriptionView
from gateway.masking.access import Access
from gateway.masking.event_access import event_access
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from gateway.observability.errors import quiet_strawberry_logger
from resolvers import Loaders
from resolvers.callers import profile_customer
from schema import Pop
from sources import SYSTEMS, Sources, SourceSettings
from sources.records import Contact, Customer
from sources.sandbox import create_app as sandbox_app
from sources.transport import HttpxExchange

EVENT = "subscription Event { screenPops { cursor event } }"
"""The floor: what every frame costs whatever it selects (the event's access, the stream)."""

POP = """subscription Pop { screenPops {
  cursor event
  interaction { id channel state agentId intent idvResult verified summary }
  customers {
    id fullName segment preferredLanguage dateOfBirth ssn emails
    phones { number type } address { street city state postalCode }
  }
} }"""
"""The screen-pop a desktop paints at once: the contact and its customer, no other system."""

CONTEXT = """subscription Context { screenPops {
  cursor event
  interaction { id channel state agentId intent idvResult verified summary }
  customers {
    id fullName segment dateOfBirth ssn phones { number type }
    accounts { id type productName accountNumber balance availableBalance
               transactions(first: 10) { id postedAt amount currency description status } }
    cards { id pan last4 brand status expiry }
    interactions(first: 10) { id channel startedAt intent summary verified }
    cases { id subject status priority }
    risk { needsSpecialist fraudHold collectionsStatus }
    journey { stage repeatContact openItems { kind summary } events(first: 20) { at kind summary } }
  }
} }"""
"""The full customer context fetched at OFFERED: every system, a few hundred fields."""

AGENT = "agent-bench"


@dataclass
class BenchContext:
    """What the feed's socket context gives a subscription (gateway/events/screen_pops.py),
    with the events prebuilt: per event, fresh loaders and the event's masking access."""

    principal: Principal
    sources: Sources
    guard: Guard
    contact: Contact
    customer: Customer
    events: int
    loaders: Loaders | None = None
    access: Access | None = None
    request_id: str = "bench"
    client_request_id: str | None = None
    may_introspect: bool = False
    connection_params: dict[str, Any] | None = None
    built: list[float] = field(default_factory=list)

    async def ready(self) -> None:
        return None

    def screen_pops(self, after: str | None) -> AsyncIterator[Pop]:
        return self._pops()

    async def _pops(self) -> AsyncIterator[Pop]:
        for n in range(self.events):
            self.loaders = Loaders(self.sources)
            self.access = await event_access(self.guard, self.principal, self.contact)
            yield Pop(f"bench-{n}", "CONNECTED", self.contact, (self.customer,))


def _subscriptions(sources: Sources, guard: Guard, execution: str) -> Subscriptions:
    """The gateway's own entry point, assembled by `create_app` for `execution`."""
    raw = demo_config(0, 1, execution)
    raw["trusted_documents"] = {"roles": []}
    app = create_app(build_config(raw, env={}), sources=sources, guard=guard)
    view = next(
        r.app
        for r in app.routes
        if isinstance(r, WebSocketRoute) and isinstance(r.app, SubscriptionView)
    )
    return view.subscriptions


async def _frames(
    subscriptions: Subscriptions, context: BenchContext, document: str, warmup: int, chunk: int
) -> list[float]:
    """CPU seconds per frame of each `chunk` of frames after `warmup` (plans compiled, the
    replay recorded)."""
    stream = await subscriptions.subscribe(document, context_value=context)
    chunks: list[float] = []
    started = 0.0
    count = 0
    async for result in stream:
        assert result.data is not None, result.errors
        count += 1
        if count >= warmup and (count - warmup) % chunk == 0:
            now = time.thread_time()
            if count > warmup:
                chunks.append((now - started) / chunk)
            started = now
    return chunks


async def run(events: int, warmup: int) -> None:
    quiet_strawberry_logger()
    sandbox = sandbox_app(customers=1000)
    settings = {n: SourceSettings(name=n, base_url=f"http://sandbox/{n}") for n in SYSTEMS}
    sources = Sources.open(settings, exchange=HttpxExchange.over(Replay(sandbox)))
    contacts: dict[str, tuple[Contact, Customer]] = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox"
    ) as control:
        sample = (await control.get("/_sandbox/sample", params={"n": 5})).json()["customers"]
        for idv in ("NOT_ATTEMPTED", "PASSED"):
            made = await control.post(
                "/_sandbox/contacts",
                json={"customerId": sample[4]["id"], "agentId": AGENT, "idv": idv},
            )
            loaders = Loaders(sources)
            contact = await loaders.contact.load(made.json()["id"])
            assert contact is not None
            customer = await profile_customer(loaders, contact)
            assert customer is not None
            contacts[idv] = (contact, customer)
    rows = []
    callers = (("agent", "NOT_ATTEMPTED"), ("agent", "PASSED"), ("supervisor", "PASSED"))
    chunk = max((events - warmup) // 10, 1)
    documents = (("event only", EVENT), ("screen pop", POP), ("full context", CONTEXT))
    for document_name, document in documents:
        for role, idv in callers:
            principal = Principal(AGENT, frozenset({role}), "bench", time.time() + 3600, True)
            spent: dict[str, list[float]] = {"standard": [], "compiled": []}
            for _ in range(3):  # alternately: a noisy neighbour weighs on both alike
                for execution in ("standard", "compiled"):
                    guard = Guard(Policy.load(), Masker(b"bench"), AuditLog(lambda _: None))
                    contact, customer = contacts[idv]
                    context = BenchContext(principal, sources, guard, contact, customer, events)
                    subscriptions = _subscriptions(sources, guard, execution)
                    spent[execution] += await _frames(
                        subscriptions, context, document, warmup, chunk
                    )
                    await guard.aclose()
            caller = f"{role}{' (verified)' if idv == 'PASSED' else ''}"
            standard, compiled = (statistics.median(spent[e]) for e in ("standard", "compiled"))
            rows.append((document_name, caller, standard, compiled))
    await sources.aclose()

    print(
        f"frame-building CPU per event: median of 3 x 10 chunks of {chunk} events "
        f"(after {warmup} warm-up), alternating executions"
    )
    print(f"{'document':<14}{'caller':<22}{'standard µs':>13}{'compiled µs':>13}{'ratio':>8}")
    for document_name, caller, standard, compiled in rows:
        ratio = standard / compiled
        print(
            f"{document_name:<14}{caller:<22}{standard * 1e6:>13.0f}{compiled * 1e6:>13.0f}"
            f"{ratio:>7.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.warmup))


if __name__ == "__main__":
    main()
