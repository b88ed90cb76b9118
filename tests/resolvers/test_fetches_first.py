"""Compiled execution lets the work that starts a back-end call go before the work that only
projects records (issue #18, the screen-pop's critical path: CRM search, contacts, articles): a
field woken by an answer whose objects only project (no child field to fetch) projects them
after the batches hurried by the callers woken with it have gone (`Loaders.after_answers`), not
before: the articles' call no longer waits for the interactions', cases' and risk's
projections. Same calls, same answer (the differential tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from types import SimpleNamespace
from typing import Any, cast

from gateway.execution.run import execute_plan
from resolvers import Loaders
from resolvers._loader import Loader, after_answers, mark
from schema.bindings import Fetch, RootFetch
from tests.gateway.test_compiled_cancellation import NO_VARIABLES, _plan, _rebind
from tests.resolvers.test_loader_bulk import echo, noting

_ALLOW = SimpleNamespace(decide=lambda *args: "allow")


class _Account:
    """An account record that notes when its card projection reads it."""

    def __init__(self, party: str, log: list[str]) -> None:
        self.id = f"ACC-{party}"
        self.party_id = party
        self._log = log

    @property
    def brand(self) -> str:
        self._log.append("projected")
        return "VISA"


class _Core:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.calls: list[str] = []

    async def accounts(self, parties: list[str]) -> list[Any]:
        self.log.append("accounts sent")
        self.calls.append("accounts")
        await asyncio.sleep(0)
        return [_Account(p, self.log) for p in parties]

    async def transactions(self, accounts: list[str], first: int) -> list[Any]:
        self.log.append("transactions sent")
        self.calls.append("transactions")
        return [SimpleNamespace(id=f"TX-{a}", account_id=a, posted_at=0) for a in accounts]


async def _noted(log: list[str], settled: Awaitable[list[Any]]) -> list[Any]:
    log.append("waiting")
    return await settled


def _plan_with(core: _Core) -> Any:
    async def customer(context: Any, args: Any) -> Any:
        return SimpleNamespace(id="003A", core_party_id="PTY-A", ccaas_profile_id=None)

    def accounts(loaders: Loaders, parents: Sequence[Any], args: Any) -> Awaitable[list[Any]]:
        return _noted(core.log, loaders.accounts.settle_many([p.core_party_id for p in parents]))

    def transactions(loaders: Loaders, parents: Sequence[Any], args: Any) -> Awaitable[list[Any]]:
        return loaders.transactions.settle_many([(a.id, 2) for a in parents])

    # `cards` reads the same accounts batch: woken by the same answer, ahead of `accounts`
    return _rebind(
        _plan(
            '{ customer(id: "1") { cards { brand } '
            "accounts { id transactions(first: 2) { id } } } }"
        ),
        {"customer": RootFetch(customer)},
        {
            "cards": Fetch(accounts),
            "accounts": Fetch(accounts),
            "transactions": Fetch(transactions),
        },
    )


async def _run(core: _Core) -> Any:
    loaders = Loaders(cast(Any, SimpleNamespace(core=core)))
    data, errors, _, _ = await execute_plan(
        _plan_with(core), SimpleNamespace(loaders=loaders, access=_ALLOW), NO_VARIABLES
    )
    assert not errors
    return data


async def test_a_field_that_only_projects_goes_after_the_batch_its_level_hurried() -> None:
    """`cards` (leaves only) and `accounts` (whose transactions it fetches) are woken by one
    answer, `cards` first: the transactions' call goes before the cards are projected."""
    core = _Core()
    data = await _run(core)
    assert data == {
        "customer": {
            "cards": [{"brand": "VISA"}],
            "accounts": [{"id": "ACC-PTY-A", "transactions": [{"id": "TX-ACC-PTY-A"}]}],
        }
    }
    assert core.calls == ["accounts", "transactions"]  # one call each, as ever
    assert core.log.index("transactions sent") < core.log.index("projected")


async def test_a_caller_cancelled_while_it_waits_to_project_is_skipped() -> None:
    """One answer wakes a caller that waits to project and one that cancels it: the first is
    cancelled, the other gets its value and the hurried batch still goes (`_flush` skips a
    cancelled waiter)."""
    sent: list[list[str]] = []
    above: Loader[str, str] = Loader(echo)
    below = noting(sent)
    projected: list[str] = []
    loop = asyncio.get_running_loop()
    failures: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: failures.append(context))

    async def projecting() -> None:
        await above.settle_many(["a"])
        later = after_answers()
        assert later is not None  # woken by an answer whose flush has not run
        await later
        projected.append("a")

    first = asyncio.ensure_future(projecting())

    async def fetching() -> list[str | Exception]:
        await above.settle_many(["a"])
        first.cancel()
        since = mark()
        pending = below.settle_many(["b"])
        below.hurry(since)
        return await pending

    second = asyncio.ensure_future(fetching())
    await asyncio.sleep(0)  # both wait for the same batch
    above.dispatch()
    assert await second == ["b"]
    try:
        await first
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("not cancelled")
    loop.set_exception_handler(None)
    assert projected == [] and sent == [["b"]]
    assert failures == []  # no callback failed (a flush waking a cancelled waiter)
    assert after_answers() is None  # no answer's flush left
