"""Vendor payloads -> canonical CloudEvents 1.0 (structured JSON), per system.

The envelope and `data` carry ids and states only, never names, numbers or balances: a
subscriber reads the customer through the graph, under its own principal, masking and audit
included (EVENTS-RESEARCH.md R-a, "thin payloads"). The canonical types are the ones DOMAIN.md
lists; the vendor shapes are the ones EVENTS-CONTRACT.md pins:

- ccaas: Amazon Connect contact events in their EventBridge envelope;
- crm: a Salesforce change event on Case;
- core: a payment posted or a fraud alert raised.

The gateway's own write-backs publish `interaction.dispositioned`, `case.created`,
`case.updated` and `write.settled` (source `switchboard/writes`, gateway/writes/settled.py).

`map_payload` answers a tuple of events: empty for a type the gateway does not (yet) use, which
the caller counts and acknowledges (vendors add types; refusing them would only make the vendor
retry). A payload that is not the vendor's shape raises MappingError (answered 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

import orjson

__all__ = ["SYSTEMS", "CloudEvent", "MappingError", "map_payload"]

SYSTEMS: Final = ("ccaas", "crm", "core")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}")
"""What an id may look like: bounded, no spaces, no markup: it goes into logs and frames."""


class MappingError(ValueError):
    """The payload is not the shape its system sends; the message names the field, never the
    value."""


@dataclass(frozen=True, slots=True)
class CloudEvent:
    id: str
    source: str
    type: str
    time: str
    subject: str
    data: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    specversion: str = "1.0"
    datacontenttype: str = "application/json"

    def as_dict(self) -> dict[str, Any]:
        return {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "subject": self.subject,
            "datacontenttype": self.datacontenttype,
            "data": dict(self.data),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.as_dict())


def map_payload(system: str, payload: Any) -> tuple[CloudEvent, ...]:
    if not isinstance(payload, dict):
        raise MappingError("the body must be a JSON object")
    return _MAPPERS[system](payload)


def _event(system: str, id: str, type: str, time: str, subject: str, **data: str) -> CloudEvent:
    return CloudEvent(
        id=id,
        source=f"switchboard/{system}",
        type=type,
        time=time,
        subject=subject,
        data=MappingProxyType(data),
    )


def _get(table: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise MappingError(f"{where}.{key} is missing")
    return table[key]


def _table(table: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = _get(table, key, where)
    if not isinstance(value, dict):
        raise MappingError(f"{where}.{key} must be an object")
    return value


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = _get(table, key, where)
    if not isinstance(value, str) or not value:
        raise MappingError(f"{where}.{key} must be a non-empty string")
    return value


def _id(table: Mapping[str, Any], key: str, where: str) -> str:
    value = _text(table, key, where)
    if not _ID.fullmatch(value):
        raise MappingError(f"{where}.{key} is not an id")
    return value


def _iso(text: str, where: str) -> str:
    """An ISO 8601 time with an offset, normalised to UTC with a Z."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{where} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise MappingError(f"{where} has no time zone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- ccaas: Amazon Connect contact events (EventBridge) ------------------------------------------

_CONNECT: Final = {
    "INITIATED": "interaction.offered",
    "CONNECTED_TO_AGENT": "interaction.connected",
    "DISCONNECTED": "interaction.ended",
    "COMPLETED": "interaction.completed",
}
_IDV: Final = frozenset({"PASSED", "FAILED", "NOT_ATTEMPTED"})


def _ccaas(payload: Mapping[str, Any]) -> tuple[CloudEvent, ...]:
    if _text(payload, "detail-type", "") != "Amazon Connect Contact Event":
        return ()  # another EventBridge event on the same bus
    event_id = _id(payload, "id", "")
    time = _iso(_text(payload, "time", ""), "time")
    detail = _table(payload, "detail", "")
    kind = _text(detail, "eventType", "detail")
    contact = _id(detail, "contactId", "detail")
    data: dict[str, str] = {"interactionId": contact}
    agent_info = detail.get("agentInfo")
    if agent_info is not None:
        if not isinstance(agent_info, dict):
            raise MappingError("detail.agentInfo must be an object")
        arn = _text(agent_info, "agentArn", "detail.agentInfo")
        _, marker, agent = arn.rpartition("/agent/")
        if not marker or not _ID.fullmatch(agent):
            raise MappingError("detail.agentInfo.agentArn is not an agent ARN")
        data["agentId"] = agent
    if kind in _CONNECT:
        return (_event("ccaas", event_id, _CONNECT[kind], time, contact, **data),)
    if kind != "CONTACT_DATA_UPDATED":
        return ()  # Connect has more types (QUEUED, TRANSFERRED...): not used yet
    contact_data = detail.get("contactData")
    attributes = contact_data.get("attributes") if isinstance(contact_data, dict) else None
    if not isinstance(attributes, dict) or "idv" not in attributes:
        return ()  # an update of something other than the ID&V result
    idv = attributes["idv"]
    if idv not in _IDV:
        raise MappingError("detail.contactData.attributes.idv is not an ID&V result")
    if idv != "PASSED":
        return ()  # accepted and counted; only a pass is a canonical event
    data["idv"] = idv
    return (_event("ccaas", event_id, "customer.verified", time, contact, **data),)


# -- crm: Salesforce change events on Case -----------------------------------------------------

_CHANGES: Final = {"CREATE": "case.created", "UPDATE": "case.updated"}


def _crm(payload: Mapping[str, Any]) -> tuple[CloudEvent, ...]:
    body = _table(payload, "payload", "")
    header = _table(body, "ChangeEventHeader", "payload")
    where = "payload.ChangeEventHeader"
    entity = _text(header, "entityName", where)
    change = _text(header, "changeType", where)
    key = _id(header, "transactionKey", where)
    millis = _get(header, "commitTimestamp", where)
    if not isinstance(millis, int) or isinstance(millis, bool) or not 0 < millis < 10**14:
        raise MappingError(f"{where}.commitTimestamp must be milliseconds since the epoch")
    records = _get(header, "recordIds", where)
    if not isinstance(records, list) or not records or len(records) > 200:
        raise MappingError(f"{where}.recordIds must be a list of ids")
    cases = [_id({"recordIds": r}, "recordIds", where) for r in records]
    if entity != "Case" or change not in _CHANGES:
        return ()  # other objects, deletes, gap events: not used yet
    customer = body.get("ContactId")
    data: dict[str, str] = {}
    if customer is not None:
        data["customerId"] = _id(body, "ContactId", "payload")
    time = datetime.fromtimestamp(millis / 1000, UTC).isoformat().replace("+00:00", "Z")
    # one transaction may change several cases: one event each, with an id stable per case
    return tuple(
        _event("crm", f"{key}:{case}", _CHANGES[change], time, case, caseId=case, **data)
        for case in cases
    )


# -- core: payments and fraud alerts -----------------------------------------------------------

_CORE: Final = {"PAYMENT_POSTED": "payment.posted", "FRAUD_ALERT": "fraud.alert_raised"}


def _core(payload: Mapping[str, Any]) -> tuple[CloudEvent, ...]:
    event_id = _id(payload, "eventId", "")
    kind = _text(payload, "eventType", "")
    time = _iso(_text(payload, "occurredAt", ""), "occurredAt")
    party = _id(payload, "partyId", "")
    reference = _id(payload, "referenceId", "")
    if kind not in _CORE:
        return ()
    return (
        _event("core", event_id, _CORE[kind], time, party, partyId=party, referenceId=reference),
    )


_MAPPERS: Final[Mapping[str, Callable[[Mapping[str, Any]], tuple[CloudEvent, ...]]]] = (
    MappingProxyType({"ccaas": _ccaas, "crm": _crm, "core": _core})
)
