"""The sensitive leaves of a compiled plan: what a projector calls for a leaf of the table of
sensitive fields (gateway/masking/fields.py), the compiled twin of standard execution's
resolver wrappers (gateway/masking/wrappers.py). Each asks `Access.decide`, the one decision
both executions share, with the treatments the plan holds for the caller's roles, so masking at
run time is a dict lookup per value; the object's response path is joined to the key only if
the read is audited or refused."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import FieldNode
from graphql.pyutils import Path

from gateway.masking.fields import How, SensitiveField
from gateway.masking.treatments import Masker
from schema import SensitiveClass
from schema.sensitive import shown

__all__ = ["Leaf", "fallible_leaf", "masked_leaf", "variable_leaf"]

Leaf = Callable[[Any, Any, Path, Any], Any]
"""(record, owner, object's path, run state) -> the leaf's response value."""


def masked_leaf(
    field: SensitiveField,
    key: str,
    nodes: list[FieldNode],
    treatments: tuple[str, str],
    get: Callable[[Any], Any],
    full: Callable[[Any], Any],
    masker: Masker,
    kept: bool,
) -> Leaf:
    """A leaf of a fixed class: the value, its masked form (`kept`: a textual scalar a partial
    treatment can keep; any other is withheld as null, as the Masker does), or null and
    FORBIDDEN_FIELD."""
    coordinate, klass = field.audited, field.klass
    apply = masker.apply

    def leaf(r: Any, o: Any, p: Path, s: Any) -> Any:
        treatment = s.access.decide(coordinate, klass, o, p, key, treatments)
        if treatment == "full":
            return full(get(r))
        if treatment == "deny":
            s.error(s.access.forbidden(klass), nodes, Path(p, key, None))
            return None
        value = get(r)
        if value is None or not kept:
            return None
        return apply(treatment, klass, value)

    return leaf


def variable_leaf(
    field: SensitiveField,
    key: str,
    nodes: list[FieldNode],
    treatments: Mapping[str, tuple[str, str]],
    get: Callable[[Any], Any],
    full: Callable[[Any], Any],
    masker: Masker,
) -> Leaf:
    """A leaf whose class depends on the record (`VariablySensitive`; `treatments` by class):
    masked, or, for a derived value, shown or replaced by its neutral value."""
    coordinate, python_name, neutral = field.coordinate, field.python_name, field.neutral
    is_derived = field.how is How.DERIVED
    apply = masker.apply

    def leaf(r: Any, o: Any, p: Path, s: Any) -> Any:
        value = get(r)
        if isinstance(value, Exception):  # a fallible Read: as the resolver raising it
            s.error(value, nodes, Path(p, key, None))
            return None
        sensitivity = r.sensitive_class(python_name)
        if sensitivity is None:
            return full(value)
        klass = SensitiveClass(sensitivity)
        field_ = f"{coordinate}:{sensitivity}"
        treatment = s.access.decide(field_, klass, o, p, key, treatments[sensitivity])
        if is_derived:
            return full(shown(treatment, value, neutral))
        if treatment == "deny":
            s.error(s.access.forbidden(klass), nodes, Path(p, key, None))
            return None
        return full(apply(treatment, klass, value))

    return leaf


def fallible_leaf(
    key: str, nodes: list[FieldNode], get: Callable[[Any], Any], full: Callable[[Any], Any]
) -> Leaf:
    """A leaf whose `Read` may return the Exception of the system it derives from: null and
    that error at the leaf's path, as standard execution's resolver raising it."""

    def leaf(r: Any, o: Any, p: Path, s: Any) -> Any:
        value = get(r)
        if isinstance(value, Exception):
            s.error(value, nodes, Path(p, key, None))
            return None
        return full(value)

    return leaf
