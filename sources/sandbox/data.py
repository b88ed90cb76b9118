"""One sandbox's data: the eager population, lazily generated parts cached once, and live state.

Caches are plain dicts: the population is finite and a record regenerated per request would put
the sandbox's CPU into the gateway's benchmark numbers. Only transactions, the bulkiest part,
are bounded.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import orjson

from .activity import Activity
from .drift import party
from .generate import Generator
from .population import Population
from .records import Banking, Case, Clock, Contact, Customer, Joined, dumps
from .vocabulary import INTENT_BY_NAME, Intent

_LEDGER_CACHE = 12_000  # accounts (~3 KiB each): about half the default population's


class Dataset:
    def __init__(
        self, seed: int, customers: int, anchor: datetime, *, canary: bool = False
    ) -> None:
        self.population = Population(seed, customers, canary=canary)
        self.clock = Clock(anchor)
        self.generator = Generator(self.population, self.clock)
        self.activity = Activity(self.generator)
        # Answers are ordered by a seeded rank, never by the request: clients must not rely on it.
        self.rank = [0] * customers
        for position, index in enumerate(self.population.sample_order):
            self.rank[index] = (position * 7919 + seed) % customers
        self._customers: dict[int, Customer] = {}
        self._parties: dict[int, bytes] = {}
        self._banking: dict[int, Banking] = {}
        self._ledgers: OrderedDict[tuple[int, int], Joined] = OrderedDict()
        self._events: dict[int, Joined] = {}
        self._contacts: dict[int, tuple[Contact, ...]] = {}
        self._contacts_joined: dict[int, Joined] = {}
        self._cases: dict[int, tuple[Case, ...]] = {}
        self._live: dict[int, list[Contact]] = {}  # newest first
        self._live_by_id: dict[str, tuple[int, Contact]] = {}
        self._unknown: dict[str, Contact] = {}
        """Live contacts of callers the CCaaS system has no profile for (by contact id)."""

    def customer(self, index: int) -> Customer:
        found = self._customers.get(index)
        if found is None:
            found = self._customers[index] = self.generator.customer(index)
        return found

    def party(self, index: int) -> bytes:
        """The core's copy of the customer's identity (drift.py), as its JSON."""
        found = self._parties.get(index)
        if found is None:
            found = self._parties[index] = party(index, self.customer(index).body, self.clock)
        return found

    def banking(self, index: int) -> Banking:
        found = self._banking.get(index)
        if found is None:
            found = self._banking[index] = self.generator.banking(index)
        return found

    def ledger(self, index: int, ordinal: int) -> Joined:
        key = (index, ordinal)
        found = self._ledgers.get(key)
        if found is None:
            account = self.banking(index).accounts[ordinal]
            found = self._ledgers[key] = self.generator.ledger(index, ordinal, account)
            if len(self._ledgers) > _LEDGER_CACHE:
                self._ledgers.popitem(last=False)
        return found

    def events(self, index: int) -> Joined:
        found = self._events.get(index)
        if found is None:
            found = self._events[index] = self.activity.events(index, self.banking(index))
        return found

    def generated_contacts(self, index: int) -> tuple[Contact, ...]:
        found = self._contacts.get(index)
        if found is None:
            found = self._contacts[index] = self.activity.contacts(index, self.banking(index))
        return found

    def contacts_joined(self, index: int) -> Joined:
        found = self._contacts_joined.get(index)
        if found is None:
            bodies = [contact.body for contact in self.generated_contacts(index)]
            found = self._contacts_joined[index] = Joined.of(bodies)
        return found

    def newest_contacts(self, index: int, k: int) -> list[bytes]:
        live = [contact.body for contact in self._live.get(index, ())[:k]]
        return [*live, self.contacts_joined(index).newest(k - len(live))]

    def contact_by_id(self, contact_id: str) -> tuple[int | None, Contact] | None:
        """(the owner's index, or None: an unknown caller's), the contact."""
        live = self._live_by_id.get(contact_id)
        if live is not None:
            return live
        unknown = self._unknown.get(contact_id)
        if unknown is not None:
            return None, unknown
        owner = self.activity.owner_of(contact_id)
        if owner is None:
            return None
        for contact in self.generated_contacts(owner[0]):
            if contact.contact_id == contact_id:
                return owner[0], contact
        return None

    def cases(self, index: int) -> tuple[Case, ...]:
        found = self._cases.get(index)
        if found is None:
            found = self._cases[index] = self.activity.cases(index)
        return found

    def start_contact(
        self,
        index: int,
        agent_id: str | None,
        idv: str,
        channel: str,
        intent: str | None,
        *,
        state: str = "CONNECTED",
    ) -> str:
        """A live contact that becomes the profile's newest: CONNECTED for the screen-pop case,
        QUEUED for a simulated call still ringing at its agent (calls.py)."""
        who = self.population.customers[index]
        newest = [c.time for c in self._live.get(index, ())] + [
            c.time for c in self.generated_contacts(index)[:1]
        ]
        moment = datetime.now(UTC).replace(microsecond=0)
        if newest:
            latest = datetime.strptime(max(newest), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            moment = max(moment, latest + timedelta(seconds=1))
        started = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        chosen = INTENT_BY_NAME[intent] if intent else self._likely_intent(index)
        contact_id = str(uuid.uuid4())
        body = _live_body(
            contact_id,
            who.profile_id,
            who.phones[0][1],
            started,
            state,
            chosen,
            agent_id,
            channel,
            idv,
        )
        contact = Contact(contact_id, started, body)
        self._live.setdefault(index, []).insert(0, contact)
        self._live_by_id[contact_id] = (index, contact)
        return contact_id

    def start_unknown_contact(
        self, phone: str, agent_id: str, idv: str, channel: str, intent: str | None, *, state: str
    ) -> str:
        """A live contact from a caller the CCaaS system has no profile for: no `ProfileId`,
        the number they call from as the ANI (as given: E.164 or national)."""
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        chosen = INTENT_BY_NAME[intent or "balance_inquiry"]
        contact_id = str(uuid.uuid4())
        body = _live_body(contact_id, None, phone, started, state, chosen, agent_id, channel, idv)
        self._unknown[contact_id] = Contact(contact_id, started, body)
        return contact_id

    def update_live_contact(self, contact_id: str, changes: dict[str, object]) -> bool:
        """Replace a live contact with one whose body has `changes` applied (records are
        frozen and may be in a reader's hands: replaced, never mutated). False if unknown."""
        unknown = self._unknown.get(contact_id)
        if unknown is not None:
            body = dumps({**orjson.loads(unknown.body), **changes})
            self._unknown[contact_id] = Contact(contact_id, unknown.time, body)
            return True
        found = self._live_by_id.get(contact_id)
        if found is None:
            return False
        index, old = found
        new = Contact(contact_id, old.time, dumps({**orjson.loads(old.body), **changes}))
        live = self._live[index]
        live[live.index(old)] = new
        self._live_by_id[contact_id] = (index, new)
        return True

    def _likely_intent(self, index: int) -> Intent:
        """Callers with a fraud hold call about it; others most often call back about the last
        thing they called about, which is what repeat-contact detection looks for."""
        if self.banking(index).fraud_hold:
            return INTENT_BY_NAME["fraud_report"]
        previous = self.generated_contacts(index)
        if previous:
            return INTENT_BY_NAME[str(orjson.loads(previous[0].body)["Intent"])]
        return INTENT_BY_NAME["balance_inquiry"]


def _live_body(
    contact_id: str,
    profile_id: str | None,
    address: str,
    started: str,
    state: str,
    chosen: Intent,
    agent_id: str | None,
    channel: str,
    idv: str,
) -> bytes:
    """A live contact as the CCaaS API answers it (a known caller's profile, or None)."""
    return dumps(
        {
            "Id": contact_id,
            "ProfileId": profile_id,
            "Channel": channel,
            "InitiationMethod": "INBOUND",
            "InitiationTimestamp": started,
            "DisconnectTimestamp": None,
            "State": state,
            "QueueName": chosen.queue,
            "AgentId": agent_id,
            "Intent": chosen.name,
            "Summary": f"Live contact about {chosen.topic}.",
            "Disposition": None,
            "IdvResult": idv,
            "CustomerEndpoint": {"Address": address},
            "PreviousContactId": None,
        }
    )
