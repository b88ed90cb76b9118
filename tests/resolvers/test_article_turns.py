"""The articles' call, the last of the screen-pop's critical path (CRM search, then contacts,
then articles), goes out the event-loop turn after its first key, not the sixth: its keys are only
asked the moment a contacts batch answers, by every caller that batch wakes, so they still
share one call (issue #18: the extra turns ran the other level-2 answers first, ~0.5 ms)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from resolvers import Loaders
from resolvers.fields import articles_for, one
from sources.records import Article, Contact

from .records import customer


def _contact(profile: str, intent: str) -> Contact:
    return Contact(
        id=f"CON-{profile}",
        profile_id=profile,
        channel="VOICE",
        direction="INBOUND",
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
        ended_at=None,
        state="ENDED",
        queue=None,
        agent_id=None,
        intent=intent,
        summary=None,
        disposition=None,
        idv_result="PASSED",
        ani=None,
        previous_contact_id=None,
    )


class _Systems:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def contacts_of(self, profiles: list[str], per_profile: int) -> list[Contact]:
        await asyncio.sleep(0)
        return [_contact(p, f"intent-{p}") for p in profiles]

    async def by_intent(self, intents: list[str], limit: int) -> dict[str, list[Article]]:
        self.asked.append(list(intents))
        return {i: [cast(Article, SimpleNamespace(id=f"KB-{i}"))] for i in intents}


def _loaders(systems: _Systems) -> Loaders:
    return Loaders(cast(Any, SimpleNamespace(ccaas=systems, knowledge=systems)))


async def test_the_articles_call_goes_out_the_turn_after_its_first_key() -> None:
    systems = _Systems()
    loaders = _loaders(systems)
    pending = loaders.articles_by_intent.settle_many([("billing", 3)])
    for _ in range(2):  # 1 turn to the dispatch, 1 for the batch's task to start
        await asyncio.sleep(0)
    assert systems.asked == [["billing"]]
    assert [[a.id for a in found] for found in await pending] == [["KB-billing"]]  # type: ignore[union-attr]


async def test_customers_woken_by_one_contacts_batch_share_the_articles_call() -> None:
    """Compiled execution asks for every customer at once; standard execution, one resolver
    per customer, each waiting for the same contacts batch: one articles call either way."""
    customers = [customer(f"003C{n}", profile=f"PRO{n}") for n in range(3)]
    systems = _Systems()
    loaders = _loaders(systems)
    level = await articles_for(loaders, customers, 3)
    assert [[a.id for a in found] for found in level] == [  # type: ignore[union-attr]
        [f"KB-intent-PRO{n}"] for n in range(3)
    ]
    assert systems.asked == [[f"intent-PRO{n}" for n in range(3)]]

    systems = _Systems()
    loaders = _loaders(systems)
    each = await asyncio.gather(*(one(articles_for(loaders, [c], 3)) for c in customers))
    assert [[a.id for a in found] for found in each] == [[f"KB-intent-PRO{n}"] for n in range(3)]
    assert systems.asked == [[f"intent-PRO{n}" for n in range(3)]]


async def test_the_articles_call_goes_out_in_the_turn_a_contacts_answer_is_read() -> None:
    """Asked by the callers a contacts answer woke, the articles' batch goes once they have
    all run (the end of that turn), not at the next: its task starts the turn after."""
    systems = _Systems()
    loaders = _loaders(systems)
    turns = [0]
    answered: list[int] = []

    async def tick() -> None:
        while True:
            await asyncio.sleep(0)
            turns[0] += 1

    real = systems.contacts_of

    async def contacts_of(profiles: list[str], per_profile: int) -> list[Contact]:
        found = await real(profiles, per_profile)
        answered.append(turns[0])
        return found

    systems.contacts_of = contacts_of  # type: ignore[method-assign]
    asked: list[int] = []
    by_intent = systems.by_intent

    async def counted(intents: list[str], limit: int) -> dict[str, list[Article]]:
        asked.append(turns[0])
        return await by_intent(intents, limit)

    systems.by_intent = counted  # type: ignore[method-assign]
    ticker = asyncio.ensure_future(tick())
    try:
        level = await articles_for(
            loaders, [customer(f"003C{n}", profile=f"PRO{n}") for n in range(2)], 3
        )
    finally:
        ticker.cancel()
    assert [[a.id for a in found] for found in level] == [  # type: ignore[union-attr]
        ["KB-intent-PRO0"],
        ["KB-intent-PRO1"],
    ]
    assert systems.asked == [["intent-PRO0", "intent-PRO1"]]
    assert asked[0] - answered[0] <= 2
