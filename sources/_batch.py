"""Chunked batch calls: one request per `max_batch` keys, chunks in flight together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from ._errors import SourceError, SourcePartial

__all__ = ["chunked"]

T = TypeVar("T")


async def chunked(
    keys: Iterable[str],
    size: int,
    fetch: Callable[[Sequence[str]], Awaitable[list[T]]],
) -> list[T]:
    """Fetch `keys` (deduplicated, order kept) in chunks of at most `size`, all at once.

    If some chunks fail and others answer, raises `SourcePartial` with what was answered, so a
    caller can still serve the keys of the chunks that worked."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return []
    if len(unique) <= size:
        return await fetch(unique)
    chunks = [unique[start : start + size] for start in range(0, len(unique), size)]
    parts = await asyncio.gather(*(fetch(chunk) for chunk in chunks), return_exceptions=True)
    records: list[T] = []
    failed: set[str] = set()
    error: SourceError | None = None
    for chunk, part in zip(chunks, parts, strict=True):
        if isinstance(part, SourceError):
            error = error or part
            failed.update(chunk)
        elif isinstance(part, BaseException):
            raise part
        else:
            records.extend(part)
    if error is None:
        return records
    if not records and len(failed) == len(unique):
        raise error
    raise SourcePartial(error, list(records), failed)
