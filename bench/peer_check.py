"""What the peer (GraphQL Mesh + Hive Gateway) is asked, and how its answers are checked.

Mesh serves the schema it derives from the sandbox's four OpenAPI documents (bench/peer/
mesh.config.ts), so it cannot run the project's query texts: `MESH` holds the nearest query its
schema allows for each workload it can answer (supervisor lists and the screen-pop; not the IVR,
whose bot flow is Switchboard's own, nor 1,000 ids, which Mesh sends to the CRM in one call the
CRM refuses). `normalise` turns a Switchboard answer and a Mesh answer into one model, and
`expected` builds that model straight from the sandbox's REST endpoints: every process's answer
is compared with it before any load (`same_data_as_rest` in the JSON).

The screen-pop model holds only what both can answer: Mesh has no journey (merge and stage), no
suggested articles, no masking (it returns the full PAN: the model keeps the last 4 digits) and
no derived fields (the model derives `verified` and signed amounts from the raw ones).
docs/performance.md ("Performance III") lists the differences.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from .results import Figures

__all__ = [
    "MESH",
    "PEER_SCENARIOS",
    "checked",
    "diff",
    "expected",
    "kind_of",
    "mesh_payload",
    "normalise",
]

PEER_SCENARIOS = ("supervisor-10", "supervisor-100", "screenpop")
"""The workloads the peer runs (the issue's three)."""

MESH: dict[str, str] = {
    # fullName -> FirstName LastName, segment -> Segment__c, the CRM envelope `records`,
    # balance -> Balance { Current }; enums in the systems' spelling (Enabled, Escalated)
    "supervisor": """query Supervisor($ids: [String]) { customers(id: $ids) { records {
  Id FirstName LastName Segment__c
  accounts { AccountId AccountType ProductName Status Balance { Current } }
  cases { CaseNumber Subject Status Priority }
} } }""",
    # no journey (the raw core events stand in, so the call is made), no suggested articles,
    # no needsSpecialist, full PANs, unsigned amounts plus CreditDebitIndicator
    "screenpop": """query ScreenPop($phone: queryInput_customers_search_phone) {
  customers_search(phone: $phone) { records {
  Id FirstName LastName Segment__c
  accounts { AccountId AccountType Balance { Current }
    transactions { BookingDateTime Amount { Amount } CreditDebitIndicator TransactionInformation } }
  cards { Pan Brand Status } interactions { Channel InitiationTimestamp Intent IdvResult }
  openCases { CaseNumber Subject } coreEvents { Time Type Summary }
  risk { FraudHold CollectionsStatus DaysPastDue }
} } }""",
}

Model = dict[str, dict[str, Any]]
"""Customer id -> what both gateways answer about it, normalised."""


def kind_of(scenario: str) -> str:
    return "supervisor" if scenario.startswith("supervisor-") else scenario


def mesh_payload(scenario: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The peer's request for a workload, with the variables the project's request has."""
    kind = kind_of(scenario)
    operation = {"supervisor": "Supervisor", "screenpop": "ScreenPop"}[kind]
    return {"query": MESH[kind], "operationName": operation, "variables": variables}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _signed(t: dict[str, Any]) -> Decimal:
    value = Decimal(t["Amount"]["Amount"])
    return value if t["CreditDebitIndicator"] == "Credit" else -value


def _account(a: dict[str, Any]) -> tuple[str, ...]:
    return (
        a["AccountId"],
        a["AccountType"],
        a["ProductName"],
        a["Status"].upper(),
        a["Balance"]["Current"],
    )


def _case(k: dict[str, Any]) -> tuple[str, ...]:
    return (k["CaseNumber"], k["Subject"], k["Status"].upper(), k["Priority"].upper())


def _transaction(t: dict[str, Any]) -> tuple[Any, ...]:
    return (_ts(t["BookingDateTime"]), _signed(t), t["TransactionInformation"])


def _mesh_customer(c: dict[str, Any], kind: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """A customer in the systems' own spelling (REST rows or Mesh's fields: the same names)."""
    out: dict[str, Any] = {
        "fullName": f"{c['FirstName']} {c['LastName']}",
        "segment": c["Segment__c"],
    }
    if kind == "supervisor":
        out["accounts"] = sorted(_account(a) for a in c["accounts"])
        out["cases"] = sorted(_case(k) for k in cases)
        return out
    out["accounts"] = sorted(
        (
            a["AccountId"],
            a["AccountType"],
            Decimal(a["Balance"]["Current"]),
            tuple(_transaction(t) for t in a["transactions"]),
        )
        for a in c["accounts"]
    )
    out["cards"] = sorted((k["Pan"][-4:], k["Brand"], k["Status"].upper()) for k in c["cards"])
    out["interactions"] = [
        (k["Channel"], _ts(k["InitiationTimestamp"]), k["Intent"], k["IdvResult"] == "PASSED")
        for k in c["interactions"]
    ]
    out["openCases"] = sorted((k["CaseNumber"], k["Subject"]) for k in cases)
    risk = c["risk"]
    out["risk"] = None if not risk else (risk["FraudHold"], risk["CollectionsStatus"])
    return out


def _switchboard_customer(c: dict[str, Any], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"fullName": c["fullName"], "segment": c["segment"]}
    if kind == "supervisor":
        out["accounts"] = sorted(
            (a["id"], a["type"], a["productName"], a["status"].upper(), a["balance"])
            for a in c["accounts"]
        )
        out["cases"] = sorted(
            (k["number"], k["subject"], k["status"].upper(), k["priority"].upper())
            for k in c["cases"]
        )
        return out
    out["accounts"] = sorted(
        (
            a["id"],
            a["type"],
            Decimal(a["balance"]),
            tuple(
                (_ts(t["postedAt"]), Decimal(t["amount"]), t["description"])
                for t in a["transactions"]
            ),
        )
        for a in c["accounts"]
    )
    out["cards"] = sorted((k["pan"][-4:], k["brand"], k["status"]) for k in c["cards"])
    out["interactions"] = [
        (k["channel"], _ts(k["startedAt"]), k["intent"], k["verified"]) for k in c["interactions"]
    ]
    out["openCases"] = sorted((k["number"], k["subject"]) for k in c["cases"])
    risk = c["risk"]
    out["risk"] = None if not risk else (risk["fraudHold"], risk["collectionsStatus"])
    return out


def normalise(scenario: str, peer: bool, data: Any) -> Model:
    """An answer's `data` (the peer's if `peer`, else Switchboard's: the gateway or the floor)
    as the comparable model. Raises KeyError/TypeError when the answer lacks the shape."""
    kind = kind_of(scenario)
    if peer:
        root = data["customers" if kind == "supervisor" else "customers_search"]["records"]
        field = "cases" if kind == "supervisor" else "openCases"
        return {c["Id"]: _mesh_customer(c, kind, c[field]) for c in root}
    root = data["customers" if kind == "supervisor" else "findCustomers"]
    return {c["id"]: _switchboard_customer(c, kind) for c in root if c is not None}


async def _rows(http: httpx.AsyncClient, path: str, *keys: str, **params: Any) -> Any:
    response = await http.get(path, params=params)
    response.raise_for_status()
    body: Any = response.json()
    for key in keys:
        body = body[key]
    return body


async def _chunked(
    http: httpx.AsyncClient,
    path: str,
    keys: tuple[str, ...],
    name: str,
    values: list[str],
    **params: Any,
) -> list[dict[str, Any]]:
    """A batched GET in chunks of 200 (the sandbox's limit)."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(values), 200):
        out += await _rows(http, path, *keys, **{name: values[i : i + 200]}, **params)
    return out


async def expected(sandbox: str, scenario: str, variables: dict[str, Any]) -> Model:
    """The model of a workload's answer, built from the sandbox's REST endpoints alone."""
    async with httpx.AsyncClient(base_url=sandbox, timeout=30) as http:
        if kind_of(scenario) == "supervisor":
            ids: list[str] = variables["ids"]
            customers = await _chunked(http, "/crm/customers", ("records",), "id", ids)
            parties = [c["CoreParty__c"] for c in customers]
            accounts = await _chunked(
                http, "/core/accounts", ("Data", "Account"), "partyId", parties
            )
            cases = await _chunked(http, "/crm/cases", ("records",), "customerId", ids)
            for c in customers:
                c["accounts"] = [a for a in accounts if a["PartyId"] == c["CoreParty__c"]]
            by_customer: dict[str, list[dict[str, Any]]] = {}
            for k in cases:
                by_customer.setdefault(k["ContactId"], []).append(k)
            return {
                c["Id"]: _mesh_customer(c, "supervisor", by_customer.get(c["Id"], []))
                for c in customers
            }
        found = await _rows(http, "/crm/customers/search", "records", phone=variables["phone"])
        model: Model = {}
        for c in found:
            party, profile = c["CoreParty__c"], c["CcaasProfile__c"]
            c["accounts"] = await _rows(http, "/core/accounts", "Data", "Account", partyId=party)
            account_ids = [a["AccountId"] for a in c["accounts"]]
            transactions = await _chunked(
                http,
                "/core/transactions",
                ("Data", "Transaction"),
                "accountId",
                account_ids,
                perAccount=5,
            )
            for a in c["accounts"]:
                a["transactions"] = [t for t in transactions if t["AccountId"] == a["AccountId"]]
            c["cards"] = await _rows(http, "/core/cards", "Data", "Card", partyId=party)
            risk = await _rows(http, "/core/risk", "Data", "Risk", partyId=party)
            c["risk"] = risk[0] if risk else None
            c["interactions"] = await _rows(
                http, "/ccaas/contacts", "Contacts", profileId=profile, perProfile=10
            )
            cases = await _rows(http, "/crm/cases", "records", customerId=c["Id"], status="open")
            model[c["Id"]] = _mesh_customer(c, "screenpop", cases)
        return model


def diff(want: Model, got: Model, limit: int = 5) -> list[str]:
    """The first customers whose models differ, each briefly."""
    out = []
    for key in sorted(set(want) | set(got)):
        if want.get(key) != got.get(key):
            out.append(f"{key}: expected {want.get(key)!r:.200} got {got.get(key)!r:.200}")
            if len(out) == limit:
                break
    return out


async def checked(
    sandbox: str, scenario: str, variables: dict[str, Any], measured: dict[str, Figures], peer: str
) -> dict[str, Figures]:
    """Every process's answer (`Figures.data`) normalised and compared with the model from the
    REST data (`same_data_as_rest`, `data_diff`); the peer's also with the floor's, normalised
    (`same_data_as_floor`: Switchboard's processes compare raw data in bench/harness.py)."""
    want = await expected(sandbox, scenario, variables)
    out: dict[str, Figures] = {}
    models: dict[str, Model | None] = {}
    for target, figures in measured.items():
        try:
            got: Model | None = normalise(scenario, target == peer, figures.data)
            differences = diff(want, got) if got is not None else []
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            got, differences = None, [f"not the expected shape: {exc!r:.200}"]
        models[target] = got
        out[target] = replace(
            figures, same_data_as_rest=not differences, data_diff=differences or None
        )
    if peer in out and "floor" in models:
        same = models[peer] is not None and models[peer] == models["floor"]
        out[peer] = replace(out[peer], same_data_as_floor=same)
    return out
