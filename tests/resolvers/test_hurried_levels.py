"""Compiled execution, once a level woken by one batch is placed, sends the batches it started
at the next event-loop turn (`Loaders.hurry`, gateway/execution/run.py `_complete`), not
after six: those turns ran the level's other answers first (the screen-pop's transactions,
issue #18)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from types import SimpleNamespace
from typing import Any, cast

from gateway.execution.run import execute_plan
from resolvers import Loaders
from schema.bindings import Fetch, RootFetch
from tests.gateway.test_compiled_cancellation import NO_VARIABLES, _plan, _rebind


class _Core:
    """Counts event-loop turns (a ticker) and notes at which turn each call starts."""

    def __init__(self) -> None:
        self.turn = 0
        self.started: dict[str, int] = {}
        self.answered: dict[str, int] = {}

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.turn += 1

    async def accounts(self, parties: list[str]) -> list[Any]:
        self.started["accounts"] = self.turn
        await asyncio.sleep(0)
        self.answered["accounts"] = self.turn
        return [SimpleNamespace(id=f"ACC-{p}", party_id=p) for p in parties]

    async def transactions(self, accounts: list[str], first: int) -> list[Any]:
        self.started["transactions"] = self.turn
        return [SimpleNamespace(id=f"TX-{a}", account_id=a, posted_at=0) for a in accounts]


_ALLOW = SimpleNamespace(decide=lambda *args: "allow")


def _accounts(loaders: Loaders, parents: Sequence[Any], args: Any) -> Awaitable[list[Any]]:
    return loaders.accounts.settle_many([p.core_party_id for p in parents])


def _transactions(loaders: Loaders, parents: Sequence[Any], args: Any) -> Awaitable[list[Any]]:
    return loaders.transactions.settle_many([(a.id, 2) for a in parents])


async def test_a_level_woken_by_one_batch_sends_its_childrens_batch_the_next_turn() -> None:
    core = _Core()
    loaders = Loaders(cast(Any, SimpleNamespace(core=core)))

    async def customer(context: Any, args: Any) -> Any:
        return SimpleNamespace(id="003A", core_party_id="PTY-A", ccaas_profile_id=None)

    plan = _rebind(
        _plan('{ customer(id: "1") { accounts { id transactions(first: 2) { id } } } }'),
        {"customer": RootFetch(customer)},
        {"accounts": Fetch(_accounts), "transactions": Fetch(_transactions)},
    )
    ticker = asyncio.ensure_future(core.tick())
    try:
        data, errors, _, _ = await execute_plan(
            plan, SimpleNamespace(loaders=loaders, access=_ALLOW), NO_VARIABLES
        )
    finally:
        ticker.cancel()
    assert not errors
    assert data == {
        "customer": {"accounts": [{"id": "ACC-PTY-A", "transactions": [{"id": "TX-ACC-PTY-A"}]}]}
    }
    # the root field's children keep their six turns; the next level goes at once
    assert core.started["accounts"] >= 6
    assert core.started["transactions"] - core.answered["accounts"] <= 4
