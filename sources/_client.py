"""What every source client shares: batched GETs decoded into records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from ._batch import chunked
from ._decode import Reader, records_in
from ._transport import Params, Transport

__all__ = ["SourceClient"]

T = TypeVar("T")


class SourceClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.name = transport.name

    async def fetch(
        self,
        path: str,
        params: Params,
        envelope: Sequence[str],
        kind: str,
        decode: Callable[[Reader], T],
    ) -> list[T]:
        """One GET; decode each record found at `envelope` in the answer."""
        body = await self.transport.get_json(path, params)
        return [decode(Reader(self.name, kind, r)) for r in records_in(self.name, body, *envelope)]

    async def batch(
        self,
        path: str,
        key: str,
        values: Iterable[str],
        envelope: Sequence[str],
        kind: str,
        decode: Callable[[Reader], T],
        extra: Params = (),
    ) -> list[T]:
        """GET `path?key=v1&key=v2...`, chunked by the source's max batch size."""

        async def fetch_chunk(chunk: Sequence[str]) -> list[T]:
            params = [(key, v) for v in chunk]
            params.extend(extra)
            return await self.fetch(path, params, envelope, kind, decode)

        return await chunked(values, self.transport.settings.max_batch, fetch_chunk)
