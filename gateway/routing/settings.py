"""`[routing]`: the rules file and the routing context's own deadline."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RoutingSettings"]


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    rules_path: str = ""
    """An ordered rules file (docs/routing.md); empty: the shipped gateway/routing/routing.toml.
    Checked at start-up: a mistake stops the gateway with a message naming the rule."""
    deadline_ms: int = 300
    """A routing context answers within this, partially if it must (`degraded`): well inside
    the 3 s a contact flow gives an external lookup by default (8 s at most)."""

    def __post_init__(self) -> None:
        if not 1 <= self.deadline_ms <= 8000:
            raise ValueError("deadline_ms must be between 1 and 8000 (a contact flow's maximum)")
