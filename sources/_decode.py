"""Validating decoders: a back-end answering the wrong shape yields `SourceBadResponse`, never a
half-built record or a crash further up.

Two ways to read an answer, one meaning. The fast way (`Shape.fast`) decodes the body bytes
straight into vendor-shaped `msgspec.Struct`s in C (types, nulls, closed vocabularies as
`Literal`s, missing keys) and maps them onto the records, converting decimals and timestamps with
the same functions as the reference. The reference (`Reader`, over `orjson.loads`) reads the
parsed JSON field by field. The fast way accepts a subset of what the reference accepts and
builds equal records (tests/sources/test_decode_fast.py holds it to that); whenever it refuses
an answer, the reference reads the same bytes and decides: it raises the refusal with its
message ("crm answered a malformed case (Status)") or, where msgspec is merely stricter (a date
as "20240101", a party's second address), builds the records. So every refusal and its message
are the reference's, and only well-formed answers, nearly all of them, take the fast way.
The fast way runs in the transport's attempt (`HttpClient.get_json(decode=...)`), where the body
used to be parsed; a refused record still counts as an answered call, as it did.

One difference, deliberate: a number too large for a double inside a key Switchboard ignores
(`"Meta": {"x": 1e999}`) made orjson refuse the whole body ("malformed body"); msgspec skips
ignored keys without converting them, so such an answer is now read. Every value Switchboard
reads is checked as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from ._errors import SourceBadResponse

__all__ = ["Decoded", "Int64", "Reader", "Shape", "parse_instant", "parse_money", "records_in"]

T = TypeVar("T")
A = TypeVar("A")

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""An integer as the reference parser (orjson) reads one: past 64 bits it becomes a float, which
an integer field refuses; msgspec would read any size."""


class Decoded(msgspec.Struct, frozen=True, gc=False):
    """What the fast way made of one answer. A tuple: the transport's stale-if-error cache may
    keep it, and a caller gets its own list (`Shape.read`)."""

    items: tuple[Any, ...]


class Shape(Generic[A, T]):
    """How one kind of answer is read: the vendor's envelope `answer` (a msgspec Struct) and
    `build`, which maps it onto records, for the fast way; `envelope` (the keys down to the list
    of records) and `reference`, the validating decoder of one record, for the reference.
    The decoder is built once, here, not per answer."""

    __slots__ = ("_build", "_decoder", "envelope", "kind", "reference")

    def __init__(
        self,
        kind: str,
        envelope: Sequence[str],
        reference: Callable[[Reader], T],
        answer: type[A],
        build: Callable[[A], Iterable[Any]],
    ) -> None:
        self.kind = kind
        self.envelope = tuple(envelope)
        self.reference = reference
        self._decoder = msgspec.json.Decoder(answer)
        self._build = build

    def fast(self, body: bytes) -> Decoded | None:
        """The records of a well-formed answer, or None: the reference must decide (the
        transport then parses the body with orjson, as it always did)."""
        try:
            return Decoded(tuple(self._build(self._decoder.decode(body))))
        except (msgspec.DecodeError, ValueError):  # ValidationError is a DecodeError
            return None

    def read(self, source: str, body: Any) -> list[T]:
        """The records of an answer the transport gave: built already, or decoded now by the
        reference (which raises `SourceBadResponse` for what the fast way refused)."""
        if type(body) is Decoded:
            return list(body.items)
        kind, reference = self.kind, self.reference
        found = records_in(source, body, *self.envelope)
        return [reference(Reader(source, kind, r)) for r in found]


def parse_money(raw: str) -> Decimal:
    """A decimal amount sent as a string; ValueError unless it is a finite number."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError("not a decimal") from None
    if not value.is_finite():
        raise ValueError("not a finite decimal")
    return value


def parse_instant(raw: str) -> datetime:
    """An ISO 8601 timestamp with its offset; ValueError for a naive one."""
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise ValueError("naive timestamp")
    return value


class Reader:
    """Typed access to one JSON object of a system's answer."""

    __slots__ = ("_data", "_kind", "_source")

    def __init__(self, source: str, kind: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise SourceBadResponse(source, f"{source} answered a malformed {kind}")
        self._data: dict[str, Any] = data
        self._source = source
        self._kind = kind

    def fail(self, key: str) -> SourceBadResponse:
        return SourceBadResponse(
            self._source, f"{self._source} answered a malformed {self._kind} ({key})"
        )

    def _get(self, key: str, kind: type[T] | tuple[type, ...], optional: bool) -> Any:
        value = self._data.get(key)
        if value is None:
            if optional:
                return None
            raise self.fail(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.fail(key)
        return value

    def text(self, key: str) -> str:
        value: str = self._get(key, str, False)
        return value

    def opt_text(self, key: str) -> str | None:
        value: str | None = self._get(key, str, True)
        return value

    def integer(self, key: str) -> int:
        value: int = self._get(key, int, False)
        return value

    def choice(self, key: str, options: frozenset[str]) -> str:
        """One of a closed set of values: an unknown status must not reach the schema's enums."""
        value = self.text(key)
        if value not in options:
            raise self.fail(key)
        return value

    def opt_choice(self, key: str, options: frozenset[str]) -> str | None:
        value = self.opt_text(key)
        if value is not None and value not in options:
            raise self.fail(key)
        return value

    def ident(self, key: str) -> str:
        """An id that some systems send as a number (Zendesk), others as a string."""
        value: int | str = self._get(key, (int, str), False)
        return str(value)

    def flag(self, key: str) -> bool:
        value: bool = self._get(key, bool, False)
        return value

    def decimal(self, key: str) -> Decimal:
        return self._decimal(key, self._get(key, str, False))

    def opt_decimal(self, key: str) -> Decimal | None:
        raw = self._get(key, str, True)
        return None if raw is None else self._decimal(key, raw)

    def _decimal(self, key: str, raw: str) -> Decimal:
        try:
            return parse_money(raw)
        except ValueError:
            raise self.fail(key) from None

    def day(self, key: str) -> date:
        return self._parse(key, date.fromisoformat, False)  # type: ignore[return-value]

    def opt_day(self, key: str) -> date | None:
        return self._parse(key, date.fromisoformat, True)

    def instant(self, key: str) -> datetime:
        return self._parse(key, parse_instant, False)  # type: ignore[return-value]

    def opt_instant(self, key: str) -> datetime | None:
        return self._parse(key, parse_instant, True)

    def _parse(self, key: str, parse: Callable[[str], T], optional: bool) -> T | None:
        raw = self._get(key, str, optional)
        if raw is None:
            return None
        try:
            return parse(raw)
        except ValueError:
            raise self.fail(key) from None

    def texts(self, key: str) -> tuple[str, ...]:
        items = self._get(key, list, True) or []
        if not all(isinstance(item, str) for item in items):
            raise self.fail(key)
        return tuple(items)

    def objects(self, key: str, kind: str) -> Iterator[Reader]:
        items = self._get(key, list, True) or []
        for item in items:
            yield Reader(self._source, kind, item)

    def obj(self, key: str, kind: str) -> Reader | None:
        value = self._get(key, dict, True)
        return None if value is None else Reader(self._source, kind, value)


def records_in(source: str, body: Any, *path: str) -> list[Any]:
    """The list at `path` inside an envelope, e.g. ("Data", "Account").

    A missing key is a malformed answer, not an empty one: a 200 carrying an error body must not
    read as "this customer has no accounts".
    """
    node = body
    for key in path:
        if not isinstance(node, dict):
            raise SourceBadResponse(source, f"{source} answered a malformed envelope")
        node = node.get(key)
    if not isinstance(node, list):
        raise SourceBadResponse(source, f"{source} answered a malformed envelope")
    return node
