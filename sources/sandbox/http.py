"""The little HTTP vocabulary the system modules share: a parsed request, a bytes response,
and the parameter rules every endpoint enforces the same way (docs/sandbox.md "Common rules").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import orjson

JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


Handler = Callable[["Request"], Response]


class BadRequest(Exception):
    """Raised by handlers; the app answers 400 {"error": message}."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query_string: str
    query: dict[str, list[str]]
    host: str
    content_type: str
    body: bytes

    @classmethod
    def parse(
        cls, method: str, path: str, query_string: bytes, host: str, content_type: str, body: bytes
    ) -> Request:
        text = query_string.decode("latin-1")
        query = parse_qs(text, keep_blank_values=True) if text else {}
        return cls(method, path, text, query, host, content_type, body)

    @property
    def self_link(self) -> str:
        return f"{self.path}?{self.query_string}" if self.query_string else self.path

    def batch(self, name: str, limit: int) -> list[str]:
        """A repeated id parameter, deduplicated; more than `limit` values is a 400."""
        values = self.query.get(name)
        if not values:
            raise BadRequest(f"missing parameter: {name}")
        if len(values) > limit:
            raise BadRequest(f"too many values for {name}: {len(values)} > {limit}")
        return list(dict.fromkeys(values))

    def single(self, name: str) -> str | None:
        values = self.query.get(name)
        if values is None:
            return None
        if len(values) != 1:
            raise BadRequest(f"parameter {name} must be given once")
        return values[0]

    def required(self, name: str) -> str:
        value = self.single(name)
        if value is None or value == "":
            raise BadRequest(f"missing parameter: {name}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.single(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise BadRequest(f"parameter {name} must be an integer") from None
        if not low <= value <= high:
            raise BadRequest(f"parameter {name} must be between {low} and {high}")
        return value

    def exactly_one(self, *names: str) -> str:
        present = [name for name in names if name in self.query]
        if len(present) != 1:
            raise BadRequest(f"give exactly one of: {', '.join(names)}")
        return present[0]


def ok(body: bytes) -> Response:
    return Response(200, body)


def error(status: int, message: str) -> Response:
    return Response(status, orjson.dumps({"error": message}))


def join(parts: list[bytes]) -> bytes:
    """Comma-join pre-serialised JSON fragments, skipping empty ones (an empty "newest K")."""
    return b",".join(part for part in parts if part)
