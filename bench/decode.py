"""Decoding back-end answers, alone: CPU per record, the reference way against the fast way.

    python -m bench.decode [--customers 100] [--rounds 7]

The sandbox (in this process, over ASGI: no sockets) answers the calls a supervisor list and a
screen-pop make for `--customers` customers; each answer is then decoded again and again by
the reference (`orjson.loads`, then a `Reader` per record: sources/_decode.py) and by the fast
way (msgspec Structs decoded in C, then the records), and the best round of each is printed, in
nanoseconds per record. Both build the same records (checked here too)."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from sources._decode import Shape
from sources.ccaas import CONTACTS
from sources.core import ACCOUNTS, CARDS, EVENTS, PARTIES, RISKS, TRANSACTIONS
from sources.crm import CASES, CUSTOMERS
from sources.sandbox import create_app

Params = list[tuple[str, str]]


async def answers(customers: int) -> dict[str, tuple[Shape[Any, Any], bytes]]:
    """One answer of each kind for `customers` customers, as the sandbox sends it."""
    app = create_app(seed=7, customers=max(customers * 4, 1_000))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:

        async def get(path: str, params: Params) -> bytes:
            response = await c.get(path, params=tuple(params))
            response.raise_for_status()
            return response.content

        sample = orjson.loads(await get("/_sandbox/sample", [("n", str(customers))]))
        ids = [("id", s["id"]) for s in sample["customers"]]
        body = await get("/crm/customers", ids)
        records = orjson.loads(body)["records"]
        parties = [("partyId", r["CoreParty__c"]) for r in records if r.get("CoreParty__c")]
        profiles = [("profileId", r["CcaasProfile__c"]) for r in records]
        accounts = await get("/core/accounts", parties)
        found = orjson.loads(accounts)["Data"]["Account"]
        account_ids = [("accountId", a["AccountId"]) for a in found]
        return {
            "customers": (CUSTOMERS, body),
            "accounts": (ACCOUNTS, accounts),
            "cases": (CASES, await get("/crm/cases", [("customerId", i) for _, i in ids])),
            "cards": (CARDS, await get("/core/cards", parties)),
            "risk": (RISKS, await get("/core/risk", parties)),
            "parties": (PARTIES, await get("/core/parties", parties)),
            "events": (EVENTS, await get("/core/events", [*parties, ("perParty", "10")])),
            "transactions": (
                TRANSACTIONS,
                await get("/core/transactions", [*account_ids[:100], ("perAccount", "10")]),
            ),
            "contacts": (CONTACTS, await get("/ccaas/contacts", [*profiles, ("perProfile", "5")])),
        }


def best(decode: Callable[[bytes], list[Any]], body: bytes, rounds: int) -> float:
    """The fastest round's seconds per call (each round long enough to time)."""
    n = max(5, 20_000 // max(len(decode(body)), 1))
    fastest = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            decode(body)
        fastest = min(fastest, (time.perf_counter() - started) / n)
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    found = asyncio.run(answers(options.customers))
    print(f"{'answer':13s} {'records':>7s} {'reference':>12s} {'fast':>10s}  ratio")
    for name, (shape, body) in found.items():

        def reference(raw: bytes, shape: Shape[Any, Any] = shape) -> list[Any]:
            return shape.read("bench", orjson.loads(raw))

        def fast(raw: bytes, shape: Shape[Any, Any] = shape) -> list[Any]:
            return shape.read("bench", shape.fast(raw))

        records = reference(body)
        assert fast(body) == records, name
        per = max(len(records), 1)
        slow_s, fast_s = best(reference, body, options.rounds), best(fast, body, options.rounds)
        slow_ns, fast_ns = slow_s * 1e9 / per, fast_s * 1e9 / per
        ratio = slow_ns / fast_ns
        print(f"{name:13s} {len(records):7d} {slow_ns:9.0f} ns {fast_ns:7.0f} ns  {ratio:4.1f}x")


if __name__ == "__main__":
    main()
