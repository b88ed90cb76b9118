"""`/_sandbox`: counters, fault switches, raw samples and live contacts for tests and benchmarks.

Never part of the systems being imitated: it is not counted, delayed or faulted itself.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from .. import SYSTEMS as SYSTEMS_OF_RECORD
from .data import Dataset
from .http import BadRequest, Handler, Request, Response, ok
from .vocabulary import INTENT_BY_NAME

DATA_SYSTEMS = SYSTEMS_OF_RECORD
SYSTEMS = (*DATA_SYSTEMS, "idp")
MODES = ("ok", "error", "timeout", "garbage", "down")
_IDV = ("PASSED", "FAILED", "NOT_ATTEMPTED")
_CHANNELS = ("VOICE", "CHAT", "IVR", "BOT")
_PHONE = re.compile(r"\+?[0-9 ().-]{7,24}")


@dataclass(slots=True)
class Fault:
    """One system's switches; mutable on purpose, set at run time through POST /_sandbox/faults."""

    mode: str = "ok"
    latency_ms: float = 0.0
    error_rate: float = 0.0


@dataclass(slots=True)
class Counter:
    requests: int = 0
    by_route: dict[str, int] = field(default_factory=dict)
    traceparents: list[str] = field(default_factory=list)
    """The W3C trace context of the latest calls that carried one (the newest 100): tests
    check the gateway propagates it."""

    def count(self, route: str, traceparent: str | None = None) -> None:
        # One event loop serves every request, so plain ints cannot lose an increment.
        self.requests += 1
        self.by_route[route] = self.by_route.get(route, 0) + 1
        if traceparent is not None:
            self.traceparents = [*self.traceparents[-99:], traceparent]


def json_object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def caller_of(data: Dataset, body: dict[str, Any]) -> int | str:
    """Who a live contact's caller is: a customer the CCaaS system knows (`customerId`: their
    index), or a phone it has no profile for (`phone`: the contact's ANI, as given)."""
    if "phone" in body:
        if "customerId" in body:
            raise BadRequest("give customerId or phone, not both")
        phone = body["phone"]
        if (
            not isinstance(phone, str)
            or not _PHONE.fullmatch(phone)
            or sum(c.isdigit() for c in phone) < 7
        ):
            raise BadRequest("phone must be a phone number, E.164 or national: +12025550123")
        return phone
    index = data.population.by_crm_id.get(str(body.get("customerId")))
    if index is None:
        raise BadRequest("customerId must be a known CRM customer id (or give phone)")
    return index


class Control:
    def __init__(
        self, data: Dataset, faults: dict[str, Fault], counters: dict[str, Counter]
    ) -> None:
        self.data = data
        self.faults = faults
        self.counters = counters

    def routes(self) -> dict[str, Handler]:
        return {
            "GET /stats": self.stats,
            "POST /reset": self.reset,
            "GET /faults": self.show_faults,
            "POST /faults": self.set_fault,
            "GET /sample": self.sample,
            "GET /households": self.households,
            "POST /contacts": self.start_contact,
        }

    def stats(self, request: Request) -> Response:
        return ok(orjson.dumps({name: asdict(counter) for name, counter in self.counters.items()}))

    def reset(self, request: Request) -> Response:
        for name in self.counters:
            self.counters[name] = Counter()
        return self.stats(request)

    def show_faults(self, request: Request) -> Response:
        return ok(orjson.dumps({name: asdict(fault) for name, fault in self.faults.items()}))

    def set_fault(self, request: Request) -> Response:
        body = json_object(request)
        system = body.get("system")
        if system not in self.faults:
            raise BadRequest(f"system must be one of: {', '.join(self.faults)}")
        fault = self.faults[system]
        mode = body.get("mode", fault.mode)
        if mode not in MODES:
            raise BadRequest(f"mode must be one of: {', '.join(MODES)}")
        latency = body.get("latency_ms", fault.latency_ms)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise BadRequest("latency_ms must be a number >= 0")
        rate = body.get("error_rate", fault.error_rate)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise BadRequest("error_rate must be a number between 0 and 1")
        fault.mode, fault.latency_ms, fault.error_rate = mode, float(latency), float(rate)
        return self.show_faults(request)

    def sample(self, request: Request) -> Response:
        """Raw values straight from the records, for tests proving masked values never leak."""
        n = request.integer("n", 10, 1, 1000)
        population = self.data.population
        customers: list[dict[str, Any]] = []
        for index in population.sample_order:
            if len(customers) == n:
                break
            # Customers who have never called make dull fixtures: a screen-pop test on
            # sample[0] should reach every system, knowledge articles by intent included.
            if not self.data.generated_contacts(index):
                continue
            who = population.customers[index]
            customer = self.data.customer(index)
            banking = self.data.banking(index)
            customers.append(
                {
                    "id": who.crm_id,
                    "phones": [number for _, number in who.phones],
                    "emails": list(who.emails),
                    "accountNumbers": list(who.account_numbers),
                    "ssn": customer.ssn,
                    "dateOfBirth": customer.birthdate,
                    "cards": [{"id": card.card_id, "pan": card.pan} for card in banking.cards],
                    "balances": [account.current for account in banking.accounts],
                }
            )
        return ok(orjson.dumps({"customers": customers}))

    def households(self, request: Request) -> Response:
        """Phones shared by a household (2-3 customers): a call from one finds them all."""
        n = request.integer("n", 10, 1, 1000)
        shared = [
            {"phone": phone, "customers": [self.data.population.customers[i].crm_id for i in who]}
            for phone, who in self.data.population.by_phone.items()
            if len(who) > 1
        ]
        return ok(orjson.dumps({"households": shared[:n]}))

    def start_contact(self, request: Request) -> Response:
        body = json_object(request)
        caller = caller_of(self.data, body)
        agent = body.get("agentId")
        if not isinstance(agent, str) or not agent:
            raise BadRequest("agentId is required")
        idv = body.get("idv", "NOT_ATTEMPTED")
        if idv not in _IDV:
            raise BadRequest(f"idv must be one of: {', '.join(_IDV)}")
        channel = body.get("channel", "VOICE")
        if channel not in _CHANNELS:
            raise BadRequest(f"channel must be one of: {', '.join(_CHANNELS)}")
        intent = body.get("intent")
        if intent is not None and intent not in INTENT_BY_NAME:
            raise BadRequest("intent must be a known intent")
        if isinstance(caller, str):
            contact_id = self.data.start_unknown_contact(
                caller, agent, idv, channel, intent, state="CONNECTED"
            )
        else:
            contact_id = self.data.start_contact(caller, agent, idv, channel, intent)
        return ok(orjson.dumps({"id": contact_id}))
