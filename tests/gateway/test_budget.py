"""The per-subject budgets in-process (gateway/limits/budget.py) and their configuration."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConfigError, build_config
from gateway.demo import demo_config
from gateway.limits.budget import (
    DataBudgetSettings,
    LocalDataBudget,
    LocalLookups,
    LookupSettings,
    budgets_for,
)
from schema import Owner

ALICE = ("https://idp.example.com", "alice")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def owner(n: int) -> Owner:
    return Owner(customer_id=f"c{n}", profile_id=f"p{n}")


async def test_the_budget_counts_distinct_customers_per_window() -> None:
    clock = Clock()
    budget = LocalDataBudget(3600, clock)
    ledger = await budget.open(ALICE, 2)
    assert ledger.admit(owner(1)) and ledger.admit(owner(1)) and ledger.admit(owner(2))
    assert not ledger.admit(owner(3)) and ledger.exceeded
    assert ledger.admit(owner(2))  # already counted: still shown
    assert await budget.commit(ALICE, ledger)  # the window's first refusal: alert
    later = await budget.open(ALICE, 2)
    assert later.admit(owner(1)) and not later.admit(owner(4))
    assert not await budget.commit(ALICE, later)  # once per window
    clock.now += 3600
    fresh = await budget.open(ALICE, 2)
    assert fresh.admit(owner(4)) and fresh.admit(owner(5)) and not fresh.admit(owner(6))
    assert await budget.commit(ALICE, fresh)


async def test_the_budget_is_keyed_by_issuer_and_subject() -> None:
    budget = LocalDataBudget(3600, Clock())
    spent = await budget.open(ALICE, 1)
    assert spent.admit(owner(1)) and not spent.admit(owner(2))
    for who in (("https://partner.example.com", "alice"), ("https://idp.example.com", "bob")):
        assert (await budget.open(who, 1)).admit(owner(2))


async def test_a_read_known_only_by_profile_counts_its_profile() -> None:
    ledger = await LocalDataBudget(3600, Clock()).open(ALICE, 1)
    assert ledger.admit(Owner(customer_id=None, profile_id="p9"))
    assert not ledger.admit(Owner(customer_id=None, profile_id="p8"))
    assert ledger.admit(Owner(customer_id=None, profile_id=None))  # nobody's: nothing to count


async def test_lookups_per_window_refuse_without_counting_the_refused() -> None:
    clock = Clock()
    lookups = LocalLookups(3600, clock)
    assert (await lookups.take(ALICE, 3, 5)).allowed
    refused = await lookups.take(ALICE, 3, 5)
    assert not refused.allowed and refused.alert and 0 < refused.retry_after <= 3600
    assert (await lookups.take(ALICE, 2, 5)).allowed  # the refused 3 were not counted
    assert not (await lookups.take(ALICE, 1, 5)).alert  # one alert per window
    assert (await lookups.take(("other", "alice"), 5, 5)).allowed
    clock.now += 3600
    assert (await lookups.take(ALICE, 5, 5)).allowed


def test_a_caller_gets_the_most_generous_of_their_roles() -> None:
    settings = DataBudgetSettings(customers=7, roles={"agent": 60, "supervisor": 100})
    assert settings.limit_for({"agent", "supervisor"}) == 100
    assert settings.limit_for({"bot"}) == 7
    assert LookupSettings().limit_for({"agent"}) == 120


def config(limits: dict[str, Any], **sections: Any) -> Any:
    return build_config({**demo_config(1, 2), "limits": limits, **sections}, env={})


def test_budgets_are_configured_under_limits_per_role() -> None:
    loaded = config(
        {
            "max_depth": 8,
            "data_budget": {"window_seconds": 60, "roles": {"supervisor": 10}},
            "lookups": {"per_operation": 2, "roles": {"agent": 30}},
        }
    )
    assert loaded.limits.max_depth == 8
    budget = loaded.data_budget
    assert budget.window_seconds == 60 and budget.roles["supervisor"] == 10
    assert budget.roles["agent"] == 60  # the defaults stay for roles not given
    assert loaded.lookups.per_operation == 2 and loaded.lookups.roles["agent"] == 30
    data, found = budgets_for(budget, LookupSettings(enabled=False), "")
    assert isinstance(data, LocalDataBudget) and found is None


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"data_budget": {"customer": 3}}, r"\[limits.data_budget\] unknown key\(s\): customer"),
        ({"data_budget": {"roles": {"agent": "many"}}}, "must map roles to whole numbers"),
        ({"data_budget": {"roles": {"agent": -1}}}, "limits >= 0"),
        ({"lookups": {"per_operation": 0}}, r"\[limits.lookups\] .*per_operation >= 1"),
        ({"lookups": "lots"}, r"\[limits.lookups\] must be a table"),
        ({"data_budget": {"window_seconds": "an hour"}}, "must be a number"),
    ],
)
def test_bad_budget_settings_stop_start_up_naming_the_key(
    limits: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config(limits)


def test_audit_max_pending_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"\[audit\] max_pending"):
        config({}, audit={"max_pending": 0})
