"""The routing rules file, read and checked once at start-up: every mistake stops the gateway
with a message naming the file, the rule and the key, so a bad edit never routes callers.

    [[rules]]
    name = "specialist"
    when = { needs_specialist = true }     # all must hold; none: the default rule
    priority = 1                           # 1 is the most urgent
    queue = "Specialist"
    reason = "NEEDS_SPECIALIST"

Ordered: the first rule whose conditions hold wins; the last rule has no condition (so one
always matches) and is the only one without.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.settings_env import ConfigError
from resolvers.routing import FACT_TYPES, SYSTEMS, Condition, Routing, Rule
from schema.enums import Segment

from .settings import RoutingSettings

__all__ = ["SHIPPED_RULES", "load_routing", "parse_rules"]

SHIPPED_RULES = Path(__file__).with_name("routing.toml")

_RULE_KEYS = {"name", "when", "priority", "queue", "reason"}
_REASON = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,79}")
"""Queue and rule names: what a contact flow compares or logs (no control characters)."""
_SEGMENTS = frozenset(s.value for s in Segment)


def load_routing(settings: RoutingSettings) -> Routing:
    path = Path(settings.rules_path) if settings.rules_path else SHIPPED_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"routing rules {path}: cannot be read ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"routing rules {path}: not valid TOML: {exc}") from None
    return Routing(parse_rules(raw, str(path)), settings.deadline_ms / 1000)


def parse_rules(raw: Mapping[str, Any], where: str) -> tuple[Rule, ...]:
    extra = set(raw) - {"rules"}
    if extra:
        raise ConfigError(f"routing rules {where}: unknown key(s) {', '.join(sorted(extra))}")
    tables = raw.get("rules")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"routing rules {where}: needs [[rules]] tables, the last a default")
    rules: list[Rule] = []
    for index, table in enumerate(tables):
        label = f"routing rules {where}: rule {index + 1}"
        if isinstance(table, Mapping) and isinstance(table.get("name"), str):
            label = f"{label} ({table['name']!r})"
        rule = _rule(table, label)
        if any(r.name == rule.name for r in rules):
            raise ConfigError(f"{label}: the name is used by an earlier rule")
        rules.append(rule)
    for rule in rules[:-1]:
        if not rule.when:
            raise ConfigError(
                f"routing rules {where}: rule {rule.name!r} has no condition: it always matches, "
                "so the rules after it never would (only the last rule may have none)"
            )
    if rules[-1].when:
        raise ConfigError(
            f"routing rules {where}: the last rule ({rules[-1].name!r}) must have no condition: "
            "the default, so every caller is routed"
        )
    return tuple(rules)


def _rule(table: Any, label: str) -> Rule:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{label}: must be a table")
    extra = set(table) - _RULE_KEYS
    if extra:
        raise ConfigError(f"{label}: unknown key(s) {', '.join(sorted(extra))}")
    missing = {"name", "priority", "queue", "reason"} - set(table)
    if missing:
        raise ConfigError(f"{label}: missing key(s) {', '.join(sorted(missing))}")
    name, queue, reason, priority = (
        table["name"],
        table["queue"],
        table["reason"],
        table["priority"],
    )
    for key, value in (("name", name), ("queue", queue)):
        if not isinstance(value, str) or not _TEXT.fullmatch(value):
            raise ConfigError(f"{label}: {key} must be 1-80 letters, digits, spaces or ._:/-")
    if not isinstance(reason, str) or not _REASON.fullmatch(reason):
        raise ConfigError(f"{label}: reason must be an UPPER_SNAKE_CASE code")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 99:
        raise ConfigError(f"{label}: priority must be a whole number from 1 (most urgent) to 99")
    when = table.get("when", {})
    if not isinstance(when, Mapping):
        raise ConfigError(f"{label}: when must be a table of conditions")
    conditions = tuple(_condition(fact, value, label) for fact, value in when.items())
    return Rule(name, conditions, priority, queue, reason)


def _condition(fact: str, value: Any, label: str) -> Condition:
    at = f"{label}: when.{fact}"
    if fact == "degraded":
        if isinstance(value, bool):
            return Condition(fact, any_of=frozenset({value}))
        if _list_of(value, str) and set(value) <= set(SYSTEMS):
            return Condition(fact, any_of=frozenset(value))
        raise ConfigError(f"{at} must be true, false or a list of {', '.join(SYSTEMS)}")
    kind = FACT_TYPES.get(fact)
    if kind is None:
        known = ", ".join([*FACT_TYPES, "degraded"])
        raise ConfigError(f"{at}: unknown fact (known: {known})")
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{at} must be true or false")
        return Condition(fact, any_of=frozenset({value}))
    if kind is int:
        return _number(fact, value, at)
    values = [value] if isinstance(value, str) else value
    if not _list_of(values, str):
        raise ConfigError(f"{at} must be a string or a list of strings")
    if fact == "segment" and not set(values) <= _SEGMENTS:
        raise ConfigError(f"{at}: segments are {', '.join(sorted(_SEGMENTS))}")
    return Condition(fact, any_of=frozenset(values))


def _number(fact: str, value: Any, at: str) -> Condition:
    if _whole(value):
        return Condition(fact, any_of=frozenset({value}))
    if _list_of(value, int) and all(_whole(v) for v in value):
        return Condition(fact, any_of=frozenset(value))
    if isinstance(value, Mapping) and value and set(value) <= {"min", "max"}:
        low, high = value.get("min"), value.get("max")
        if all(v is None or _whole(v) for v in (low, high)) and (
            low is None or high is None or low <= high
        ):
            return Condition(fact, minimum=low, maximum=high)
    raise ConfigError(f"{at} must be a whole number >= 0, a list of them, or {{ min, max }}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, kind) for v in value)
