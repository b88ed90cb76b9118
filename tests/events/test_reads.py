"""One CCaaS read per event per replica (gateway/events/reads.py): shared by every subscriber
that asks, never cancelled by one of them, forgotten when it failed."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

from gateway.events.broker import Delivery
from gateway.events.mapping import CloudEvent
from gateway.events.reads import OFFERED, EventReads
from gateway.observability.tracing import Tracing
from sources import SourceError, Sources, SourceUnavailable
from sources.records import Contact

NOW = datetime(2026, 12, 6, 3, tzinfo=UTC)


class _Ccaas:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.gate = asyncio.Event()

    async def contacts(self, ids: list[str]) -> list[Contact]:
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise SourceUnavailable("ccaas", "down")
        return [cast(Contact, SimpleNamespace(id=i)) for i in ids]


def _reads() -> tuple[EventReads, _Ccaas]:
    ccaas = _Ccaas()
    return EventReads(cast(Sources, SimpleNamespace(ccaas=ccaas))), ccaas


def test_subscribers_of_one_event_share_its_read_and_a_cancelled_one_cancels_nothing() -> None:
    async def scenario() -> tuple[int, list[str], int]:
        reads, ccaas = _reads()
        first = asyncio.ensure_future(reads.contact("c-1", "k"))
        others = [asyncio.ensure_future(reads.contact("c-1", "k")) for _ in range(5)]
        await asyncio.sleep(0)
        first.cancel()  # its subscriber went away mid-read
        await asyncio.sleep(0)
        ccaas.gate.set()
        found = await asyncio.gather(*others)
        later = await reads.contact("c-2", "k")  # the contact's next event: read afresh
        return ccaas.calls, [c.id for c in found if c] + [later.id if later else ""], len(reads)

    calls, found, kept = asyncio.run(scenario())
    assert calls == 2
    assert found == ["k"] * 6
    assert kept == 2


def test_a_failed_read_reaches_its_waiters_and_is_forgotten() -> None:
    async def scenario() -> tuple[int, int, int]:
        reads, ccaas = _reads()
        ccaas.fail = True
        ccaas.gate.set()
        waiting = [asyncio.ensure_future(reads.contact("c-1", "k")) for _ in range(3)]
        results = await asyncio.gather(*waiting, return_exceptions=True)
        failed = sum(isinstance(r, SourceError) for r in results)
        forgotten = len(reads)
        ccaas.fail = False
        assert await reads.contact("c-1", "k") is not None  # a later asker reads again
        return failed, forgotten, ccaas.calls

    assert asyncio.run(scenario()) == (3, 0, 2)


def test_the_reads_kept_are_bounded() -> None:
    size = 3

    async def scenario() -> int:
        ccaas = _Ccaas()
        ccaas.gate.set()
        reads = EventReads(cast(Sources, SimpleNamespace(ccaas=ccaas)), size=size)
        for n in range(10):
            await reads.contact(f"c-{n}", "k")
        return len(reads)

    assert asyncio.run(scenario()) == size


def test_the_owner_of_an_offered_contact_is_read_under_the_webhooks_trace() -> None:
    """The router learns an offered contact's agent in no request's context (the Redis
    broker's reader): its read is made under the webhook's ingest span, as a feed's reads are,
    and the owner's feed then finds that read instead of making another."""
    current: ContextVar[str] = ContextVar("traced_under", default="")
    under: list[str] = []

    class _Span:
        def __init__(self, token: Token[str]) -> None:
            self._token = token

        def end(self, error: bool = False, attributes: object = None) -> None:
            current.reset(self._token)

    class _Tracing:
        def within(self, traceparent: str) -> _Span:
            return _Span(current.set(traceparent))

    class _Traced(_Ccaas):
        async def contacts(self, ids: list[str]) -> list[Contact]:
            under.append(current.get())
            return [
                Contact(i, "p", "VOICE", "INBOUND", NOW, None, "QUEUED", None, "agent-1",
                        None, None, None, "NOT_ATTEMPTED", None, None)
                for i in ids
            ]  # fmt: skip

    async def scenario() -> tuple[str | None, Contact | None, str]:
        ccaas = _Traced()
        reads = EventReads(
            cast(Sources, SimpleNamespace(ccaas=ccaas)), tracing=cast(Tracing, _Tracing())
        )
        event = CloudEvent("e", "switchboard/ccaas", OFFERED, "2026-12-06T03:00:00Z", "k",
                           traceparent="00-abc-def-01")  # fmt: skip
        owner = await reads.owner(Delivery("c-1", event))
        return owner, await reads.contact("c-1", "k"), current.get()

    owner, contact, after = asyncio.run(scenario())
    assert (owner, contact and contact.agent_id, after) == ("agent-1", "agent-1", "")
    assert under == ["00-abc-def-01"]  # one read, made under the ingest span
