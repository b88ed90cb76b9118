"""aiodataloader, guarded against graphql-core 3.3's sibling cancellation.

graphql-core cancels sibling resolver tasks when one raises (`gather_with_cancel`); a task that was
awaiting a loader's cached future cancels that future, and a later `load()` of the same key in the
same request then raises CancelledError out of the whole operation (STACK-NOTES A3.3). Shielding
the cached future keeps it intact for every other awaiter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from aiodataloader import DataLoader

__all__ = ["Loader", "by_key", "grouped"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")


class Loader(DataLoader[K, V], Generic[K, V]):
    """A per-request batching loader whose `load()` survives cancelled siblings."""

    def __init__(self, batch_load_fn: Callable[[list[K]], Awaitable[list[V]]]) -> None:
        super().__init__(batch_load_fn)  # type: ignore[arg-type]

    def load(self, key: K) -> asyncio.Future[V]:
        return asyncio.shield(super().load(key))


def by_key(records: Iterable[R], keys: Sequence[str], key: Callable[[R], str]) -> list[R | None]:
    """Align records to `keys` by id, never by position: systems answer unordered, with gaps."""
    found: dict[str, R] = {}
    for record in records:
        found.setdefault(key(record), record)
    return [found.get(k) for k in keys]


def grouped(records: Iterable[R], keys: Sequence[str], key: Callable[[R], str]) -> list[list[R]]:
    """Group child records under their parent keys; records for keys not asked are dropped."""
    groups: dict[str, list[R]] = {k: [] for k in keys}
    for record in records:
        bucket = groups.get(key(record))
        if bucket is not None:
            bucket.append(record)
    return [groups[k] for k in keys]
