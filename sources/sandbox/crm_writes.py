"""`PATCH /crm/sobjects/{Object}/ExternalId__c/{id}`: Salesforce-flavoured upsert by external id
(docs/sandbox.md "Writes"), the reads that show what was written, and the write faults.

Upsert semantics as Salesforce documents them: no record with that external id -> create (201),
one -> update that record (200, never a second record), several -> 300 with their links. The
ledger lives in memory for the sandbox's life; records are replaced, never mutated, because a
reader may hold one.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from .control import json_object
from .data import Dataset
from .http import BadRequest, Request, Response, ok
from .records import Case, dumps

OBJECTS = ("Task", "CaseComment", "Case")
WRITE_MODES = ("ok", "error", "down", "timeout", "applied_then_timeout", "reject")
_PATH = re.compile(r"sobjects/(Task|CaseComment|Case)/ExternalId__c/([A-Za-z0-9_.-]{1,80})")
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # (required, optional)
    "Task": (("InteractionId__c", "CallDisposition", "OwnerId"), ("WhoId", "Who", "Description")),
    "CaseComment": (("ParentId", "CommentBody", "CreatedById"), ()),
    "Case": (("ContactId", "Subject", "Type", "Priority", "OwnerId"), ("Description",)),
}
WHO_KEY = "CcaasProfile__c"
"""The Contact field a Task's `Who` relationship names its customer by: the CCaaS profile id the
CRM keys customers by (an external-id field of Contact, the one `GET /crm/customers?ccaasId=`
searches)."""
_PRIORITIES = ("Low", "Medium", "High")
_TYPES = ("Billing", "Card", "Fraud", "Payments", "Account", "Complaint")
_PREFIX = {"Task": "00TSB", "CaseComment": "00aSB", "Case": "500SB"}
MAX_TEXT = 32_000  # Salesforce's long text area limit


@dataclass(slots=True)
class WriteFault:
    """Switches for PATCH writes only (reads keep the `crm` system's own fault); mutable on
    purpose, set through POST /_sandbox/faults/writes. `times`: the fault applies to that many
    writes, then `mode` falls back to ok (None: until changed)."""

    mode: str = "ok"
    latency_ms: float = 0.0
    times: int | None = None

    def take(self) -> str:
        """The mode this write gets (counting down `times`)."""
        mode = self.mode
        if mode != "ok" and self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.mode, self.times = "ok", None
        return mode

    def set(self, body: dict[str, Any]) -> None:
        mode = body.get("mode", self.mode)
        if mode not in WRITE_MODES:
            raise BadRequest(f"mode must be one of: {', '.join(WRITE_MODES)}")
        latency = body.get("latency_ms", self.latency_ms)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
            raise BadRequest("latency_ms must be a number >= 0")
        times = body.get("times")
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise BadRequest("times must be a whole number >= 1, or null")
        self.mode, self.latency_ms, self.times = mode, float(latency), times

    def show(self) -> bytes:
        return orjson.dumps(asdict(self))


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    """Salesforce's error answer: a JSON array of {message, errorCode, fields}."""
    return Response(
        status, orjson.dumps([{"message": message, "errorCode": code, "fields": fields or []}])
    )


class CrmWrites:
    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.records: dict[str, dict[str, Any]] = {}  # record id -> record (replaced on update)
        self.by_external: dict[tuple[str, str], list[str]] = {}
        self.created_cases: dict[int, list[str]] = {}  # customer index -> case ids, oldest first
        self.touched_cases: dict[str, str] = {}  # case id -> LastModifiedDate of a write
        self.comments: dict[str, list[str]] = {}  # case id -> comment ids
        self.tasks: dict[str, list[str]] = {}  # interaction id -> task ids
        self._serial = 0
        self.fault = WriteFault()

    # -- the write ---------------------------------------------------------------------------
    @staticmethod
    def parse_path(rest: str) -> tuple[str, str] | None:
        found = _PATH.fullmatch(rest)
        return None if found is None else (found.group(1), found.group(2))

    def upsert(self, obj: str, external_id: str, body: bytes) -> Response:
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError:
            return sf_error(400, "JSON_PARSER_ERROR", "body must be JSON")
        if not isinstance(fields, dict):
            return sf_error(400, "JSON_PARSER_ERROR", "body must be a JSON object")
        required, optional = _FIELDS[obj]
        unknown = sorted(set(fields) - set(required) - set(optional))
        if unknown:
            return sf_error(400, "INVALID_FIELD", f"No such column on {obj}", unknown)
        missing = [name for name in required if not fields.get(name)]
        if missing:
            return sf_error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing", missing)
        related = self._relate(fields)
        if isinstance(related, Response):
            return related
        fields = related
        wrong = [
            name
            for name, value in fields.items()
            if not (value is None or (isinstance(value, str) and len(value) <= MAX_TEXT))
        ]
        if wrong:
            return sf_error(400, "INVALID_FIELD", "Fields must be text", wrong)
        invalid = self._check(obj, fields)
        if invalid is not None:
            return invalid
        existing = self.by_external.get((obj, external_id), [])
        if len(existing) > 1:
            links = [f"/crm/sobjects/{obj}/{record_id}" for record_id in existing]
            return Response(300, orjson.dumps(links))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if existing:
            record_id = existing[0]
            before = self.records[record_id]
            self.records[record_id] = {**before, **fields, "LastModifiedDate": now}
            self._reindex(obj, record_id, before)
            created = False
        else:
            record_id = self._create(obj, external_id, fields, now)
            created = True
        if obj == "CaseComment":
            self.touched_cases[str(fields["ParentId"])] = now
        elif obj == "Case" and not created:
            self.touched_cases[record_id] = now
        answer = {"id": record_id, "success": True, "errors": [], "created": created}
        return Response(201 if created else 200, orjson.dumps(answer))

    def _relate(self, fields: dict[str, Any]) -> dict[str, Any] | Response:
        """A Task's `Who` by external id — `{"attributes": {"type": "Contact"},
        "CcaasProfile__c": "<profile id>"}`, Salesforce's relationship upsert — resolved here, when
        the write lands, to the `WhoId` it names: the record stores `WhoId` (as Salesforce does),
        so every read of Tasks sees one shape whichever way the write named the customer. No
        customer with that key is Salesforce's 400 INVALID_FIELD "Foreign key external ID: ... not
        found"; the CRM never guesses "no one" for a key it does not know."""
        if "Who" not in fields:
            return fields
        reference = fields["Who"]
        rest = {name: value for name, value in fields.items() if name != "Who"}
        if "WhoId" in rest:
            return sf_error(
                400,
                "INVALID_FIELD",
                "Cannot specify both an external ID reference Who and a salesforce id, WhoId",
                ["Who", "WhoId"],
            )
        attributes = reference.get("attributes") if isinstance(reference, dict) else None
        if not isinstance(attributes, dict) or attributes.get("type") != "Contact":
            return sf_error(
                400,
                "INVALID_FIELD",
                'Who is polymorphic: name the entity, {"attributes": {"type": "Contact"}, ...}',
                ["Who"],
            )
        keys = {name: value for name, value in reference.items() if name != "attributes"}
        value = keys.get(WHO_KEY)
        if list(keys) != [WHO_KEY] or not isinstance(value, str) or not value:
            return sf_error(
                400,
                "INVALID_FIELD",
                f"Who: name the Contact by its external id field {WHO_KEY} (a string)",
                ["Who"],
            )
        population = self.data.population
        index = population.by_profile_id.get(value)
        if index is None:
            return sf_error(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {WHO_KEY} in entity Contact",
            )
        return {**rest, "WhoId": population.customers[index].crm_id}

    def _check(self, obj: str, fields: dict[str, Any]) -> Response | None:
        by_crm_id = self.data.population.by_crm_id
        if obj == "Case":
            if fields["ContactId"] not in by_crm_id:
                return sf_error(404, "NOT_FOUND", "No such customer", ["ContactId"])
            if fields["Priority"] not in _PRIORITIES:
                return sf_error(400, "INVALID_FIELD", "Priority: bad value", ["Priority"])
            if fields["Type"] not in _TYPES:
                return sf_error(400, "INVALID_FIELD", "Type: bad value", ["Type"])
        elif obj == "CaseComment":
            if self.case_owner(str(fields["ParentId"])) is None:
                return sf_error(404, "NOT_FOUND", "No such case", ["ParentId"])
        elif fields.get("WhoId") and fields["WhoId"] not in by_crm_id:
            return sf_error(404, "NOT_FOUND", "No such customer", ["WhoId"])
        return None

    def _create(self, obj: str, external_id: str, fields: dict[str, Any], now: str) -> str:
        self._serial += 1
        if obj == "Case":
            # past every generated case's serial (index * 4 + ordinal), so ids never collide
            number = len(self.data.population.customers) * 4 + self._serial
        else:
            number = self._serial
        record_id = f"{_PREFIX[obj]}{number:013d}"
        self.records[record_id] = {
            "Id": record_id,
            "ExternalId__c": external_id,
            **fields,
            "CreatedDate": now,
            "LastModifiedDate": now,
        }
        self.by_external.setdefault((obj, external_id), []).append(record_id)
        if obj == "Case":
            index = self.data.population.by_crm_id[str(fields["ContactId"])]
            self.created_cases.setdefault(index, []).append(record_id)
        elif obj == "CaseComment":
            self.comments.setdefault(str(fields["ParentId"]), []).append(record_id)
        else:
            self.tasks.setdefault(str(fields["InteractionId__c"]), []).append(record_id)
        return record_id

    def _reindex(self, obj: str, record_id: str, before: dict[str, Any]) -> None:
        """An update that moves a task to another contact, or a comment to another case, moves
        it in the reads too."""
        key, index = {
            "Task": ("InteractionId__c", self.tasks),
            "CaseComment": ("ParentId", self.comments),
        }.get(obj, ("", {}))
        if not key or before.get(key) == self.records[record_id].get(key):
            return
        if before.get(key) is not None:
            index.get(str(before[key]), []).remove(record_id)
        index.setdefault(str(self.records[record_id][key]), []).append(record_id)

    def seed_duplicate(self, request: Request) -> Response:
        """POST /_sandbox/crm/duplicates {"object", "externalId"}: two records already carry that
        external id (a data-quality fault real orgs have), so an upsert of it answers 300."""
        body = json_object(request)
        obj, external_id = body.get("object"), body.get("externalId")
        if obj not in OBJECTS or not isinstance(external_id, str) or not external_id:
            raise BadRequest(f"object must be one of {', '.join(OBJECTS)}; externalId a string")
        ids = self.by_external.setdefault((obj, external_id), [])
        while len(ids) < 2:
            self._serial += 1
            record_id = f"{_PREFIX[obj]}{self._serial:013d}"
            self.records[record_id] = {"Id": record_id, "ExternalId__c": external_id}
            ids.append(record_id)
        return ok(orjson.dumps({"ids": ids}))

    # -- reads ------------------------------------------------------------------------------
    def case_owner(self, case_id: str) -> int | None:
        """The customer index of a case (generated or created), or None if there is none."""
        record = self.records.get(case_id)
        if record is not None and "ContactId" in record:
            return self.data.population.by_crm_id.get(str(record["ContactId"]))
        if not re.fullmatch(r"500SB\d{13}", case_id):
            return None
        serial = int(case_id[5:]) - 1
        index, ordinal = divmod(serial, 4)
        if index >= len(self.data.population.customers):
            return None
        return index if ordinal < len(self.data.cases(index)) else None

    def cases(self, index: int) -> list[Case]:
        """The customer's cases with the writes applied: created ones after the generated ones,
        and LastModifiedDate moved by a comment or an update."""
        generated = list(self.data.cases(index))
        if self.touched_cases:
            for position, case in enumerate(generated):
                body = orjson.loads(case.body)
                moved = self.touched_cases.get(str(body["Id"]))
                if moved is not None:
                    generated[position] = Case(
                        case.closed, dumps({**body, "LastModifiedDate": moved})
                    )
        for case_id in self.created_cases.get(index, ()):
            generated.append(Case(False, self._case_body(self.records[case_id])))
        return generated

    def _case_body(self, record: dict[str, Any]) -> bytes:
        serial = int(str(record["Id"])[5:])
        return dumps(
            {
                "Id": record["Id"],
                "CaseNumber": f"{20_000_000 + serial:08d}",
                "ContactId": record["ContactId"],
                "Subject": record["Subject"],
                "Status": "New",
                "Priority": record["Priority"],
                "Type": record["Type"],
                "CreatedDate": record["CreatedDate"],
                "LastModifiedDate": self.touched_cases.get(
                    str(record["Id"]), record["LastModifiedDate"]
                ),
                "OwnerName": record["OwnerId"],
                "ExternalId__c": record["ExternalId__c"],
            }
        )

    def case_comments(self, case_id: str) -> Response:
        if self.case_owner(case_id) is None:
            return sf_error(404, "NOT_FOUND", "No such case")
        records = [self.records[i] for i in self.comments.get(case_id, ())]
        return ok(orjson.dumps({"totalSize": len(records), "done": True, "records": records}))

    def task_list(self, request: Request) -> Response:
        interaction = request.required("interactionId")
        records = [self.records[i] for i in self.tasks.get(interaction, ())]
        return ok(orjson.dumps({"totalSize": len(records), "done": True, "records": records}))

    def set_fault(self, request: Request) -> Response:
        self.fault.set(json_object(request))
        return ok(self.fault.show())

    def show_fault(self, request: Request) -> Response:
        return ok(self.fault.show())
