"""Compiled execution, once a level woken by one batch is placed, sends the batches it started
at the next event-loop turn (`Loaders.hurry`, gateway/execution/run.py `_complete`), not
after six: those turns ran the level's other answers first (the screen-pop's transactions,
issue #18). An operation's only root field sends the batches its value starts at once
(`Loaders.dispatch_since`): no sibling could add a key; sibling root fields keep the six
turns, so their children still share one call."""

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
        self.calls: list[list[str]] = []

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.turn += 1

    async def accounts(self, parties: list[str]) -> list[Any]:
        self.started["accounts"] = self.turn
        self.calls.append(parties)
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
    data, errors = await _ticking(core, plan, loaders)
    assert not errors
    assert data == {
        "customer": {"accounts": [{"id": "ACC-PTY-A", "transactions": [{"id": "TX-ACC-PTY-A"}]}]}
    }
    # the only root field's children go at once, and so does the next level
    assert core.started["accounts"] <= 1
    # the accounts' answer wakes the level; its transactions go once the callers that answer
    # woke have run: the turn the level is placed in, then the batch's own task
    assert core.started["transactions"] - core.answered["accounts"] <= 2


async def test_sibling_root_fields_children_keep_their_turns_and_share_a_call() -> None:
    """The second root field answers a turn after the first: its children's keys still join
    the first's batch (one accounts call), as in standard execution."""
    core = _Core()
    loaders = Loaders(cast(Any, SimpleNamespace(core=core)))

    async def customer(context: Any, args: Any) -> Any:
        if args["id"] == "2":
            await asyncio.sleep(0)
        return SimpleNamespace(
            id=f"003{args['id']}", core_party_id=f"PTY-{args['id']}", ccaas_profile_id=None
        )

    plan = _rebind(
        _plan(
            '{ a: customer(id: "1") { accounts { id } } b: customer(id: "2") { accounts { id } } }'
        ),
        {"a": RootFetch(customer), "b": RootFetch(customer)},
        {"accounts": Fetch(_accounts)},
    )
    data, errors = await _ticking(core, plan, loaders)
    assert not errors
    assert data == {
        "a": {"accounts": [{"id": "ACC-PTY-1"}]},
        "b": {"accounts": [{"id": "ACC-PTY-2"}]},
    }
    assert core.calls == [["PTY-1", "PTY-2"]]
    assert core.started["accounts"] >= 6


async def _ticking(core: Any, plan: Any, loaders: Loaders) -> tuple[Any, list[Any]]:
    """`plan` run while the stand-in core counts the event loop's turns."""
    ticker = asyncio.ensure_future(core.tick())
    try:
        data, errors, _, _ = await execute_plan(
            plan, SimpleNamespace(loaders=loaders, access=_ALLOW), NO_VARIABLES
        )
    finally:
        ticker.cancel()
    return data, errors
