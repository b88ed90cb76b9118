from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace
from typing import Any, cast

import pytest

from resolvers import (
    BadUserInput,
    Loaders,
    find_customers,
    normalise_phone,
    valid_contact_id,
    valid_customer_id,
)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+15551234567", "+15551234567"),
        ("(555) 123-4567", "+15551234567"),
        ("555.123.4567", "+15551234567"),
        ("1 555 123 4567", "+15551234567"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_normalise_phone_accepts_what_agents_type(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12345",
        "+0123456789",
        "555-CALL-NOW",
        "+44 (0)20",
        "+1 555 123 4567 890 12",
        "٥٥٥١٢٣٤٥٦٧",
    ],
)
def test_normalise_phone_refuses_non_numbers(raw: str) -> None:
    with pytest.raises(BadUserInput):
        normalise_phone(raw)


def test_customer_id_must_look_like_a_crm_id() -> None:
    assert valid_customer_id("003SB0000000000042") == "003SB0000000000042"
    for bad in ("", "42", "003SB00000000000420", "001SB0000000000042", "003SB../../admin00"):
        with pytest.raises(BadUserInput):
            valid_customer_id(bad)


def test_contact_id_must_be_a_uuid() -> None:
    assert (
        valid_contact_id("3F2504E0-4F89-11D3-9A0C-0305E82C3301")
        == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    )
    with pytest.raises(BadUserInput):
        valid_contact_id("../contacts?id=x")


async def test_a_malformed_key_fails_before_any_lookup_starts() -> None:
    """Found by the differential fuzzer: a valid phone's search was created, then a malformed
    email raised, and the search coroutine was never awaited (a RuntimeWarning, and an error
    under this suite's warnings-as-errors)."""
    searched: list[dict[str, str]] = []

    class Crm:
        async def search_customers(self, **keys: str) -> list[Any]:
            searched.append(keys)
            return []

    loaders = Loaders(cast(Any, SimpleNamespace(crm=Crm())))
    with pytest.raises(BadUserInput, match="email"):
        await find_customers(loaders, phone="+15551234567", email="not-an-email")
    gc.collect()  # an unawaited coroutine would warn here
    assert searched == []


async def test_a_search_by_one_key_starts_in_the_callers_task() -> None:
    """The usual screen-pop search (a phone): the CRM call is made in the caller's task, with
    no task (and no event-loop turn) before it; two keys still search concurrently."""
    seen: list[asyncio.Task[Any] | None] = []

    class Crm:
        async def search_customers(self, **keys: str) -> list[Any]:
            seen.append(asyncio.current_task())
            return [SimpleNamespace(id="003SB0000000000001", phone=keys.get("phone"))]

    loaders = Loaders(cast(Any, SimpleNamespace(crm=Crm())))
    found = await find_customers(loaders, phone="+15551234567")
    assert [c.id for c in found] == ["003SB0000000000001"]
    assert seen == [asyncio.current_task()]
    seen.clear()
    found = await find_customers(loaders, phone="+15551234567", email="a@example.com")
    assert [c.id for c in found] == ["003SB0000000000001"]
    assert len(seen) == 2 and asyncio.current_task() not in seen
