"""One CCaaS read per event per replica (gateway/events/reads.py): shared by every subscriber
that asks, never cancelled by one of them, forgotten when it failed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

from gateway.events.reads import EventReads
from sources import SourceError, Sources, SourceUnavailable
from sources.records import Contact


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
