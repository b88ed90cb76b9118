"""The per-request loader registry: one loader per source resource, created on first use.

Every key asked in the same tick goes to the system in ONE call (chunked by its batch limit), so
an operation costs one call per source resource per nesting level, whatever the number of
entities. Limited lists (`first: N`) are keyed by (parent, N) and fetched with the largest N asked
in the batch, then sliced: two different limits still cost one call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from sources import Sources
from sources.crm import CrmClient, CustomerKey
from sources.records import (
    Account,
    Article,
    Card,
    Case,
    Contact,
    CoreEvent,
    Customer,
    Party,
    Risk,
    Transaction,
)

from ._align import by_key, grouped, settled
from ._loader import Loader, after_answers, mark

__all__ = ["Loaders"]

R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
ARTICLE_TURNS = 1
"""Event-loop turns before the articles' call (`Loaders.articles_by_intent`)."""
Limited = tuple[str, int]


def _children(
    fetch: Callable[[list[str]], Awaitable[list[R]]], parent: Callable[[R], str]
) -> Loader[str, list[R]]:
    """A loader of every child record per parent id."""

    async def load(keys: list[str]) -> list[list[R] | Exception]:
        records, failed = await settled(fetch(keys))
        return grouped(records, keys, parent, failed)

    return Loader(load)


def _one_each(
    fetch: Callable[[list[str]], Awaitable[list[R]]], ident: Callable[[R], str]
) -> Loader[str, R | None]:
    """A loader of at most one record per id; None where the system does not know the id."""

    async def load(keys: list[str]) -> list[R | Exception | None]:
        records, failed = await settled(fetch(keys))
        return by_key(records, keys, ident, failed)

    return Loader(load)


def _limited(
    fetch: Callable[[list[str], int], Awaitable[list[R]]],
    parent: Callable[[R], str],
    newest: Callable[[R], datetime],
) -> Loader[Limited, list[R]]:
    """A loader of the newest N children per parent, keyed by (parent id, N).

    Sorted here rather than trusted to arrive sorted: the order is part of our contract.
    """

    async def load(keys: list[Limited]) -> list[list[R] | Exception]:
        widest = max(limit for _, limit in keys)
        parents = [p for p, _ in keys]
        records, failed = await settled(fetch(parents, widest))
        return [
            group
            if isinstance(group, Exception)
            else sorted(group, key=newest, reverse=True)[:limit]
            for group, (_, limit) in zip(
                grouped(records, parents, parent, failed), keys, strict=True
            )
        ]

    return Loader(load)


def _customers(
    crm: CrmClient,
    key: CustomerKey,
    ident: Callable[[Customer], str | None],
    primes: Loader[str, Customer | None] | None = None,
) -> Loader[str, Customer | None]:
    """Customers by `key`; each one found is also primed into `primes` (the by-id loader), so
    a later read of the same customer by id costs no call."""

    async def load(keys: list[str]) -> list[Customer | Exception | None]:
        records, failed = await settled(crm.customers(key, keys))
        if primes is not None:
            for record in records:
                primes.prime(record.id, record)
        return by_key(records, keys, lambda c: ident(c) or "", failed)

    return Loader(load)


class Loaders:
    """Created per request (per operation for subscriptions): caches never cross requests.

    No loader's function refers back to this registry (each captures the client, or another
    loader, it needs): a registry and its loaders form no reference cycle, so a request's
    cached records are freed by reference counting the moment its answer is sent, instead of
    waiting, with everything they hold, for the cycle collector (tests/resolvers/
    test_no_cycles.py)."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.compared: dict[str, tuple[Any, ...]] = {}
        """Customer id -> its discrepancies, compared once per request
        (resolvers/discrepancies.py): the field, the journey and the metric agree."""
        self.on_discrepancy: Callable[[str], None] | None = None
        """Told each discrepancy's field once per request (the gateway's metric)."""
        self.made: list[Loader[Any, Any]] = []
        """The loaders created so far (`hurry` runs after every answered level: it looks at
        these, not at every attribute)."""

    def _made(self, loader: Loader[K, V]) -> Loader[K, V]:
        self.made.append(loader)
        return loader

    async def drain(self) -> None:
        """Until no call any loader was asked for is queued or in flight: an operation that
        ended early (a failed root field cancels its siblings) still answers only after the
        calls it started, so `extensions.sources` reports them all, every time."""
        while busy := [loader for loader in self.made if loader.busy]:
            for loader in busy:
                await loader.idle()

    @staticmethod
    def mark() -> int:
        """A mark for `hurry`: batches created from now on are after it."""
        return mark()

    def hurry(self, since: int) -> None:
        """Send the batches queued since `since` (a `mark()`) at their next event-loop turn,
        not after all six: the compiled executor has just asked for every child of a level
        that one batch's answer woke, and every other caller that batch woke runs before that
        turn (gateway/execution/run.py `_complete`). Sibling root fields are never hurried:
        they start at different depths (tests/differential/test_regressions.py, sibling root
        fields); an only root field's batches go at once (`dispatch_since`). In the order the
        batches were made (`queued_since`)."""
        for loader in self.queued_since(since):
            loader.hurry(since)

    def dispatch_since(self, since: int) -> None:
        """Send the batches queued since `since` (a `mark()`) now: the compiled executor has
        placed its only root field's value, which asks every key of the next level, and no
        other caller of this request could add one (gateway/execution/run.py `_root_field`).
        Batches queued before the mark keep their turns. In the order the batches were made
        (`queued_since`)."""
        for loader in self.queued_since(since):
            loader.dispatch_since(since)

    def queued_since(self, since: int) -> list[Loader[Any, Any]]:
        """The loaders whose queued batch was made at or after `since` (a `mark()`), in the
        order their batches were made, not the loaders': the compiled executor starts the
        fields with the longest chain of calls below them first (gateway/execution/compile.py
        `_longest_first`), so their batches, made first, go first, even from a loader an
        earlier level made."""
        queued = [loader for loader in self.made if loader.queued_at >= since]
        if len(queued) > 1:
            queued.sort(key=lambda loader: loader.queued_at)
        return queued

    @staticmethod
    def after_answers() -> Awaitable[None] | None:
        """For a caller an answer woke that will only project: what to await first, so the
        batches hurried by the other callers woken that turn go before its projection
        (resolvers/_loader.py `after_answers`); None: go on."""
        return after_answers()

    @property
    def failed(self) -> bool:
        """Did any load so far fail, or not finish? (See `Loader.failed`.)"""
        return any(loader.failed for loader in self.made)

    @cached_property
    def customer(self) -> Loader[str, Customer | None]:
        return self._made(_customers(self.sources.crm, "id", lambda c: c.id))

    @cached_property
    def customer_by_core_party(self) -> Loader[str, Customer | None]:
        return self._made(
            _customers(self.sources.crm, "coreId", lambda c: c.core_party_id, self.customer)
        )

    @cached_property
    def customer_by_ccaas_profile(self) -> Loader[str, Customer | None]:
        return self._made(
            _customers(self.sources.crm, "ccaasId", lambda c: c.ccaas_profile_id, self.customer)
        )

    @cached_property
    def cases(self) -> Loader[str, list[Case]]:
        return self._made(_children(self.sources.crm.cases, lambda c: c.customer_id))

    @cached_property
    def accounts(self) -> Loader[str, list[Account]]:
        return self._made(_children(self.sources.core.accounts, lambda a: a.party_id))

    @cached_property
    def cards(self) -> Loader[str, list[Card]]:
        return self._made(_children(self.sources.core.cards, lambda c: c.party_id))

    @cached_property
    def risk(self) -> Loader[str, Risk | None]:
        return self._made(_one_each(self.sources.core.risk, lambda r: r.party_id))

    @cached_property
    def parties(self) -> Loader[str, Party | None]:
        return self._made(_one_each(self.sources.core.parties, lambda p: p.id))

    @cached_property
    def transactions(self) -> Loader[Limited, list[Transaction]]:
        return self._made(
            _limited(self.sources.core.transactions, lambda t: t.account_id, lambda t: t.posted_at)
        )

    @cached_property
    def core_events(self) -> Loader[Limited, list[CoreEvent]]:
        return self._made(
            _limited(self.sources.core.events, lambda e: e.party_id, lambda e: e.time)
        )

    @cached_property
    def contacts_of(self) -> Loader[Limited, list[Contact]]:
        return self._made(
            _limited(
                # asked by profile: every contact answered has one
                self.sources.ccaas.contacts_of,
                lambda c: c.profile_id or "",
                lambda c: c.started_at,
            )
        )

    @cached_property
    def contact(self) -> Loader[str, Contact | None]:
        return self._made(_one_each(self.sources.ccaas.contacts, lambda c: c.id))

    @cached_property
    def articles_by_intent(self) -> Loader[Limited, list[Article]]:
        """Sent at the turn after its first key, not the sixth: its keys are only ever asked
        by `fields.articles_for` in the continuation a contacts batch wakes, so every caller
        woken by that batch has asked before that turn (no root field, no resolver a few
        awaits down reaches it first). The screen-pop's critical path ends with this call:
        the extra turns ran the other level-2 answers first (~0.5 ms at concurrency 1).
        Asked by the callers a contacts answer woke, it goes once they have all run, at the
        end of that turn (resolvers/_loader.py `_Answers`)."""
        knowledge = self.sources.knowledge

        async def load(keys: list[Limited]) -> list[list[Article]]:
            widest = max(limit for _, limit in keys)
            found = await knowledge.by_intent([i for i, _ in keys], widest)
            return [found.get(intent, [])[:limit] for intent, limit in keys]

        return self._made(Loader(load, turns=ARTICLE_TURNS))
