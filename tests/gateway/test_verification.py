"""The caller's verification as several root fields wait for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec

from gateway.masking.verification import Verification, verifier
from schema import Owner
from sources.records import Contact, Customer
from tests.events.test_screen_pop_feed import CUSTOMER


def _live_contact() -> Contact:
    return Contact(
        id="c1",
        profile_id="p1",
        channel="VOICE",
        direction="INBOUND",
        started_at=datetime.now(UTC),
        ended_at=None,
        state="CONNECTED",
        queue=None,
        agent_id="agent-1",
        intent=None,
        summary=None,
        disposition=None,
        idv_result="PASSED",
        ani=None,
        previous_contact_id=None,
    )


async def test_every_root_field_waits_for_the_same_answer() -> None:
    """Found by the differential fuzzer: the first root field to wait took the pending answer
    and a second one, waiting later but before it arrived, went on with nobody verified."""
    arrived = asyncio.Event()

    async def ask() -> Contact | None:
        await arrived.wait()
        return _live_contact()

    verification = Verification(None, "agent-1", ask, may_verify=True)
    verification.start()
    first = asyncio.ensure_future(verification.settle())
    await asyncio.sleep(0)
    second = asyncio.ensure_future(verification.settle())
    await asyncio.sleep(0)
    arrived.set()
    await asyncio.gather(first, second)
    assert verification.covers(Owner(customer_id="003x", profile_id="p1"))


async def test_a_cancelled_waiter_does_not_cancel_the_question() -> None:
    arrived = asyncio.Event()

    async def ask() -> Contact | None:
        await arrived.wait()
        return _live_contact()

    verification = Verification(None, "agent-1", ask, may_verify=True)
    waiter = asyncio.ensure_future(verification.settle())
    await asyncio.sleep(0)
    waiter.cancel()
    arrived.set()
    await verification.settle()
    assert verification.active


async def test_drain_never_asks() -> None:
    asked: list[int] = []

    async def ask() -> Contact | None:
        asked.append(1)
        return None

    verification = Verification(None, "agent-1", ask, may_verify=True)
    await verification.drain()
    assert asked == []


async def test_the_reason_an_interaction_verifies_nobody_tells_least_first() -> None:
    async def reason(contact: Contact | None, *, unconfirmed: bool = False) -> str | None:
        async def ask() -> Contact | None:
            verification.unconfirmed = unconfirmed
            return contact

        verification = Verification(None, "agent-1", ask, may_verify=True)
        assert verification.reason() == "not_checked"  # not asked yet
        await verification.settle()
        return verification.reason()

    live = _live_contact()
    assert await reason(live) is None
    assert await reason(None) == "unknown"
    assert await reason(None, unconfirmed=True) == "unconfirmed"
    ended = msgspec.structs.replace(live, state="ENDED", ended_at=datetime.now(UTC))
    assert await reason(ended) == "not_live"
    assert await reason(msgspec.structs.replace(live, idv_result="FAILED")) == "idv_not_passed"
    # ID&V passed on a call from a phone the CCaaS system has no profile for: nobody verified
    # (the agent links the profile after ID&V), however the owner is keyed
    unknown = msgspec.structs.replace(live, profile_id=None, ani="+12025550143")
    assert await reason(unknown) == "no_profile"
    nobody = Verification(unknown, "agent-1", may_verify=True)
    assert not nobody.active
    assert not nobody.covers(Owner(customer_id="003x", profile_id=None))
    # someone else's interaction, ended and failed: only that it is not the caller's
    theirs = msgspec.structs.replace(ended, agent_id="agent-2", idv_result="FAILED")
    assert await reason(theirs) == "not_yours"
    assert Verification(None, "agent-1", skipped="malformed").reason() == "malformed"


async def test_a_profile_verifies_only_once_a_customer_is_known_to_link_it() -> None:
    """`verifier`, the rule both a request's report and a screen pop's frame follow: asked and
    linked by nobody -> `no_profile`; not asked (the request read other customers) -> the
    profile stands; a customer linking it -> verified."""
    linked = msgspec.structs.replace(CUSTOMER, ccaas_profile_id="p1")
    for known, asked, reason in [
        ([], True, "no_profile"),
        ([CUSTOMER], True, "no_profile"),
        ([CUSTOMER], False, None),
        ([linked], True, None),
        ([linked], False, None),
    ]:

        async def ask() -> Contact | None:
            return _live_contact()

        def request(
            profile: str, k: list[Customer] = known, a: bool = asked
        ) -> tuple[list[Customer], bool]:
            return list(k), a

        verification = Verification(None, "agent-1", ask, may_verify=True, known=request)
        await verification.settle()
        assert verification.reason() == reason, (known, asked)
        assert verifier(_live_contact(), known, asked=asked).profile_id == (
            None if reason else "p1"
        )
