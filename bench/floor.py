"""The floor: what any Python gateway costs before it does GraphQL work.

A hand-written Starlette endpoint, in its own process, that answers the benchmark's operations
with the same back-end calls as the gateway (through the same transport: `sources.Sources`),
fanned out with `asyncio.gather`, the same bearer-token check
(`gateway.auth.authenticator.Authenticator`) and
the same JSON `data` (the harness checks it equals the gateway's). It dispatches on the GraphQL
`operationName` and never parses the query.

    python -m bench.floor --port 9100 --sandbox http://127.0.0.1:9001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.auth.authenticator import Authenticator, InvalidToken, Principal
from gateway.cli import tune_gc
from gateway.config import build_config
from gateway.masking.treatments import Masker
from gateway.masking.verification import Verification
from resolvers.discrepancies import compare
from resolvers.journey import JOURNEY_WINDOW, assemble, recent_intents
from schema.enums import (
    AccountStatus,
    AccountType,
    CardBrand,
    CardStatus,
    CasePriority,
    CaseStatus,
    Channel,
    CollectionsStatus,
    JourneyStage,
    Segment,
)
from schema.sensitive import SensitiveClass
from sources import SYSTEMS, SourceError, Sources
from sources.records import Account, Case, Contact, Customer

from .seam import client_env

__all__ = ["create_floor", "floor_config"]

_MASKER = Masker(b"floor")


def floor_config(sandbox: str) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": 0},
        "auth": {
            "issuer": f"{sandbox}/idp",
            "audience": "switchboard",
            "jwks_url": f"{sandbox}/idp/.well-known/jwks.json",
        },
        "sources": {name: {"base_url": f"{sandbox}/{name}"} for name in SYSTEMS},
    }


def _money(value: Decimal) -> str:
    return str(value)


def _enum_name(kind: Any, value: object) -> str:
    name: str = kind(value).name
    return name


def _group(records: Iterable[Any], key: str) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for record in records:
        groups.setdefault(getattr(record, key), []).append(record)
    return groups


class Floor:
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    async def screenpop(self, principal: Principal, variables: dict[str, Any]) -> Any:
        phone = str(variables["phone"])
        crm, core, ccaas = self.sources.crm, self.sources.core, self.sources.ccaas
        customers = await crm.search_customers(phone=phone)
        parties = [c.core_party_id for c in customers if c.core_party_id]
        profiles = [c.ccaas_profile_id for c in customers if c.ccaas_profile_id]
        ids = [c.id for c in customers]
        (accounts, cards, events, risks, kyc), (contacts, cases) = await asyncio.gather(
            asyncio.gather(
                core.accounts(parties),
                core.cards(parties),
                core.events(parties, JOURNEY_WINDOW),
                core.risk(parties),
                core.parties(parties),  # the journey's DATA_MISMATCH items
            ),
            asyncio.gather(ccaas.contacts_of(profiles, JOURNEY_WINDOW), crm.cases(ids)),
        )
        contacts_by = {
            p: sorted(group, key=lambda c: c.started_at, reverse=True)
            for p, group in _group(contacts, "profile_id").items()
        }
        intents: list[str] = []
        for profile in profiles:
            for intent in recent_intents(contacts_by.get(profile, [])):
                if intent not in intents:
                    intents.append(intent)
        transactions, articles = await asyncio.gather(
            core.transactions([a.id for a in accounts], 5),
            self.sources.knowledge.by_intent(intents, 3),
        )
        accounts_by, cards_by = _group(accounts, "party_id"), _group(cards, "party_id")
        events_by, cases_by = _group(events, "party_id"), _group(cases, "customer_id")
        risk_by = {r.party_id: r for r in risks}
        kyc_by = {p.id: p for p in kyc}
        tx_by = _group(transactions, "account_id")
        now = datetime.now(UTC)
        out = []
        for c in customers:
            party, profile = c.core_party_id or "", c.ccaas_profile_id or ""
            mine = contacts_by.get(profile, [])
            drift = [(d.field, d.since) for d in compare(c, kyc_by.get(party))]
            journey = assemble(
                mine,
                cases_by.get(c.id, []),
                events_by.get(party, []),
                risk_by.get(party),
                now,
                drift,
            )
            suggested: dict[str, Any] = {}
            for intent in recent_intents(mine):
                for article in articles.get(intent, [])[:3]:
                    suggested.setdefault(article.id, article)
            risk = risk_by.get(party)
            out.append(
                {
                    "id": c.id,
                    "fullName": f"{c.first_name} {c.last_name}",
                    "segment": _enum_name(Segment, c.segment),
                    "accounts": [
                        {
                            "id": a.id,
                            "type": _enum_name(AccountType, a.type),
                            "balance": _money(a.balance),
                            "transactions": [
                                {
                                    "postedAt": t.posted_at.isoformat(),
                                    "amount": _money(t.amount),
                                    "description": t.description,
                                }
                                for t in sorted(
                                    tx_by.get(a.id, []), key=lambda t: t.posted_at, reverse=True
                                )[:5]
                            ],
                        }
                        for a in accounts_by.get(party, [])
                    ],
                    "cards": [
                        {
                            "pan": _MASKER.apply("last4", SensitiveClass.PCI_PAN, k.pan),
                            "brand": _enum_name(CardBrand, k.brand),
                            "status": _enum_name(CardStatus, k.status),
                        }
                        for k in cards_by.get(party, [])
                    ],
                    "interactions": [
                        {
                            "channel": _enum_name(Channel, k.channel),
                            "startedAt": k.started_at.isoformat(),
                            "intent": k.intent,
                            "verified": k.verified,
                        }
                        for k in mine[:10]
                    ],
                    "cases": [
                        {"number": k.number, "subject": k.subject}
                        for k in sorted(
                            cases_by.get(c.id, []), key=lambda k: k.opened_at, reverse=True
                        )
                        if k.is_open
                    ],
                    "journey": {
                        "stage": _enum_name(JourneyStage, journey.stage),
                        "events": [
                            {"at": e.at.isoformat(), "kind": e.kind, "summary": e.summary}
                            for e in journey.events[:20]
                        ],
                    },
                    "suggestedArticles": [{"title": a.title} for a in list(suggested.values())[:3]],
                    "risk": None
                    if risk is None
                    else {
                        "needsSpecialist": risk.fraud_hold
                        or risk.days_past_due > 0
                        or risk.collections_status != "CURRENT",
                        "fraudHold": risk.fraud_hold,
                        "collectionsStatus": _enum_name(CollectionsStatus, risk.collections_status),
                    },
                }
            )
        return {"findCustomers": out}

    async def ivr(self, principal: Principal, variables: dict[str, Any], interaction: str) -> Any:
        """The bot flow: the live interaction is confirmed concurrently with the CRM read."""
        crm, core, ccaas = self.sources.crm, self.sources.core, self.sources.ccaas
        contacts, customers = await asyncio.gather(
            ccaas.contacts([interaction]), crm.customers("id", [str(variables["id"])])
        )
        contact: Contact | None = contacts[0] if contacts else None
        customer: Customer = customers[0]
        accounts = await core.accounts([customer.core_party_id or ""])
        verification = Verification(contact, principal.subject, may_verify=principal.may_verify)
        shown = (
            verification.active
            and contact is not None
            and contact.profile_id == customer.ccaas_profile_id
        )
        return {
            "customer": {
                "firstName": customer.first_name,
                "segment": _enum_name(Segment, customer.segment),
                "accounts": [
                    {
                        "type": _enum_name(AccountType, a.type),
                        "balance": _money(a.balance) if shown else None,
                    }
                    for a in accounts
                ],
            }
        }

    async def supervisor(self, principal: Principal, variables: dict[str, Any]) -> Any:
        ids = [str(i) for i in variables["ids"]]
        crm, core = self.sources.crm, self.sources.core
        customers = {c.id: c for c in await crm.customers("id", ids)}
        parties = [c.core_party_id for c in customers.values() if c.core_party_id]
        accounts, cases = await asyncio.gather(core.accounts(parties), crm.cases(list(customers)))
        accounts_by: dict[str, list[Account]] = _group(accounts, "party_id")
        cases_by: dict[str, list[Case]] = _group(cases, "customer_id")
        out: list[Any] = []
        for i in ids:
            c = customers.get(i)
            if c is None:
                out.append(None)
                continue
            out.append(
                {
                    "id": c.id,
                    "fullName": f"{c.first_name} {c.last_name}",
                    "segment": _enum_name(Segment, c.segment),
                    "accounts": [
                        {
                            "id": a.id,
                            "type": _enum_name(AccountType, a.type),
                            "productName": a.product_name,
                            "status": _enum_name(AccountStatus, a.status),
                            "balance": _money(a.balance),
                        }
                        for a in accounts_by.get(c.core_party_id or "", [])
                    ],
                    "cases": [
                        {
                            "number": k.number,
                            "subject": k.subject,
                            "status": _enum_name(CaseStatus, k.status),
                            "priority": _enum_name(CasePriority, k.priority),
                        }
                        for k in sorted(
                            cases_by.get(c.id, []), key=lambda k: k.opened_at, reverse=True
                        )
                    ],
                }
            )
        return {"customers": out}


def create_floor(config: dict[str, Any]) -> Starlette:
    # the HTTP client the bench measures (`--clients`, bench/seam.py client_env): the floor's
    # figures are per client as the gateway's; nothing else of the environment
    clients = {name: os.environ[name] for name in client_env("") if name in os.environ}
    built = build_config(config, env=clients)
    sources = Sources.open(built.sources)
    authenticator = Authenticator(built.auth)
    floor = Floor(sources)

    async def graphql(request: Request) -> Response:
        try:
            principal = await authenticator.authenticate(request.headers.get("authorization"))
        except InvalidToken:
            return Response(b'{"errors":[{"message":"invalid token"}]}', status_code=401)
        body = orjson.loads(await request.body())
        operation, variables = body.get("operationName"), body.get("variables") or {}
        try:
            if operation == "ScreenPop":
                data = await floor.screenpop(principal, variables)
            elif operation == "Ivr":
                interaction = request.headers.get("x-interaction-id", "")
                data = await floor.ivr(principal, variables, interaction)
            elif operation == "Supervisor":
                data = await floor.supervisor(principal, variables)
            else:
                return Response(b'{"errors":[{"message":"unknown operation"}]}', status_code=400)
        except SourceError as exc:  # a failed system: an error, as the gateway would answer
            error = {"message": exc.message, "extensions": {"code": exc.code}}
            return Response(orjson.dumps({"data": None, "errors": [error]}))
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b"{}", status_code=200 if authenticator.ready else 503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await authenticator.start()
        try:
            yield
        finally:
            await authenticator.close()
            await sources.aclose()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            Route("/ready", ready, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sandbox", required=True, help="the sandbox's base URL")
    args = parser.parse_args()
    app = create_floor(floor_config(args.sandbox))
    tune_gc()  # as `switchboard serve` does: the same runtime, so the comparison stays fair
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
