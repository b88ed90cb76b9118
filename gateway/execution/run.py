"""Running a compiled plan (gateway/execution/compile.py) against one request.

Level by level, the way standard execution's resolvers would reach the systems: every root
field starts at once; when a field's records arrive, each child field asks the loaders for all
of its parents in one go (the same loaders, keys and batches, so the same back-end calls), and
the objects are projected as their records arrive: one generated call per object writes its
leaves, sensitive ones masked for the caller and the customer's verification. Errors are the
resolvers' errors, located at the same paths with the same codes; a failing non-null field
nulls its nearest nullable ancestor, and errors under a nulled position are dropped, as
graphql-core does.

A subscription's plan runs once per event, its root field's value the event's payload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from itertools import repeat
from time import thread_time
from typing import Any

from graphql import FieldNode, GraphQLError, located_error
from graphql.execution.values import VariableValues
from graphql.pyutils import Path

from gateway.execution.compile import CHILD, EVENT, ROOT_FIELD, FieldPlan, ObjectPlan, Plan
from gateway.execution.failures import field_failed, field_failed_with, list_with_failures
from gateway.execution.state import Dead, RunState, item_paths
from resolvers import Loaders, ResolverError
from schema.limits import ROOT_CHECKS

__all__ = ["execute_plan", "precheck"]

Pending = list[Coroutine[Any, Any, None]]
"""Child fields waiting for their records, to be run by `_settle`."""


async def execute_plan(
    plan: Plan, context: Any, variables: VariableValues, event: Any = None
) -> tuple[dict[str, Any] | None, list[GraphQLError], int, float]:
    """(data, errors, projected fields, seconds spent projecting). Root fields run
    concurrently, as in standard execution (an only one, in this task); a failing non-null
    root field nulls `data` and cancels its siblings. `event`: a subscription event's payload
    (its root field's value)."""
    state = RunState(context, variables)
    for field_ in plan.root:
        if field_.kind == EVENT:
            continue  # ROOT_CHECKS are the queries' (the source stream checked its arguments)
        args = partial(state.args, field_)
        failed = precheck(field_.name, field_.nodes, Path(None, field_.key, None), args)
        if failed is not None:
            state.add(failed, None)
            return None, state.errors, state.fields, state.busy
    root: dict[str, Any] = dict.fromkeys(plan.keys)
    if len(plan.root) == 1:
        # one root field (a query's usual case; a subscription's, its value at hand): run in
        # this task, with no task and no wait around it: there is no sibling to run beside
        # it, a cancellation reaches its fields through this task, and an unexpected error
        # is raised as itself, as from a task
        try:
            await _root_field(plan.root[0], state, root, event, alone=True)
        except _NonNull as nulled:
            state.add(nulled.error, None)
            return None, state.errors, state.fields, state.busy
        return _finish(plan, state, root)
    tasks = [asyncio.ensure_future(_root_field(f, state, root, event)) for f in plan.root]
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(t.done() and not t.cancelled() and t.exception() for t in tasks):
            # as graphql-core does: cancel the other root fields, and let them finish
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        failures = [t.exception() for t in tasks if t.done() and not t.cancelled()]
        failure = next((f for f in failures if f is not None), None)
        if isinstance(failure, _NonNull):
            state.add(failure.error, None)
            return None, state.errors, state.fields, state.busy
        if failure is not None:
            raise failure
    finally:
        # cancelled (the client left, the deadline passed) or failed: no root field may keep
        # asking the loaders or writing into `root` once this returns
        running = [task for task in tasks if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
    return _finish(plan, state, root)


def _finish(
    plan: Plan, state: RunState, root: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[GraphQLError], int, float]:
    for key in plan.typename_keys:
        root[key] = plan.type_name
    state.fields += len(plan.keys)
    return root, state.errors, state.fields, state.busy


def precheck(
    name: str, nodes: Sequence[FieldNode], path: Path, args: Callable[[], Mapping[str, Any]]
) -> GraphQLError | None:
    """The error of a non-null root field whose arguments are wrong (schema ROOT_CHECKS): it
    nulls the whole answer, so it is found before any field starts and nothing is fetched."""
    check = ROOT_CHECKS.get(name)
    if check is None:
        return None
    try:
        check(args())
    except ResolverError as exc:
        return located_error(exc, list(nodes), path.as_list())
    except GraphQLError:
        return None  # the arguments do not coerce: execution reports it, as ever
    return None


class _NonNull(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


async def _root_field(
    plan: FieldPlan, state: RunState, root: dict[str, Any], event: Any, alone: bool = False
) -> None:
    """`alone`: the operation's only root field, whose placing asks every key of the next
    level: the batches it starts go now (`Loaders.dispatch_since`), not after six turns."""
    try:
        if plan.kind == EVENT:
            if isinstance(event, Exception):  # as graphql-core completes a value
                raise event
            value = event
        else:
            assert plan.root is not None
            value = await plan.root.run(state.context, state.args(plan))
    except Exception as exc:
        error = state.located(exc, plan.nodes, Path(None, plan.key, None))
        if not plan.nullable:
            raise _NonNull(error) from None
        state.add(error, Path(None, plan.key, None))
        return
    if plan.child is None:  # no scalar root fields in this schema, but nothing stops one
        root[plan.key] = value
        return
    outs: list[Any] = [root]
    more: Pending = []
    started = thread_time()
    since = Loaders.mark()
    _place(plan, [0], [value], outs, [None], [None], state, more)
    if alone and more and plan.kind == ROOT_FIELD:
        state.loaders.dispatch_since(since)
    state.busy += thread_time() - started
    if type(outs[0]) is Dead:
        raise _NonNull(outs[0].error)
    await _settle(more)


async def _settle(pending: Pending) -> None:
    """Run the waiting child fields together. A task group, not `gather`: when one fails
    unexpectedly, the others are cancelled and waited for, so none keeps asking the loaders or
    writing into the response after it is answered; the first failure is raised as itself."""
    if len(pending) == 1:
        await pending[0]
    elif pending:
        try:
            async with asyncio.TaskGroup() as group:
                for waiting in pending[1:]:
                    group.create_task(waiting)
                # the first in this task, as a task of the group would be: one task fewer;
                # when a task fails, the group cancels this one too
                await pending[0]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0]  # noqa: B904 (it keeps its own cause)


def _run(
    plan: ObjectPlan,
    records: Sequence[Any],
    owners: Sequence[Any],
    paths: Sequence[Path],
    state: RunState,
) -> tuple[list[Any], Pending]:
    """Project `records` as objects of `plan`: leaves now, child fields as far as they go
    without waiting. Returns the objects (a `Dead` for one nulled by a non-null field) and
    what remains to await."""
    # `_place` builds the three sequences together, one entry per object: of equal length
    outs: list[Any] = list(map(plan.project, records, owners, paths, repeat(state)))
    state.fields += len(plan.keys) * len(outs)
    pending: Pending = []
    if not plan.branches:
        return outs, pending
    everyone = list(range(len(outs)))
    for branch in plan.branches:
        live = [i for i in everyone if type(outs[i]) is dict] if plan.mortal else everyone
        if not live:
            break
        if branch.gate is not None:
            live = _gated(branch, live, outs, owners, paths, state)
        if branch.kind == CHILD:
            _child(branch, live, records, outs, owners, paths, state, pending)
        else:
            _fetch(branch, live, records, outs, owners, paths, state, pending)
    return outs, pending


def _gated(
    branch: FieldPlan,
    live: list[int],
    outs: list[Any],
    owners: Sequence[Any],
    paths: Sequence[Path],
    state: RunState,
) -> list[int]:
    assert branch.gate is not None
    coordinate, klass, treatments = branch.gate
    decide = state.access.decide
    key = branch.key
    allowed = []
    for i in live:
        if decide(coordinate, klass, owners[i], paths[i], key, treatments) == "deny":
            state.error(
                state.access.forbidden(klass), branch.nodes, Path(paths[i], branch.key, None)
            )
        else:
            allowed.append(i)
    return allowed


def _args(
    branch: FieldPlan,
    live: list[int],
    outs: list[Any],
    paths: Sequence[Path | None],
    state: RunState,
) -> Mapping[str, Any] | None:
    """The field's arguments, or None when they do not coerce (every parent's field failed)."""
    try:
        return state.args(branch)
    except Exception as exc:
        for i in live:
            field_failed(branch, i, exc, outs, paths, state)
        return None


def _child(
    branch: FieldPlan,
    live: list[int],
    records: Sequence[Any],
    outs: list[Any],
    owners: Sequence[Any],
    paths: Sequence[Path | None],
    state: RunState,
    pending: Pending,
) -> None:
    assert branch.get is not None
    args = _args(branch, live, outs, paths, state)
    if args is None:
        return
    values: list[Any] = []
    parents: list[int] = []
    for i in live:
        try:
            values.append(branch.get(records[i], args))
        except Exception as exc:
            field_failed(branch, i, exc, outs, paths, state)
            continue
        parents.append(i)
    _place(branch, parents, values, outs, owners, paths, state, pending)


def _fetch(
    branch: FieldPlan,
    live: list[int],
    records: Sequence[Any],
    outs: list[Any],
    owners: Sequence[Any],
    paths: Sequence[Path | None],
    state: RunState,
    pending: Pending,
) -> None:
    assert branch.fetch is not None
    args = _args(branch, live, outs, paths, state) if live else None
    if args is None:
        return
    settled = branch.fetch.start(state.loaders, [records[i] for i in live], args)
    pending.append(_complete(branch, live, settled, outs, owners, paths, state))


async def _complete(
    branch: FieldPlan,
    live: list[int],
    settled: Awaitable[list[Any]],
    outs: list[Any],
    owners: Sequence[Any],
    paths: Sequence[Path | None],
    state: RunState,
) -> None:
    values = await settled
    assert branch.child is not None
    if not branch.child.branches:
        # only projection is left (no key to ask): after the callers woken with this one,
        # whose hurried batches go first (Loaders.after_answers)
        later = state.loaders.after_answers()
        if later is not None:
            await later
    started = thread_time()
    parents: list[int] = []
    found: list[Any] = []
    for i, value in zip(live, values, strict=True):
        if isinstance(value, Exception):
            state.error(value, branch.nodes, Path(paths[i], branch.key, None))
            continue
        parents.append(i)
        found.append(value)
    more: Pending = []
    since = state.loaders.mark()
    _place(branch, parents, found, outs, owners, paths, state, more)
    state.loaders.hurry(since)  # the level's keys are all asked (Loaders.hurry)
    state.busy += thread_time() - started
    await _settle(more)


def _place(
    branch: FieldPlan,
    parents: list[int],
    values: list[Any],
    outs: list[Any],
    owners: Sequence[Any],
    paths: Sequence[Path | None],
    state: RunState,
    pending: Pending,
) -> None:
    """Project the child objects of every parent at once (their own child fields batch
    together), then put each parent's into its response."""
    child = branch.child
    assert child is not None
    key = branch.key
    own = child.owner
    records: list[Any] = []
    child_owners: list[Any] = []
    child_paths: list[Path] = []
    # per parent: (start, end) of its child objects in `records` ((0, -1): a null value); a
    # list with entries that failed on their own (customers(ids:)) takes the slow path
    spans: list[tuple[int, int, int]] = []
    new = tuple.__new__
    entries: dict[int, list[int | GraphQLError]] = {}
    is_list = branch.is_list
    root_list = is_list and branch.kind == ROOT_FIELD
    for i, value in zip(parents, values, strict=True):
        if value is None:
            spans.append((i, 0, -1))
            continue
        base = new(Path, (paths[i], key, None))  # Path(...), without its Python __new__
        owner = owners[i]
        start = len(records)
        if not is_list:
            records.append(value)
            child_owners.append(owner if own is None else own(value, owner))
            child_paths.append(base)
        elif root_list and any(isinstance(v, Exception) for v in value):
            entries[i] = _entries(value, base, branch, records, child_owners, child_paths, state)
        else:
            records.extend(value)
            if own is None:
                child_owners.extend([owner] * len(value))
            else:
                child_owners.extend([own(item, owner) for item in value])
            child_paths.extend(item_paths(base, len(value)))
        spans.append((i, start, len(records)))
    child_outs, child_pending = _run(child, records, child_owners, child_paths, state)
    pending.extend(child_pending)
    mortal = child.mortal
    for i, start, end in spans:
        out = outs[i]
        if type(out) is not dict:
            continue
        if end == -1:
            if branch.nullable:
                out[key] = None
            else:
                message = f"Cannot return null for non-nullable field {branch.name}."
                error = state.located(TypeError(message), branch.nodes, Path(paths[i], key, None))
                field_failed_with(branch, i, error, outs, paths, state)
            continue
        if not is_list:
            result = child_outs[start]
            if type(result) is Dead:
                field_failed_with(branch, i, result.error, outs, paths, state)
            else:
                out[key] = result
            continue
        places = entries.get(i)
        if places is None:
            items = child_outs[start:end]
            if not mortal or not any(type(item) is Dead for item in items):
                out[key] = items
                continue
            places = list(range(start, end))
        list_with_failures(branch, i, places, child_outs, outs, paths, state)


def _entries(
    value: list[Any],
    base: Path,
    branch: FieldPlan,
    records: list[Any],
    owners: list[Any],
    paths: list[Path],
    state: RunState,
) -> list[int | GraphQLError]:
    """A root list with entries that failed on their own: each entry's place, or its error."""
    own = branch.child.owner if branch.child is not None else None
    places: list[int | GraphQLError] = []
    for index, item in enumerate(value):
        if isinstance(item, Exception):
            places.append(state.located(item, branch.nodes, Path(base, index, None)))
            continue
        places.append(len(records))
        records.append(item)
        owners.append(None if own is None else own(item, None))
        paths.append(Path(base, index, None))
    return places
