from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resolvers.journey import assemble
from sources import SourceUnavailable
from sources.records import Case, Contact, CoreEvent, Risk

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def contact(cid: str, days_ago: float, intent: str | None, *, live: bool = False) -> Contact:
    started = NOW - timedelta(days=days_ago)
    return Contact(
        id=cid,
        profile_id="prof",
        channel="IVR" if intent else "VOICE",
        direction="INBOUND",
        started_at=started,
        ended_at=None if live else started + timedelta(minutes=5),
        state="CONNECTED" if live else "ENDED",
        queue="cards",
        agent_id=None,
        intent=intent,
        summary="asked about it",
        disposition=None,
        idv_result="PASSED",
        ani="+12025550143",
        previous_contact_id=None,
    )


def case(cid: str, days_ago: float, status: str) -> Case:
    opened = NOW - timedelta(days=days_ago)
    return Case(
        cid,
        "0001",
        "003X",
        "Card stuck",
        status,
        "High",
        "Card",
        opened,
        opened + timedelta(days=1),
        "Sam",
    )


def risk(hold: bool = False, dpd: int = 0) -> Risk:
    return Risk(
        "PTY1", hold, "mule pattern" if hold else None, "DELINQUENT" if dpd else "CURRENT", dpd
    )


def test_journey_merges_all_systems_newest_first() -> None:
    event = CoreEvent(
        "E1", "PTY1", "PAYMENT_POSTED", NOW - timedelta(days=1.5), "payment 50.00", "TX1"
    )
    journey = assemble(
        [contact("c1", 5, "card_lost"), contact("c2", 1, None)],
        [case("k1", 3, "Closed")],
        [event],
        None,
        NOW,
    )
    kinds = [(e.system, e.kind) for e in journey.events]
    assert kinds == [
        ("CCAAS", "INTERACTION"),
        ("CORE", "PAYMENT_POSTED"),
        ("CRM", "CASE_CLOSED"),
        ("CRM", "CASE_OPENED"),
        ("CCAAS", "INTERACTION"),
    ]
    assert [e.at for e in journey.events] == sorted((e.at for e in journey.events), reverse=True)
    assert isinstance(journey.last_contact, Contact) and journey.last_contact.id == "c2"
    assert journey.contacts_last_7_days == 2


def test_repeat_contact_is_the_same_intent_twice_within_7_days() -> None:
    repeat = assemble(
        [contact("a", 1, "card_lost"), contact("b", 6, "card_lost")], [], [], None, NOW
    )
    assert repeat.repeat_contact and repeat.repeat_intent == "card_lost"
    assert repeat.stage == "REPEAT_CONTACT"
    spread = assemble(
        [contact("a", 1, "card_lost"), contact("b", 8, "card_lost")], [], [], None, NOW
    )
    assert not spread.repeat_contact and spread.stage == "RECENTLY_CONTACTED"


def test_stage_precedence_fraud_then_collections_then_live_contact() -> None:
    live = [contact("a", 0, None, live=True)]
    assert assemble(live, [], [], risk(hold=True, dpd=30), NOW).stage == "FRAUD_REVIEW"
    assert assemble(live, [], [], risk(dpd=30), NOW).stage == "COLLECTIONS"
    assert assemble(live, [case("k", 2, "Working")], [], risk(), NOW).stage == "IN_CONTACT"
    assert assemble([], [case("k", 20, "Working")], [], risk(), NOW).stage == "CASE_OPEN"
    assert assemble([], [case("k", 20, "Closed")], [], None, NOW).stage == "STEADY"


def test_open_items_list_live_contacts_open_cases_and_risk() -> None:
    journey = assemble(
        [contact("a", 0, None, live=True)],
        [case("k1", 2, "Escalated"), case("k2", 9, "Closed")],
        [],
        risk(hold=True, dpd=12),
        NOW,
    )
    assert [(i.kind, i.ref_id) for i in journey.open_items] == [
        ("LIVE_CONTACT", "a"),
        ("CASE", "k1"),
        ("FRAUD_HOLD", "PTY1"),
        ("PAST_DUE", "PTY1"),
    ]


def test_values_derived_from_risk_carry_its_class() -> None:
    """Stage, open items and core events say which class each derived value comes from, so
    the gateway can withhold it (D1): the fraud-hold item's summary included."""
    events = [
        CoreEvent("E1", "PTY1", "FRAUD_ALERT", NOW - timedelta(days=1), "alert", "FA1"),
        CoreEvent("E2", "PTY1", "CARD_BLOCKED", NOW - timedelta(days=1), "blocked", "C1"),
        CoreEvent("E3", "PTY1", "PAYMENT_POSTED", NOW - timedelta(days=2), "paid 5", "TX1"),
        CoreEvent("E4", "PTY1", "ACCOUNT_OPENED", NOW - timedelta(days=3), "opened", "A1"),
        CoreEvent("E5", "PTY1", "SOMETHING_NEW", NOW - timedelta(days=4), "?", "X1"),
    ]
    journey = assemble(
        [contact("a", 0, "card_lost", live=True)],
        [case("k1", 2, "Escalated")],
        events,
        risk(hold=True, dpd=12),
        NOW,
    )
    assert journey.sensitive_class("stage") == "RISK_SUMMARY"
    assert journey.sensitive_class("repeat_intent") is None
    items = {i.kind: i for i in journey.open_items}
    for kind in ("FRAUD_HOLD", "PAST_DUE"):
        for field in ("kind", "ref_id", "summary"):
            assert items[kind].sensitive_class(field) == "RISK_SUMMARY", (kind, field)
    for kind in ("LIVE_CONTACT", "CASE"):
        assert items[kind].sensitive_class("kind") is None
    kinds = {e.kind: e for e in journey.events}
    expected = {
        "FRAUD_ALERT": "FRAUD_DETAIL",
        "CARD_BLOCKED": "RISK_SUMMARY",
        "PAYMENT_POSTED": "TRANSACTIONS",
        "ACCOUNT_OPENED": None,
        "SOMETHING_NEW": "FRAUD_DETAIL",
        "INTERACTION": None,
        "CASE_OPENED": None,
    }
    for kind, klass in expected.items():
        assert kinds[kind].sensitive_class("kind") == klass, kind
        assert kinds[kind].sensitive_class("ref_id") == klass, kind
    assert kinds["INTERACTION"].sensitive_class("summary") == "CONVERSATION"
    for stage_risk in (risk(dpd=3), risk(hold=True)):
        assert assemble([], [], [], stage_risk, NOW).sensitive_class("stage") == "RISK_SUMMARY"
    assert assemble([], [], [], risk(), NOW).sensitive_class("stage") is None


# -- a partial journey: what the systems that answered say, nothing guessed ------------------

CORE_DOWN = SourceUnavailable("core", "core is unavailable")
CCAAS_DOWN = SourceUnavailable("ccaas", "ccaas is unavailable")
CRM_DOWN = SourceUnavailable("crm", "crm is unavailable")
PAYMENT = CoreEvent("E1", "PTY1", "PAYMENT_POSTED", NOW - timedelta(days=1.5), "payment", "TX1")


def test_core_down_keeps_contacts_and_cases_and_does_not_guess_the_stage() -> None:
    journey = assemble(
        [contact("c1", 1, "card_lost")], [case("k1", 3, "New")], CORE_DOWN, CORE_DOWN, NOW
    )
    assert [(e.system, e.kind) for e in journey.events] == [
        ("CCAAS", "INTERACTION"),
        ("CRM", "CASE_UPDATED"),
        ("CRM", "CASE_OPENED"),
    ]
    assert [i.kind for i in journey.open_items] == ["CASE"]
    # CASE_OPEN would be a guess: a fraud hold in the core would make it FRAUD_REVIEW
    assert journey.stage is CORE_DOWN
    assert journey.missing == ("core",)
    assert isinstance(journey.last_contact, Contact) and journey.last_contact.id == "c1"
    assert (journey.contacts_last_7_days, journey.repeat_contact) == (1, False)


def test_risk_decides_the_stage_alone_when_it_holds_whatever_else_is_missing() -> None:
    journey = assemble(CCAAS_DOWN, CRM_DOWN, [PAYMENT], risk(hold=True), NOW)
    assert journey.stage == "FRAUD_REVIEW"
    assert journey.missing == ("ccaas", "crm")
    assert [i.kind for i in journey.open_items] == ["FRAUD_HOLD"]


def test_ccaas_down_nulls_what_derives_from_contacts_and_keeps_the_rest() -> None:
    journey = assemble(CCAAS_DOWN, [case("k1", 3, "New")], [PAYMENT], risk(), NOW)
    assert [(e.system, e.kind) for e in journey.events] == [
        ("CORE", "PAYMENT_POSTED"),
        ("CRM", "CASE_UPDATED"),
        ("CRM", "CASE_OPENED"),
    ]
    assert journey.stage is CCAAS_DOWN  # a live contact would make it IN_CONTACT
    assert journey.last_contact is CCAAS_DOWN
    assert journey.contacts_last_7_days is CCAAS_DOWN
    assert journey.repeat_contact is CCAAS_DOWN
    assert journey.repeat_intent is CCAAS_DOWN
    assert journey.missing == ("ccaas",)


def test_the_stage_reports_the_first_missing_part_in_the_error_order() -> None:
    journey = assemble(CCAAS_DOWN, CRM_DOWN, [], CORE_DOWN, NOW)
    assert journey.stage is CCAAS_DOWN
    assert journey.missing == ("ccaas", "crm", "core")
    only_crm = assemble([contact("c1", 30, None)], CRM_DOWN, [], risk(), NOW)
    assert only_crm.stage is CRM_DOWN
    live = assemble([contact("c1", 0, None, live=True)], CRM_DOWN, [], risk(), NOW)
    assert live.stage == "IN_CONTACT"  # decided before cases are asked
    events_only = assemble([], [], CORE_DOWN, risk(), NOW)
    assert events_only.stage == "STEADY"  # core events decide no stage
    assert events_only.missing == ("core",)
