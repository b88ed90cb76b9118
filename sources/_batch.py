"""Chunked batch calls: one request per `max_batch` keys, chunks in flight together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

__all__ = ["chunked"]

T = TypeVar("T")


async def chunked(
    keys: Iterable[str],
    size: int,
    fetch: Callable[[Sequence[str]], Awaitable[list[T]]],
) -> list[T]:
    """Fetch `keys` (deduplicated, order kept) in chunks of at most `size`."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return []
    if len(unique) <= size:
        return await fetch(unique)
    parts = await asyncio.gather(
        *(fetch(unique[start : start + size]) for start in range(0, len(unique), size))
    )
    return [record for part in parts for record in part]
