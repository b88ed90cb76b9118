"""The role policy: role x sensitive class -> treatment, read from TOML and checked at start-up.

    [roles.agent]                 # treatments when the customer is NOT verified on the caller's
    PCI_PAN = "deny"              # interaction (or for any other customer)
    [roles.agent.verified]        # overrides for the customer on the caller's own, active,
    PCI_PAN = "last4"             # ID&V-passed interaction (named by X-Interaction-Id)

    [roles.developer]
    values = "placeholder"        # every value in an answer is a type-shaped placeholder

With several roles the most permissive treatment wins; an unknown role, or a class a role does
not list, is `deny` (fail closed); a caller with no role the policy knows reads nothing at all.
Unknown classes, unknown treatments and treatments a class does not admit (last4 of a balance)
stop start-up with a message naming them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schema import PARTIAL_TREATMENTS, SensitiveClass

__all__ = ["DEFAULT_POLICY", "TREATMENTS", "Policy", "PolicyError", "RolePolicy"]

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")

TREATMENTS = ("full", "bin_last4", "last4", "hash", "redact", "deny")
"""Most permissive first: `full` shows the value, `deny` nulls it with a FORBIDDEN_FIELD error."""
_RANK = {t: i for i, t in enumerate(TREATMENTS)}
_CLASSES = {c.value: c for c in SensitiveClass}


class PolicyError(Exception):
    """The policy cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class RolePolicy:
    base: Mapping[SensitiveClass, str]
    verified: Mapping[SensitiveClass, str] = field(default_factory=dict)
    placeholder: bool = False
    """`values = "placeholder"`: the role sees the shape of answers, never a real value."""


@dataclass(frozen=True, slots=True)
class Policy:
    roles: Mapping[str, RolePolicy]

    def treatment(self, roles: Iterable[str], klass: SensitiveClass, verified: bool) -> str:
        best = "deny"
        for role in roles:
            rules = self.roles.get(role)
            if rules is None:
                continue
            chosen = rules.verified.get(klass) if verified else None
            chosen = chosen or rules.base.get(klass, "deny")
            if _RANK[chosen] < _RANK[best]:
                best = chosen
        return best

    def knows(self, roles: Iterable[str]) -> bool:
        """Has the caller any role the policy knows? If not, they read nothing (fail closed:
        unclassified fields included)."""
        return any(r in self.roles for r in roles)

    def placeholders(self, roles: Iterable[str]) -> bool:
        """Does the caller see placeholders only (every role they hold the policy knows says
        `values = "placeholder"`; one role with real values is enough to see them)?"""
        known = [self.roles[r] for r in roles if r in self.roles]
        return bool(known) and all(r.placeholder for r in known)

    def uses(self, treatment: str) -> bool:
        """Does any role, verified or not, give any class this treatment?"""
        return any(
            treatment in (*rules.base.values(), *rules.verified.values())
            for rules in self.roles.values()
        )

    def uses_verification(self, roles: Iterable[str]) -> bool:
        return any(self.roles[r].verified for r in roles if r in self.roles)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Policy:
        where = Path(path) if path is not None else DEFAULT_POLICY
        try:
            raw = tomllib.loads(where.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PolicyError(f"policy file not found: {where}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy file {where} is not valid TOML: {exc}") from None
        return cls.from_mapping(raw, source=str(where))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], source: str = "policy") -> Policy:
        unknown = set(raw) - {"roles"}
        if unknown:
            raise PolicyError(f"{source}: unknown section(s): {', '.join(sorted(unknown))}")
        roles = raw.get("roles")
        if not isinstance(roles, Mapping) or not roles:
            raise PolicyError(f"{source}: no [roles.<name>] tables")
        parsed = {}
        for name, table in roles.items():
            if not isinstance(table, Mapping):
                raise PolicyError(f"{source}: [roles.{name}] must be a table")
            verified = table.get("verified", {})
            if not isinstance(verified, Mapping):
                raise PolicyError(f"{source}: [roles.{name}.verified] must be a table")
            values = table.get("values", "real")
            if values not in ("real", "placeholder"):
                raise PolicyError(
                    f'{source}: [roles.{name}] values = {values!r}: must be "real" or "placeholder"'
                )
            base = {k: v for k, v in table.items() if k not in ("verified", "values")}
            parsed[name] = RolePolicy(
                base=_treatments(base, f"{source}: [roles.{name}]"),
                verified=_treatments(verified, f"{source}: [roles.{name}.verified]"),
                placeholder=values == "placeholder",
            )
        return cls(roles=parsed)


def _treatments(table: Mapping[str, Any], where: str) -> dict[SensitiveClass, str]:
    out: dict[SensitiveClass, str] = {}
    for name, treatment in table.items():
        klass = _CLASSES.get(name)
        if klass is None:
            known = ", ".join(_CLASSES)
            raise PolicyError(f"{where} unknown sensitive class {name!r} (known: {known})")
        if treatment not in _RANK:
            raise PolicyError(
                f"{where} {name} = {treatment!r}: unknown treatment "
                f"(known: {', '.join(TREATMENTS)})"
            )
        if treatment in ("last4", "bin_last4") and treatment not in PARTIAL_TREATMENTS.get(
            klass, frozenset()
        ):
            raise PolicyError(f"{where} {name} = {treatment!r}: {name} does not admit {treatment}")
        out[klass] = treatment
    return out
