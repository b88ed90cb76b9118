"""A request target (path and query string) exactly as aiohttp builds it, without its URL objects.

Why: the wire client built every call's target with `yarl.URL.extend_query(params).raw_path_qs`,
a new URL object and yarl's general query machinery on each of a screen-pop's ten calls (~2% of
its CPU, issue #18). The sources' params are (name, value) pairs of strings; a name or a value
made only of characters yarl leaves as they are (most are ids: `P-000123`) is used as it is, any
other is escaped the way yarl's query-part quoter escapes it (UTF-8, `%XX` in upper case, a space
as `+`, a lone surrogate dropped). Anything else (a value that is not a str) goes through yarl
itself, so even its errors stay the same. tests/sources/test_query.py compares the two over
generated names and values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from yarl import URL

__all__ = ["Target", "encode_part"]

_KEPT = "?/:@!$'()*,-._~"
"""Besides ASCII letters and digits, what yarl's query-part quoter leaves as it is (its
`ALLOWED` plus the `safe="?/:@"` of `QUERY_PART_QUOTER`); "+&=;" are escaped in a part."""

_PLAIN = re.compile(r"[A-Za-z0-9?/:@!$'()*,\-._~]*").fullmatch

_ESCAPES = {
    byte: (
        chr(byte)
        if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in _KEPT)
        else "+"
        if byte == 0x20
        else f"%{byte:02X}"
    )
    for byte in range(256)
}
"""Each byte of a part's UTF-8 to what yarl writes for it (as a `str.translate` table over the
bytes read as latin-1: one code point per byte)."""


def encode_part(part: str) -> str:
    """A query string's name or value, escaped as yarl's `QUERY_PART_QUOTER` escapes it."""
    if _PLAIN(part):
        return part
    return part.encode("utf-8", "ignore").decode("latin-1").translate(_ESCAPES)


class Target:
    """The request targets of one fixed path (base URL + path, parsed once by yarl)."""

    __slots__ = ("_names", "_prefix", "_url", "bare")

    def __init__(self, url: URL) -> None:
        self._url = url
        self.bare = url.raw_path_qs
        """The target without params."""
        query = url.raw_query_string
        if query:  # extend_query adds to the URL's own query
            self._prefix = f"{self.bare}{'' if query.endswith('&') else '&'}"
        else:
            self._prefix = f"{self.bare}?"
        self._names: dict[str, str] = {}
        """Escaped names: the sources use a handful of fixed ones."""

    def with_params(self, params: Sequence[tuple[str, str]]) -> str:
        """The target with `params` as its query, what `url.extend_query(params).raw_path_qs`
        answers."""
        if not params:
            return self.bare
        names = self._names
        parts = []
        for name, value in params:
            if type(value) is not str or type(name) is not str:
                return self._url.extend_query(params).raw_path_qs  # yarl's own rules and errors
            escaped = names.get(name)
            if escaped is None:
                escaped = encode_part(name)
                if len(names) < 64:
                    names[name] = escaped
            parts.append(f"{escaped}={value if _PLAIN(value) else encode_part(value)}")
        return self._prefix + "&".join(parts)
