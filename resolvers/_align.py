"""A batch's records lined up with the keys that asked for them: what every batch function of
resolvers/loaders.py does with a back-end's answer before the loader hands values back by key.

Back-ends answer unordered and with gaps, and a batch split into chunks can lose some of them
(`SourcePartial`): a record goes to its key by id, never by position, and a key whose chunk
failed gets that chunk's error, which rejects that key only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from sources import SourceError, SourcePartial

__all__ = ["by_key", "grouped", "settled"]

R = TypeVar("R")


async def settled(fetch: Awaitable[list[R]]) -> tuple[list[R], dict[str, SourceError]]:
    """A batch's records, plus the keys whose chunk failed (and why) when only some did."""
    try:
        return await fetch, {}
    except SourcePartial as partial:
        records: list[R] = partial.records  # type: ignore[assignment]
        return records, dict.fromkeys(partial.failed, partial.error)


def by_key(
    records: Iterable[R],
    keys: Sequence[str],
    key: Callable[[R], str],
    failed: Mapping[str, Exception] | None = None,
) -> list[R | Exception | None]:
    """Align records to `keys` by id, never by position: systems answer unordered, with gaps.
    A key whose chunk failed gets its error, which rejects that key only."""
    found: dict[str, R] = {}
    for record in records:
        found.setdefault(key(record), record)
    if failed:
        return [failed[k] if k in failed else found.get(k) for k in keys]
    return [found.get(k) for k in keys]


def grouped(
    records: Iterable[R],
    keys: Sequence[str],
    key: Callable[[R], str],
    failed: Mapping[str, Exception] | None = None,
) -> list[list[R] | Exception]:
    """Group child records under their parent keys (failed chunks: their error)."""
    groups: dict[str, list[R]] = {k: [] for k in keys}
    for record in records:
        bucket = groups.get(key(record))
        if bucket is not None:
            bucket.append(record)
    if failed:
        return [failed[k] if k in failed else groups[k] for k in keys]
    return [groups[k] for k in keys]
