"""Validating decoders: a back-end answering the wrong shape yields `SourceBadResponse`, never a
half-built record or a crash further up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from ._errors import SourceBadResponse

__all__ = ["Reader", "records_in"]

T = TypeVar("T")


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
            value = Decimal(raw)
        except InvalidOperation:
            raise self.fail(key) from None
        if not value.is_finite():
            raise self.fail(key)
        return value

    def day(self, key: str) -> date:
        return self._parse(key, date.fromisoformat, False)  # type: ignore[return-value]

    def opt_day(self, key: str) -> date | None:
        return self._parse(key, date.fromisoformat, True)

    def instant(self, key: str) -> datetime:
        return self._parse(key, _parse_datetime, False)  # type: ignore[return-value]

    def opt_instant(self, key: str) -> datetime | None:
        return self._parse(key, _parse_datetime, True)

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


def _parse_datetime(raw: str) -> datetime:
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise ValueError("naive timestamp")
    return value


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
