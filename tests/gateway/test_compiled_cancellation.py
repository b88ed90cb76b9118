"""Cancellation at compiled execution's root fields, as behaviour (in the style of graphql-core's
tests/execution/test_cancellation.py): whether the operation is cancelled from outside or a
field fails, every field still waiting is cancelled and waited for, nothing is left running,
loader batches already sent drain, and the answer is well-formed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from aiodataloader import DataLoader
from graphql import OperationDefinitionNode, parse
from graphql.execution.values import VariableValues

from gateway.execution.compile import FieldPlan, ObjectPlan, Plan, compile_plan
from gateway.execution.run import execute_plan
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from resolvers import ResolverError
from schema import build_schema
from schema.bindings import Fetch, RootFetch

SCHEMA = build_schema()._schema
_NO_LOADERS = SimpleNamespace(dispatch_since=lambda since: None)
"""The tests' bindings ask no loader: nothing is queued for an only root field to send."""
CONTEXT = SimpleNamespace(loaders=_NO_LOADERS, access=None)
NO_VARIABLES = VariableValues({}, {})


def _plan(text: str) -> Plan:
    document = parse(text)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    roles = frozenset({"agent"})
    return compile_plan(SCHEMA, {}, operation, NO_VARIABLES, roles, Policy.load(), Masker(b"test"))


def _rebind_object(plan: ObjectPlan, fetches: dict[str, Fetch]) -> ObjectPlan:
    branches = tuple(_rebind_field(b, {}, fetches) for b in plan.branches)
    return dataclasses.replace(plan, branches=branches)


def _rebind_field(
    plan: FieldPlan, roots: dict[str, RootFetch], fetches: dict[str, Fetch]
) -> FieldPlan:
    child = _rebind_object(plan.child, fetches) if plan.child is not None else None
    changes: dict[str, Any] = {"child": child}
    if plan.key in roots:
        changes["root"] = roots[plan.key]
    if plan.key in fetches:
        changes["fetch"] = fetches[plan.key]
    return dataclasses.replace(plan, **changes)


def _rebind(
    plan: Plan, roots: dict[str, RootFetch], fetches: dict[str, Fetch] | None = None
) -> Plan:
    """The plan, its bindings replaced by the test's (root fields and fetches by key)."""
    root = tuple(_rebind_field(f, roots, fetches or {}) for f in plan.root)
    return dataclasses.replace(plan, root=root)


class Waiting:
    """A binding that waits until released, noting whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False
        self.cleaned = False

    async def wait(self, value: Any = None) -> Any:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            await asyncio.sleep(0)  # cleaning up takes a step (closing a connection, say)
            self.cleaned = True
            raise
        return value

    def root(self) -> RootFetch:
        async def run(context: Any, args: Any) -> Any:
            return await self.wait()

        return RootFetch(run)

    def fetch(self) -> Fetch:
        def start(loaders: Any, parents: Sequence[Any], args: Any) -> Awaitable[list[Any]]:
            return self.wait([None] * len(parents))

        return Fetch(start)


def _failing_root(error: Exception) -> RootFetch:
    async def run(context: Any, args: Any) -> Any:
        await asyncio.sleep(0)
        raise error

    return RootFetch(run)


def _others() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):  # loop iterations, not time
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("not reached")


async def test_cancelling_the_operation_cancels_the_waiting_root_fields_and_leaves_none() -> None:
    first, second = Waiting(), Waiting()
    plan = _rebind(
        _plan('{ a: customer(id: "1") { id } b: interaction(id: "2") { id } }'),
        {"a": first.root(), "b": second.root()},
    )
    await _cancelled_once_started(plan, first, second)


async def test_a_failing_non_null_root_field_cancels_its_siblings() -> None:
    slow = Waiting()
    plan = _rebind(
        _plan('{ a: customers(ids: ["1"]) { id } b: customer(id: "2") { id } }'),
        {"a": _failing_root(ResolverError("no such ids")), "b": slow.root()},
    )
    before = _others()
    data, errors, _, _ = await execute_plan(plan, CONTEXT, NO_VARIABLES)
    assert data is None  # a non-null root field failed: the whole answer is null
    assert [(e.message, e.path) for e in errors] == [("no such ids", ["a"])]
    assert slow.cancelled
    assert _others() == before


async def test_a_failing_nullable_root_field_leaves_its_siblings_to_finish() -> None:
    slow = Waiting()
    plan = _rebind(
        _plan('{ a: customer(id: "1") { id } b: customer(id: "2") { id } }'),
        {"a": _failing_root(ResolverError("bad id")), "b": slow.root()},
    )
    operation = asyncio.create_task(execute_plan(plan, CONTEXT, NO_VARIABLES))
    await slow.started.wait()
    slow.release.set()
    data, errors, _, _ = await operation
    assert data == {"a": None, "b": None}
    assert [e.path for e in errors] == [["a"]]
    assert not slow.cancelled


async def test_an_unexpected_failure_of_one_child_field_cancels_the_other_children() -> None:
    """`_settle` runs sibling fetches in a task group: when one raises (a bug, not a field
    error), the others stop asking the loaders and writing into the answer."""
    slow = Waiting()

    def broken(loaders: Any, parents: Sequence[Any], args: Any) -> Awaitable[list[Any]]:
        async def settle() -> list[Any]:
            await slow.started.wait()
            raise RuntimeError("a bug in a binding")

        return settle()

    plan = _customer_with(accounts=Fetch(broken), cases=slow.fetch())
    before = _others()
    with pytest.raises(RuntimeError, match="a bug in a binding"):
        await execute_plan(plan, CONTEXT, NO_VARIABLES)
    assert slow.cancelled
    assert _others() == before


async def test_loader_batches_already_sent_drain_after_a_cancellation() -> None:
    """Cancelling the fields does not cancel a batch already sent to a system (it belongs to
    the loader, and may serve other fields): it completes, and nothing is left behind."""
    batch = Waiting()
    calls: list[list[str]] = []

    async def load_many(keys: list[str]) -> list[Any]:
        calls.append(list(keys))
        await batch.wait()
        return [SimpleNamespace(id=k) for k in keys]

    loader: DataLoader[str, Any] = DataLoader(load_many)

    async def via_loader(context: Any, args: Any) -> Any:
        return await loader.load(args["id"])

    plan = _rebind(
        _plan('{ a: customer(id: "1") { id } b: customer(id: "2") { id } }'),
        {"a": RootFetch(via_loader), "b": RootFetch(via_loader)},
    )
    before = _others()
    operation = asyncio.create_task(execute_plan(plan, CONTEXT, NO_VARIABLES))
    await batch.started.wait()
    operation.cancel()
    with pytest.raises(asyncio.CancelledError):
        await operation
    assert calls == [["1", "2"]]  # one batch for both fields, still in flight
    batch.release.set()
    await _until(lambda: _others() == before)
    assert not batch.cancelled


# An operation with one root field runs it in its own task, with no task and no wait (its
# unexpected failures: test_an_unexpected_failure_of_one_child_field_cancels_the_other_children)


async def test_an_only_root_field_runs_in_the_operations_own_task() -> None:
    """No task is made for it: the field's binding runs in the task executing the plan."""
    seen: list[asyncio.Task[Any] | None] = []

    async def run(context: Any, args: Any) -> Any:
        seen.append(asyncio.current_task())
        return None

    plan = _rebind(_plan('{ customer(id: "1") { id } }'), {"customer": RootFetch(run)})
    data, errors, _, _ = await execute_plan(plan, CONTEXT, NO_VARIABLES)
    assert (data, errors) == ({"customer": None}, [])
    assert seen == [asyncio.current_task()]


async def test_cancelling_an_operation_with_one_root_field_leaves_nothing_running() -> None:
    """Cancelled while the root field's two children wait: both are cancelled and waited
    for (their clean-up included) before the operation is over."""
    first, second = Waiting(), Waiting()
    plan = _customer_with(accounts=first.fetch(), cases=second.fetch())
    await _cancelled_once_started(plan, first, second)


async def test_an_only_non_null_root_field_failing_nulls_the_answer() -> None:
    plan = _rebind(
        _plan('{ customers(ids: ["1"]) { id } }'),
        {"customers": _failing_root(ResolverError("no such ids"))},
    )
    before = _others()
    data, errors, _, _ = await execute_plan(plan, CONTEXT, NO_VARIABLES)
    assert data is None
    assert [(e.message, e.path) for e in errors] == [("no such ids", ["customers"])]
    assert _others() == before


async def _cancelled_once_started(plan: Any, *waiting: Waiting) -> None:
    """Run `plan`, cancel it once every one of `waiting` has started, and check that the moment
    the operation is over nothing of it is still running: its fields were cancelled and waited
    for, their clean-up included."""
    before = asyncio.all_tasks()  # this test's task included
    operation = asyncio.create_task(execute_plan(plan, CONTEXT, NO_VARIABLES))
    when_done: list[set[asyncio.Task[Any]]] = []
    operation.add_done_callback(lambda _: when_done.append(asyncio.all_tasks()))
    for field in waiting:
        await field.started.wait()
    operation.cancel()
    with pytest.raises(asyncio.CancelledError):
        await operation
    assert when_done == [before]
    assert all(field.cleaned for field in waiting)


def _customer_with(accounts: Any, cases: Any) -> Any:
    """`{ customer { accounts cases } }`: a customer found at once, its two children's
    fetches given."""
    record = SimpleNamespace(id="1", ccaas_profile_id="p1")
    found = Waiting()
    found.release.set()
    return _rebind(
        _plan('{ customer(id: "1") { accounts { id } cases { id } } }'),
        {"customer": RootFetch(lambda context, args: found.wait(record))},
        {"accounts": accounts, "cases": cases},
    )
