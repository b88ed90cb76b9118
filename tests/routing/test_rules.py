"""The shipped routing rules, decision by decision (every rule is some case's answer), how
unknown values match, and start-up refusing a bad rules file with a message naming the rule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.routing import RoutingSettings, load_routing
from gateway.settings_env import ConfigError
from resolvers.routing import RoutingContext

SHIPPED = load_routing(RoutingSettings())

STEADY = RoutingContext(
    matches=1,
    customer_id="003SB0000000000042",
    segment="MASS",
    preferred_language="en",
    open_cases=0,
    escalated_case=False,
    repeat_contact=False,
    repeat_intent=None,
    needs_specialist=False,
    degraded=(),
)
NOBODY = replace(
    STEADY,
    customer_id=None,
    segment=None,
    preferred_language=None,
    open_cases=None,
    escalated_case=None,
    repeat_contact=None,
    needs_specialist=None,
)

CASES: list[tuple[str, RoutingContext, str]] = [
    ("a fraud hold or arrears", replace(STEADY, needs_specialist=True), "specialist"),
    (
        "specialist first, whatever else",
        replace(STEADY, needs_specialist=True, escalated_case=True, segment="PRIVATE"),
        "specialist",
    ),
    ("an escalated case", replace(STEADY, escalated_case=True, open_cases=1), "escalated-case"),
    (
        "the same intent twice in 7 days",
        replace(STEADY, repeat_contact=True, repeat_intent="card_lost"),
        "repeat-contact",
    ),
    ("nobody has this phone", replace(NOBODY, matches=0), "unknown-caller"),
    ("a household phone", replace(NOBODY, matches=3), "household"),
    ("a premier customer", replace(STEADY, segment="PREMIER"), "valued-customer"),
    ("a private customer", replace(STEADY, segment="PRIVATE", open_cases=2), "valued-customer"),
    ("an open case", replace(STEADY, open_cases=1), "open-case"),
    (
        "core down: needs-specialist unknown",
        replace(STEADY, needs_specialist=None, degraded=("CORE",)),
        "context-unavailable",
    ),
    (
        "the CRM down: nothing known",
        replace(NOBODY, matches=None, degraded=("CRM",)),
        "context-unavailable",
    ),
    ("nothing to say", STEADY, "default"),
    (
        "a degraded system does not hide what is known",
        replace(STEADY, escalated_case=True, needs_specialist=None, degraded=("CORE",)),
        "escalated-case",
    ),
]


@pytest.mark.parametrize(("why", "context", "rule"), CASES, ids=[c[0] for c in CASES])
def test_the_shipped_rules_decide(why: str, context: RoutingContext, rule: str) -> None:
    decided = SHIPPED.decide(context)
    assert decided.name == rule, why


def test_every_shipped_rule_is_some_case_s_answer() -> None:
    assert {rule.name for rule in SHIPPED.rules} == {rule for _, _, rule in CASES}


def test_an_unknown_value_satisfies_no_condition_not_even_false() -> None:
    routing = _parse(
        """
        [[rules]]
        name = "calm"
        when = { needs_specialist = false }
        priority = 5
        queue = "General"
        reason = "CALM"
        [[rules]]
        name = "fallback"
        priority = 5
        queue = "General"
        reason = "FALLBACK"
        """
    )
    assert routing.decide(STEADY).name == "calm"
    assert routing.decide(replace(STEADY, needs_specialist=None)).name == "fallback"


def test_numbers_never_match_booleans_and_ranges_bound_both_ways() -> None:
    routing = _parse(
        """
        [[rules]]
        name = "few"
        when = { open_cases = { min = 1, max = 2 }, matches = 1 }
        priority = 4
        queue = "Service"
        reason = "FEW"
        [[rules]]
        name = "core"
        when = { degraded = ["CORE"] }
        priority = 4
        queue = "General"
        reason = "CORE_DOWN"
        [[rules]]
        name = "fallback"
        priority = 5
        queue = "General"
        reason = "FALLBACK"
        """
    )
    assert routing.decide(replace(STEADY, open_cases=2)).name == "few"
    assert routing.decide(replace(STEADY, open_cases=3)).name == "fallback"
    assert routing.decide(replace(STEADY, degraded=("CCAAS",))).name == "fallback"
    assert routing.decide(replace(STEADY, degraded=("CCAAS", "CORE"))).name == "core"


BAD: list[tuple[str, str, str]] = [
    (
        "unknown fact",
        'name = "x"\nwhen = { fraud_hold = true }',
        "rule 1 ('x'): when.fraud_hold: unknown fact",
    ),
    (
        "wrong type",
        'name = "x"\nwhen = { needs_specialist = "yes" }',
        "rule 1 ('x'): when.needs_specialist must be true or false",
    ),
    (
        "bad segment",
        'name = "x"\nwhen = { segment = "GOLD" }',
        "rule 1 ('x'): when.segment: segments are",
    ),
    (
        "bad range",
        'name = "x"\nwhen = { open_cases = { min = 3, max = 1 } }',
        "rule 1 ('x'): when.open_cases must be",
    ),
    (
        "bad system",
        'name = "x"\nwhen = { degraded = ["ERP"] }',
        "rule 1 ('x'): when.degraded must be",
    ),
    (
        "bad reason",
        'name = "x"\nwhen = { matches = 0 }\nreason2 = 1',
        "rule 1 ('x'): unknown key(s) reason2",
    ),
    ("no condition early", 'name = "x"', "rule 'x' has no condition: it always matches"),
]


def _rule(body: str) -> str:
    return f'[[rules]]\n{body}\npriority = 1\nqueue = "Q"\nreason = "X"\n'


DEFAULT = '[[rules]]\nname = "default"\npriority = 5\nqueue = "General"\nreason = "STANDARD"\n'


@pytest.mark.parametrize(("why", "rule", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_rule_is_refused_naming_it(tmp_path: Path, why: str, rule: str, message: str) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(_rule(rule) + DEFAULT)
    with pytest.raises(ConfigError) as caught:
        load_routing(RoutingSettings(rules_path=str(path)))
    assert message in str(caught.value), why
    assert str(path) in str(caught.value)


def test_rules_without_a_default_last_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(_rule('name = "only"\nwhen = { matches = 0 }'))
    with pytest.raises(ConfigError, match="the last rule \\('only'\\) must have no condition"):
        load_routing(RoutingSettings(rules_path=str(path)))
    path.write_text(_rule('name = "dup"\nwhen = { matches = 0 }') * 2 + DEFAULT)
    with pytest.raises(ConfigError, match="rule 2 \\('dup'\\): the name is used"):
        load_routing(RoutingSettings(rules_path=str(path)))
    path.write_text("rules = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_routing(RoutingSettings(rules_path=str(path)))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_routing(RoutingSettings(rules_path=str(tmp_path / "missing.toml")))


def test_a_bad_rules_file_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(_rule('name = "vip"\nwhen = { segment = "GOLD" }') + DEFAULT)
    raw = demo_config(0, 1)
    raw["routing"] = {"rules_path": str(path), "deadline_ms": 250}
    config = build_config(raw, env={})
    assert config.routing.deadline_ms == 250
    with pytest.raises(ConfigError, match=r"rule 1 \('vip'\): when\.segment"):
        create_app(config)


def test_the_deadline_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="deadline_ms must be between 1 and 8000"):
        build_config({**demo_config(0, 1), "routing": {"deadline_ms": 9000}}, env={})
    assert load_routing(RoutingSettings(deadline_ms=120)).deadline == pytest.approx(0.12)
    assert SHIPPED.deadline == pytest.approx(0.3)  # the default: 300 ms


def _parse(text: str) -> Any:
    import tomllib

    from gateway.routing import parse_rules
    from resolvers.routing import Routing

    return Routing(parse_rules(tomllib.loads(text.replace("\n        ", "\n")), "test"))
