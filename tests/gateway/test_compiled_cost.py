"""What compiled execution itself costs per request, counted (not timed): the projection
clock is a system call per read (the thread's CPU clock), so it is read once before and once
after the work that follows each back-end answer, and no more (issue #18)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from graphql.execution.values import VariableValues

from gateway.execution import run
from gateway.execution.compile import Plan
from gateway.execution.run import execute_plan
from schema.bindings import Fetch, RootFetch
from tests.gateway.test_plans import _compile

IDS = '["003SB0000000000001", "003SB0000000000002"]'
QUERY = f"{{ customers(ids: {IDS}) {{ id accounts {{ id }} }} }}"


_LEVELS = SimpleNamespace(
    mark=lambda: 0,
    hurry=lambda since: None,
    dispatch_since=lambda since: None,
    after_answers=lambda: None,
)
"""The loaders' level marks and flushes (gateway/execution/run.py `_complete`); the plans here
fetch offline."""


def _customer(id_: str) -> Any:
    return SimpleNamespace(id=id_, ccaas_profile_id=None)


def _offline(plan: Plan) -> Plan:
    """The plan with its back-end reads answered in memory: two customers, each with two of
    whatever its fields fetch."""

    async def customers(context: Any, args: Any) -> list[Any]:
        return [_customer(i) for i in args["ids"]]

    async def settled(parents: Sequence[Any]) -> list[Any]:
        return [[SimpleNamespace(id=f"{p.id}-{n}", number=n) for n in (1, 2)] for p in parents]

    def fetch(loaders: Any, parents: Sequence[Any], args: Any) -> Any:
        return settled(parents)

    root = plan.root[0]
    assert root.child is not None
    branches = tuple(dataclasses.replace(b, fetch=Fetch(fetch)) for b in root.child.branches)
    child = dataclasses.replace(root.child, branches=branches)
    field = dataclasses.replace(root, root=RootFetch(customers), child=child)
    return dataclasses.replace(plan, root=(field,))


async def test_the_projection_clock_is_read_twice_per_answered_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[float] = []

    def clock() -> float:
        reads.append(float(len(reads)))
        return reads[-1]

    monkeypatch.setattr(run, "thread_time", clock)
    plan = _offline(_compile(QUERY, frozenset({"supervisor"})))
    context = SimpleNamespace(loaders=_LEVELS, access=None)
    data, errors, fields, busy = await execute_plan(plan, context, VariableValues({}, {}))
    assert errors == []
    assert data == {
        "customers": [
            {"id": c, "accounts": [{"id": f"{c}-1"}, {"id": f"{c}-2"}]}
            for c in ("003SB0000000000001", "003SB0000000000002")
        ]
    }
    # the root field's answer and the accounts' answer: one pair of reads each (asking the
    # loaders for the accounts is counted in the customers' projection, not timed apart)
    assert len(reads) == 4
    assert busy == (reads[1] - reads[0]) + (reads[3] - reads[2])
    assert fields == 1 + 2 * 2 + 4 * 1


async def test_a_level_s_waiting_fields_take_one_task_fewer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two fields fetched for the customers wait together: the first in the task that settles
    the level, the other in a task of its own (a task each before)."""
    created: list[Any] = []

    class Counted(asyncio.TaskGroup):
        def create_task(self, coro: Any, **kwargs: Any) -> Any:
            created.append(coro)
            return super().create_task(coro, **kwargs)

    monkeypatch.setattr(asyncio, "TaskGroup", Counted)  # what run.py names
    query = f"{{ customers(ids: {IDS}) {{ id accounts {{ id }} cases {{ number }} }} }}"
    plan = _offline(_compile(query, frozenset({"supervisor"})))
    context = SimpleNamespace(loaders=_LEVELS, access=None)
    data, errors, _fields, _busy = await execute_plan(plan, context, VariableValues({}, {}))
    assert errors == []
    assert data is not None
    assert [c["cases"] for c in data["customers"]] == [[{"number": 1}, {"number": 2}]] * 2
    assert [len(c["accounts"]) for c in data["customers"]] == [2, 2]
    assert len(created) == 1
