"""The journey: the end-to-end view no single system has.

One timeline merged from CCaaS contacts, CRM cases and core events, newest first; a derived
stage; the open items; the last contact with its bot/IVR intent and ID&V result, so the agent
does not make the customer repeat themselves; repeat-contact detection (the same intent twice
within 7 days). Pure functions over records: `fields.journey_of` fetches, `assemble` decides.

A part whose system failed is passed as its Exception: the journey is assembled from the parts
that answered (a partial answer, never a wrong one). What derives from a missing part holds that
part's Exception instead of a guess (the field is null with the error at its own path): the
contact-derived fields when CCaaS failed, and the stage unless the parts that answered decide it.
`missing` names the systems whose part is absent, as `extensions.sources` names them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sources.records import Case, Contact, CoreEvent, Risk

__all__ = [
    "JOURNEY_WINDOW",
    "NEEDS_SPECIALIST",
    "SYSTEM_OF_PART",
    "Journey",
    "JourneyEvent",
    "OpenItem",
    "assemble",
    "recent_intents",
    "repeat_intent_of",
]

JOURNEY_WINDOW = 50
"""How many of the newest contacts and core events a journey considers (the CCaaS maximum)."""

REPEAT_WINDOW = timedelta(days=7)

NEEDS_SPECIALIST = "NEEDS_SPECIALIST"
"""What a caller who may not see why a customer needs a specialist gets instead of a stage or an
open item's kind derived from risk (the role display matrix's boolean "needs specialist")."""

_RISK_STAGES = frozenset({"FRAUD_REVIEW", "COLLECTIONS"})

SYSTEM_OF_PART = {"contacts": "ccaas", "cases": "crm", "events": "core", "risk": "core"}
"""The journey's parts in the error order, each with its system's name in `extensions.sources`."""

_T = TypeVar("_T")
Part = list[_T] | Exception
"""A part of the journey: its system's records, or the Exception that system failed with."""

# Derived values carry the class of what they derive from. Each record says, per field, which
# class the value it holds derives from (None: nothing sensitive); the gateway decides per caller
# whether it is shown or replaced by the field's neutral value (schema.sensitive.derived).


@dataclass(frozen=True, slots=True)
class JourneyEvent:
    at: datetime
    system: str  # CRM | CORE | CCAAS | KNOWLEDGE
    kind: str
    channel: str | None
    summary: str
    ref_id: str | None
    sensitivity: str | None = None
    """The data class of `summary` (a conversation, a transaction, fraud detail), or None."""
    kind_sensitivity: str | None = None
    """The class `kind` and `ref_id` derive from: that of a core event's summary (a payment is
    a transaction, a fraud alert fraud detail); None for contacts and cases, whose existence
    the caller sees anyway (`Customer.interactions`, `Customer.cases`)."""

    def sensitive_class(self, field: str) -> str | None:
        if field == "summary":
            return self.sensitivity
        if field in ("kind", "ref_id"):
            return self.kind_sensitivity
        return None


@dataclass(frozen=True, slots=True)
class OpenItem:
    kind: str  # LIVE_CONTACT | CASE | FRAUD_HOLD | PAST_DUE | DATA_MISMATCH
    ref_id: str | None
    summary: str
    since: datetime | None
    sensitivity: str | None = None
    """The class of the item's kind, ref id and summary: RISK_SUMMARY for a fraud hold or
    arrears (the kind alone says why the customer needs a specialist; the ref id is the core
    party id), None for live contacts and cases."""

    def sensitive_class(self, field: str) -> str | None:
        return self.sensitivity if field in ("kind", "ref_id", "summary") else None


@dataclass(frozen=True, slots=True)
class Journey:
    """A field holding an Exception is one that derives from a missing part: null, with that
    error at its path (both executions)."""

    stage: str | Exception
    events: tuple[JourneyEvent, ...]
    open_items: tuple[OpenItem, ...]
    last_contact: Contact | Exception | None
    contacts_last_7_days: int | Exception
    repeat_contact: bool | Exception
    repeat_intent: str | Exception | None
    missing: tuple[str, ...] = ()

    def sensitive_class(self, field: str) -> str | None:
        """FRAUD_REVIEW and COLLECTIONS derive from risk: RISK_SUMMARY."""
        return "RISK_SUMMARY" if field == "stage" and self.stage in _RISK_STAGES else None


def recent_intents(contacts: list[Contact], limit: int = 3) -> list[str]:
    """The most recent distinct intents, newest first: what the customer came about lately."""
    intents: list[str] = []
    for contact in contacts:
        if contact.intent and contact.intent not in intents:
            intents.append(contact.intent)
            if len(intents) == limit:
                break
    return intents


def repeat_intent_of(contacts: list[Contact], now: datetime) -> str | None:
    """The repeat-contact rule, written once (the journey and the routing context): the newest
    intent recorded at least twice within 7 days, or None (no repeat contact)."""
    recent = sorted(
        (c for c in contacts if now - c.started_at <= REPEAT_WINDOW),
        key=lambda c: c.started_at,
        reverse=True,
    )
    repeated = [i for i, n in Counter(c.intent for c in recent if c.intent).items() if n > 1]
    return next((c.intent for c in recent if c.intent in repeated), None)


def assemble(
    contacts: Part[Contact],
    cases: Part[Case],
    events: Part[CoreEvent],
    risk: Risk | Exception | None,
    now: datetime,
    mismatches: Sequence[tuple[str, datetime | None]] = (),
) -> Journey:
    """`mismatches`: (field, since) of the customer's discrepancies (discrepancies.py). Each
    part may be the Exception its system failed with (see the module's docstring)."""
    parts = {"contacts": contacts, "cases": cases, "events": events, "risk": risk}
    failed = {name: p for name, p in parts.items() if isinstance(p, Exception)}
    missing = tuple(dict.fromkeys(SYSTEM_OF_PART[name] for name in failed))
    contacts_ = [] if isinstance(contacts, Exception) else contacts
    cases_ = [] if isinstance(cases, Exception) else cases
    events_ = [] if isinstance(events, Exception) else events
    risk_ = None if isinstance(risk, Exception) else risk
    contacts_ = sorted(contacts_, key=lambda c: c.started_at, reverse=True)
    timeline = sorted(
        [*map(_contact_event, contacts_), *_case_events(cases_), *map(_core_event, events_)],
        key=lambda e: e.at,
        reverse=True,
    )
    recent = [c for c in contacts_ if now - c.started_at <= REPEAT_WINDOW]
    repeat_intent = repeat_intent_of(contacts_, now)
    items = _open_items(contacts_, cases_, risk_) + _mismatch_items(mismatches)
    stage = _stage(items, recent, repeat_intent, failed)
    if isinstance(contacts, Exception):
        gone = contacts
        return Journey(stage, tuple(timeline), items, gone, gone, gone, gone, missing)
    return Journey(
        stage=stage,
        events=tuple(timeline),
        open_items=items,
        last_contact=contacts_[0] if contacts_ else None,
        contacts_last_7_days=len(recent),
        repeat_contact=repeat_intent is not None,
        repeat_intent=repeat_intent,
        missing=missing,
    )


def _stage(
    items: tuple[OpenItem, ...],
    recent: list[Contact],
    repeat: str | None,
    failed: dict[str, Exception],
) -> str | Exception:
    """The first rule that holds, in priority order, each asked only if the part it reads
    answered. A rule that cannot be asked leaves the stage undecided (a "normal" stage for a
    caller in fraud review would be wrong): the first missing part's error, in the error order
    (contacts, cases, risk), whichever rule stopped."""
    kinds = {item.kind for item in items}
    rules: list[tuple[str, bool, str]] = [
        ("risk", "FRAUD_HOLD" in kinds, "FRAUD_REVIEW"),
        ("risk", "PAST_DUE" in kinds, "COLLECTIONS"),
        ("contacts", "LIVE_CONTACT" in kinds, "IN_CONTACT"),
        ("contacts", repeat is not None, "REPEAT_CONTACT"),
        ("cases", "CASE" in kinds, "CASE_OPEN"),
        ("contacts", bool(recent), "RECENTLY_CONTACTED"),
    ]
    for part, holds, stage in rules:
        if part in failed:
            return next(e for name, e in failed.items() if name in ("contacts", "cases", "risk"))
        if holds:
            return stage
    return "STEADY"


def _open_items(
    contacts: list[Contact], cases: list[Case], risk: Risk | None
) -> tuple[OpenItem, ...]:
    items = [
        OpenItem("LIVE_CONTACT", c.id, f"{c.channel.lower()} contact in progress", c.started_at)
        for c in contacts
        if c.ended_at is None
    ]
    items.extend(
        OpenItem(
            "CASE", c.id, f"{c.status} {c.priority.lower()} priority: {c.subject}", c.opened_at
        )
        for c in sorted(cases, key=lambda c: c.opened_at, reverse=True)
        if c.is_open
    )
    if risk is not None and risk.fraud_hold:
        items.append(
            OpenItem(
                "FRAUD_HOLD", risk.party_id, "fraud hold on the customer", None, "RISK_SUMMARY"
            )
        )
    if risk is not None and (risk.days_past_due > 0 or risk.collections_status != "CURRENT"):
        # the days past due stay out of the summary: they are collections detail
        summary = f"past due ({risk.collections_status.lower().replace('_', ' ')})"
        items.append(OpenItem("PAST_DUE", risk.party_id, summary, None, "RISK_SUMMARY"))
    return tuple(items)


_MISMATCH_WHAT = {
    "NAME": "name",
    "DATE_OF_BIRTH": "date of birth",
    "PHONE": "phone number",
    "EMAIL": "email address",
    "ADDRESS": "address",
}


def _mismatch_items(mismatches: Sequence[tuple[str, datetime | None]]) -> tuple[OpenItem, ...]:
    """One DATA_MISMATCH per field the CRM and the core disagree on: which field, never the
    values (the agent asks the customer; the values are in `Customer.discrepancies`, masked)."""
    seen: dict[str, datetime | None] = {}
    for field, since in mismatches:
        seen.setdefault(field, since)
    return tuple(
        OpenItem(
            "DATA_MISMATCH",
            None,
            f"core has a different {_MISMATCH_WHAT.get(field, 'record')} than the CRM"
            " — confirm with the customer",
            since,
        )
        for field, since in seen.items()
    )


def _contact_event(c: Contact) -> JourneyEvent:
    what = (c.intent or "contact").replace("_", " ")
    summary = f"{what}: {c.summary}" if c.summary else what
    return JourneyEvent(
        c.started_at, "CCAAS", "INTERACTION", c.channel, summary, c.id, "CONVERSATION"
    )


def _case_events(cases: list[Case]) -> list[JourneyEvent]:
    events = []
    for case in cases:
        opened = f"case {case.number} opened: {case.subject}"
        events.append(JourneyEvent(case.opened_at, "CRM", "CASE_OPENED", None, opened, case.id))
        if case.updated_at > case.opened_at:
            kind = "CASE_CLOSED" if not case.is_open else "CASE_UPDATED"
            summary = f"case {case.number} {case.status.lower()}"
            events.append(JourneyEvent(case.updated_at, "CRM", kind, None, summary, case.id))
    return events


_CORE_EVENT_SENSITIVITY = {
    "PAYMENT_POSTED": "TRANSACTIONS",
    "FEE_CHARGED": "TRANSACTIONS",
    "FRAUD_ALERT": "FRAUD_DETAIL",
    "CARD_BLOCKED": "RISK_SUMMARY",
    "ACCOUNT_OPENED": None,
}


def _core_event(e: CoreEvent) -> JourneyEvent:
    # unknown types are treated as the most guarded kind of core detail
    sensitivity = _CORE_EVENT_SENSITIVITY.get(e.type, "FRAUD_DETAIL")
    return JourneyEvent(e.time, "CORE", e.type, None, e.summary, e.ref_id, sensitivity, sensitivity)
