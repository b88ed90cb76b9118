"""The data budget and lookup windows shared by replicas through a real redis-server, behaving
as the in-process ones do (tests/gateway/test_budget.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.limits.budget import RedisDataBudget, RedisLookups
from schema import Owner
from tests.support.redis import redis_server

ALICE = ("https://idp.example.com", "alice")


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


def clock() -> float:
    return 1_000_000.0  # one window throughout, whenever the test runs


def owner(n: int) -> Owner:
    return Owner(customer_id=f"c{n}", profile_id=None)


async def test_replicas_share_one_data_budget(redis_url: str) -> None:
    one, two = RedisDataBudget(redis_url, 3600, clock), RedisDataBudget(redis_url, 3600, clock)
    first = await one.open(ALICE, 3)
    assert first.admit(owner(1)) and first.admit(owner(2))
    assert not await one.commit(ALICE, first)
    second = await two.open(ALICE, 3)  # the other replica continues the count
    assert second.admit(owner(1))  # already counted (members read once half is used)
    assert second.admit(owner(3)) and not second.admit(owner(4))
    assert await two.commit(ALICE, second)  # the window's first refusal: alert
    third = await one.open(ALICE, 3)
    assert third.admit(owner(2)) and not third.admit(owner(5))
    assert not await one.commit(ALICE, third)  # once per window, across replicas
    other = await two.open(("https://partner.example.com", "alice"), 3)
    assert other.admit(owner(4))
    await one.aclose()
    await two.aclose()


async def test_replicas_share_one_lookup_window(redis_url: str) -> None:
    one, two = RedisLookups(redis_url, 3600, clock), RedisLookups(redis_url, 3600, clock)
    assert (await one.take(ALICE, 3, 5)).allowed
    refused = await two.take(ALICE, 3, 5)
    assert not refused.allowed and refused.alert and 0 < refused.retry_after <= 3600
    assert (await two.take(ALICE, 2, 5)).allowed  # refused keys are not counted
    assert not (await one.take(ALICE, 1, 5)).alert
    assert (await one.take(("https://idp.example.com", "bob"), 5, 5)).allowed
    await one.aclose()
    await two.aclose()
