"""`Subscription.journeyUpdates` over real sockets: signed CRM, core and CCaaS webhooks (the
sandbox's simulated calls for contacts) reach the subscribers of that customer's journey, and
no other customer's; who may subscribe is who may read the customer by query; each frame is
masked and charged to the subscriber's data budget as a query is."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from sources.sandbox.client import reset_stats, sample_customers, start_call
from tests.events.payloads import case_change
from tests.events.sockets import Servers, frames, open_socket, serving, subscribe, until

JOURNEY = """subscription ($id: ID!, $after: String) {
  journeyUpdates(customerId: $id, after: $after) {
    cursor missed cause
    customer { id fullName phones { number } journey { events(first: 3) { kind refId } } }
  }
}"""

WINDOW = 4


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with serving(events={"window": WINDOW}) as found:
        yield found


def _case(customer: str) -> Any:
    payload = case_change()
    payload["payload"]["ContactId"] = customer
    return payload


def _core(kind: str, party: str) -> Any:
    return {
        "eventId": str(uuid.uuid4()),
        "eventType": kind,
        "occurredAt": "2026-12-06T03:40:00+01:00",
        "partyId": party,
        "referenceId": "PAY-778",
    }


async def _party(servers: Servers, customer: str) -> str:
    async with httpx.AsyncClient(base_url=servers.sandbox) as http:
        found = await http.get("/crm/customers", params={"id": customer})
    party: str = found.json()["records"][0]["CoreParty__c"]
    return party


async def _journey(servers: Servers, token: str, customer: str, after: str | None = None) -> Any:
    ws = await open_socket(servers.ws, token)
    await subscribe(ws, JOURNEY, {"id": customer, "after": after})
    return ws


def _updates(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["payload"]["data"]["journeyUpdates"] for f in found]


def test_a_journey_gets_its_customers_cases_payments_and_contacts_and_no_other(
    servers: Servers,
) -> None:
    token = servers.token("agent-0101")
    raw: list[str] = []

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, int]:
        sample = await sample_customers(servers.sandbox, 2)
        raw.extend(sample[0]["phones"])
        a, b = [c["id"] for c in sample]
        party_a, party_b = await _party(servers, a), await _party(servers, b)
        wa = await _journey(servers, token, a)
        wb = await _journey(servers, token, b)
        await until(lambda: servers.subscribers == 2)
        await servers.webhook("crm", _case(b))
        await servers.webhook("crm", _case(a))
        await servers.webhook("core", _core("PAYMENT_POSTED", party_b))
        await servers.webhook("core", _core("PAYMENT_POSTED", party_a))
        await servers.webhook("core", _core("FRAUD_ALERT", party_a))
        got_a = await frames(wa, 3)
        # a call of A's, handled by another agent: its contact events are A's journey's
        call = await start_call(servers.sandbox, a, "agent-0102", ring_ms=0, idv_after_ms=0)
        got_a += await frames(wa, 3)  # offered, connected, verified
        await servers.webhook("crm", _case(b))  # B's next frame: nothing of A's came before
        got_b = await frames(wb, 3)
        await wa.close()
        await wb.close()
        await until(lambda: servers.subscribers == 0)
        return got_a, got_b, call, servers.subscribers

    got_a, got_b, call, subscribers = asyncio.run(scenario())
    updates_a, updates_b = _updates(got_a), _updates(got_b)
    assert [u["cause"] for u in updates_a] == ["CASE", "PAYMENT", "FRAUD_ALERT"] + ["CONTACT"] * 3
    assert [u["cause"] for u in updates_b] == ["CASE", "PAYMENT", "CASE"]
    assert len({u["customer"]["id"] for u in updates_a}) == 1
    assert len({u["customer"]["id"] for u in updates_b}) == 1
    assert updates_a[0]["customer"]["id"] != updates_b[0]["customer"]["id"]
    # one selection re-renders the timeline: the live call is the journey's newest contact
    contact = updates_a[3]["customer"]["journey"]["events"]
    assert call in [e["refId"] for e in contact]
    # masked per event for the subscriber: the agent sees the last four digits of a phone
    phone = updates_a[0]["customer"]["phones"][0]["number"]
    assert phone not in raw and phone[-4:] == raw[0][-4:]
    assert not any(u["missed"] for u in updates_a + updates_b)
    assert subscribers == 0


@pytest.mark.parametrize(
    ("roles", "customer", "code"),
    [
        (("auditor",), None, "FORBIDDEN"),  # no role the policy knows: no query reads either
        (("developer",), None, "FORBIDDEN"),  # placeholders only: by query
        (("agent",), "003SB9999999999999", "NOT_FOUND"),
        (("agent",), "not an id", "BAD_USER_INPUT"),
    ],
)
def test_who_may_not_read_the_customer_is_refused(
    servers: Servers, roles: tuple[str, ...], customer: str | None, code: str
) -> None:
    token = servers.token("someone-0001", roles=roles)

    async def scenario() -> tuple[dict[str, Any], dict[str, int]]:
        found = customer or (await sample_customers(servers.sandbox, 1))[0]["id"]
        await reset_stats(servers.sandbox)
        ws = await _journey(servers, token, found)
        frame = (await frames(ws, 1))[0]
        await ws.close()
        return frame, await servers.calls()

    frame, calls = asyncio.run(scenario())
    # refused when the stream starts: one frame with the error and no data, then `complete`
    assert frame["type"] == "next"
    assert frame["payload"]["data"] is None
    assert [e["extensions"]["code"] for e in frame["payload"]["errors"]] == [code]
    if code == "FORBIDDEN":
        assert calls == {}  # refused before any read


def test_a_journey_resumed_after_its_window_says_events_were_missed(servers: Servers) -> None:
    token = servers.token("agent-0103")

    async def scenario() -> list[dict[str, Any]]:
        customer = (await sample_customers(servers.sandbox, 3))[2]["id"]
        ws = await _journey(servers, token, customer)
        await until(lambda: servers.subscribers >= 1)
        await servers.webhook("crm", _case(customer))
        cursor = _updates(await frames(ws, 1))[0]["cursor"]
        await ws.close()
        for _ in range(WINDOW + 1):  # the cursor falls out of the replay window
            await servers.webhook("crm", _case(customer))
        ws = await _journey(servers, token, customer, after=cursor)
        resumed = _updates(await frames(ws, WINDOW))
        await ws.close()
        return resumed

    resumed = asyncio.run(scenario())
    assert [u["missed"] for u in resumed] == [True] + [False] * (WINDOW - 1)
    assert {u["cause"] for u in resumed} == {"CASE"}


def test_a_journey_frame_counts_against_the_data_budget_a_query_spends() -> None:
    """The agent may be shown one customer's sensitive values per window: a query spends it,
    then the frame of another customer is denied those values (DATA_BUDGET_EXCEEDED)."""
    with serving(limits={"data_budget": {"roles": {"agent": 1}}}) as servers:
        token = servers.token("agent-0104")

        async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
            a, b = [c["id"] for c in (await sample_customers(servers.sandbox, 2))]
            query = "query ($id: ID!) { customer(id: $id) { phones { number } } }"
            async with httpx.AsyncClient(base_url=servers.gateway) as http:
                answer = await http.post(
                    "/graphql",
                    json={"query": query, "variables": {"id": a}},
                    headers={"authorization": f"Bearer {token}"},
                )
            ws: ClientConnection = await _journey(servers, token, b)
            await until(lambda: servers.subscribers >= 1)
            await servers.webhook("crm", _case(b))
            frame = (await frames(ws, 1))[0]
            await ws.close()
            return answer.json(), frame

        answer, frame = asyncio.run(scenario())
    assert "errors" not in answer  # the query spent the budget
    update = frame["payload"]["data"]["journeyUpdates"]
    assert update["customer"]["phones"][0]["number"] is None
    codes = {e["extensions"]["code"] for e in frame["payload"]["errors"]}
    assert codes == {"DATA_BUDGET_EXCEEDED"}


def test_a_journey_ends_at_token_expiry(servers: Servers) -> None:
    token = servers.token("agent-0105", ttl=2)

    async def scenario() -> tuple[dict[str, Any], int | None]:
        customer = (await sample_customers(servers.sandbox, 1))[0]["id"]
        ws = await _journey(servers, token, customer)
        frame = (await frames(ws, 1))[0]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)  # the `complete`, then the close
        return frame, closed.value.rcvd.code if closed.value.rcvd else None

    frame, code = asyncio.run(scenario())
    assert frame["payload"]["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
    assert code == 4403
