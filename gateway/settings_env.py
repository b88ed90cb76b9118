"""The machinery under gateway/config.py: a settings dataclass read from its TOML table with
SWITCHBOARD_<SECTION>_<KEY> overrides, each value checked against the field's type (strictly:
a typo or a wrong type is an error, never a silent default)."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "ConfigError",
    "check_env",
    "coerce",
    "env_fields",
    "env_name",
    "read_section",
]

ENV_PREFIX = "SWITCHBOARD_"
ENV_KINDS = frozenset({"bool", "int", "float", "str", "tuple[str, ...]"})
"""Field types an environment variable can set; tables and lists of tables come from the file."""


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


def env_name(where: str, key: str) -> str:
    return ENV_PREFIX + where.replace(".", "_").upper() + "_" + key.upper()


def env_fields(cls: type[Any]) -> dict[str, Any]:
    # `name` of a source is its table's name, not a setting
    return {f.name: f for f in fields(cls) if str(f.type) in ENV_KINDS and f.name != "name"}


def check_env(env: Mapping[str, str], valid: list[str]) -> None:
    """Every SWITCHBOARD_* variable set is one the configuration reads (`valid`): a typo is
    named, with the likeliest meant name."""
    keys = [v.removeprefix(ENV_PREFIX) for v in valid]  # the shared prefix is no likeness
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in valid:
            close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), keys, n=1)
            hint = (
                f"; did you mean {ENV_PREFIX}{close[0]}?"
                if close
                else " (README: Running the gateway)"
            )
            raise ConfigError(f"unknown environment variable {name}{hint}")


def read_section(cls: type[Any], where: str, table: Any, env: Mapping[str, str]) -> Any:
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = set(table) - set(known)
    if unknown:
        raise ConfigError(f"[{where}] unknown key(s): {', '.join(sorted(unknown))}")
    values = dict(table)
    for name, spec in env_fields(cls).items():
        variable = env_name(where, name)
        override = env.get(variable)
        if override is not None:
            values[name] = _from_env(override, spec.type, variable)
    for name, value in list(values.items()):
        values[name] = coerce(value, known[name].type, f"{where}.{name}")
    try:
        return cls(**values)
    except TypeError as exc:
        missing = [n for n, f in known.items() if n not in values and _required(f)]
        raise ConfigError(f"[{where}] missing key(s): {', '.join(missing) or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"[{where}] {exc}") from None


def _required(spec: Any) -> bool:
    from dataclasses import MISSING

    return spec.default is MISSING and spec.default_factory is MISSING


def _from_env(text: str, annotation: Any, name: str) -> Any:
    """An environment variable is text: parsed strictly by the key's type (`8032` for an int,
    not `8032.7`); a list is a JSON array of strings or a comma-separated list."""
    kind = str(annotation)
    if kind == "bool":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {text!r}")
    if kind == "int":
        if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
            raise ConfigError(f"{name} must be a whole number, got {text!r}")
        return int(text)
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {text!r}") from None
    if kind == "tuple[str, ...]":
        if text.lstrip().startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{name} is not a valid JSON array: {exc}") from None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{name} must be a JSON array of strings")
            return tuple(items)
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return text


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """TOML values are typed: a string or a fraction for an int key is an error, not a cast."""
    kind = str(annotation)
    if kind in ("int", "float"):
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number):
            noun = "a whole number" if kind == "int" else "a number"
            raise ConfigError(f"{where} must be {noun}, got {value!r}")
        if kind == "float":
            return float(number)
        if isinstance(number, float) and not number.is_integer():
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return int(number)
    if kind == "bool" and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if kind == "str" and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if kind == "tuple[str, ...]":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    return value
