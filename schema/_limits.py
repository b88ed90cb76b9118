"""Argument checks shared by the schema's list fields."""

from __future__ import annotations

from resolvers import BadUserInput

__all__ = ["MAX_FIRST", "first_in_range"]

MAX_FIRST = 100
"""The largest page any `first:` argument accepts (SECURITY.md: list sizes are capped)."""


def first_in_range(first: int, maximum: int = MAX_FIRST) -> int:
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}")
    return first
