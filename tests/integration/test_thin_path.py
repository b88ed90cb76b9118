"""The thin road for one JSON operation (gateway/http/fastpath.py) over real sockets: it is
taken (counted), and for each promise the view keeps — limits refused, audit lines written,
the error envelope and its codes, the status an extension sets, trusted documents by hash,
`extensions.sources` — the thin answer is the view's answer for the same request: the same
request is sent through the thin road, then through strawberry's view (the road switched off),
and status, content type, canonical body and audit events must match."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql.execution.values import get_variable_values
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.extensions import SchemaExtension

import gateway.limits.lookups as lookups
from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.execution.direct import DirectRoad
from gateway.execution.select import executor_class
from gateway.http.fastpath import ThinPath, request_headers
from gateway.http.view import GraphQLView
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from schema import build_schema
from sources.sandbox.client import mint_token
from sources.sandbox.server import background_server

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "docs" / "trusted-documents.json"
IVR = "query Ivr($id: ID!) { customer(id: $id) { firstName segment accounts { type balance } } }"
SENSITIVE = "query Read($id: ID!) { customer(id: $id) { id fullName dateOfBirth ssn } }"


@dataclass
class Thin:
    url: str
    token: str
    view: GraphQLView
    audit: list[dict[str, Any]]
    guard: Guard

    @property
    def road(self) -> ThinPath:
        assert self.view.thin is not None
        return self.view.thin

    def send(
        self, content: bytes, headers: dict[str, str] | None = None
    ) -> tuple[httpx.Response, list[str]]:
        """One POST; the response and the audit events it wrote (without time and ids)."""
        self.audit.clear()
        all_headers = {
            "authorization": f"Bearer {self.token}",
            "content-type": "application/json",
            **(headers or {}),
        }
        response = httpx.post(self.url + "/graphql", content=content, headers=all_headers)
        events = sorted(
            json.dumps({k: v for k, v in e.items() if k not in ("time", "requestId")})
            for e in self.audit
        )
        return response, events

    def both(self, body: Any, headers: dict[str, str] | None = None) -> Answers:
        """The same request through the thin road, then through the view."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        before, direct = self.road.taken, self.direct.taken
        thin, thin_audit = self.send(content, headers)
        taken = self.road.taken - before
        directly = self.direct.taken - direct
        road, self.view.thin = self.view.thin, None
        try:
            viewed, view_audit = self.send(content, headers)
        finally:
            self.view.thin = road
        return Answers(thin, thin_audit, viewed, view_audit, taken, directly)

    @property
    def direct(self) -> DirectRoad:
        assert self.road.direct is not None
        return self.road.direct

    def warm(self, body: Any, headers: dict[str, str] | None = None) -> None:
        """One request through the thin road first: its plan compiled and cached, so the
        next one may take the direct road."""
        response, _ = self.send(json.dumps(body).encode(), headers)
        assert response.status_code in (200, 503), response.text


@dataclass
class Answers:
    thin: httpx.Response
    thin_audit: list[str]
    view: httpx.Response
    view_audit: list[str]
    taken: int
    direct: int = 0
    """Of the thin road's: answered by the direct road (a cached plan, no Schema.execute)."""

    def same(self) -> dict[str, Any]:
        """Asserts the two answers are one; returns the (thin) body."""
        assert self.thin.status_code == self.view.status_code, (self.thin.text, self.view.text)
        for header in ("content-type", "retry-after", "www-authenticate"):
            assert self.thin.headers.get(header) == self.view.headers.get(header), header
        assert _canonical(self.thin.json()) == _canonical(self.view.json())
        assert self.thin_audit == self.view_audit
        body: dict[str, Any] = self.thin.json()
        return body


def _canonical(body: dict[str, Any]) -> str:
    body = json.loads(json.dumps(body))
    extensions = body.get("extensions") or {}
    extensions.pop("requestId", None)
    for report in (extensions.get("sources") or {}).values():
        report.pop("ms", None)
    for error in body.get("errors") or []:
        (error.get("extensions") or {}).pop("requestId", None)
    return json.dumps(body, sort_keys=True)


def _view_of(app: Starlette) -> GraphQLView:
    for route in app.routes:
        if isinstance(route, Route) and route.path == "/graphql":
            assert isinstance(route.endpoint, GraphQLView)
            return route.endpoint
    raise AssertionError("no /graphql route")


@pytest.fixture(scope="module")
def thin(sandbox_url: str) -> Iterator[Thin]:
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]), manifest=str(MANIFEST))
    raw["trusted_documents"]["roles"] = []  # free-form documents too, for these callers
    raw["rate_limit"] = {"enabled": False}
    raw["limits"] = {"max_depth": 3, "max_aliases": 2, "max_cost": 400}
    audit: list[dict[str, Any]] = []
    guard = Guard(
        Policy.load(),
        Masker(b"thin-path-test-key"),
        AuditLog(lambda lines: audit.extend(json.loads(x) for x in lines.splitlines())),
    )
    app = create_app(build_config(raw, env={}), guard=guard)
    with background_server(app, lifespan="on") as url:
        token = asyncio.run(mint_token(sandbox_url, sub="analyst-0042", roles=["fraud_analyst"]))
        yield Thin(url, token, _view_of(app), audit, guard)


def test_one_json_operation_takes_the_thin_road(thin: Thin, sample: list[dict[str, Any]]) -> None:
    answers = thin.both({"query": IVR, "variables": {"id": sample[0]["id"]}})
    assert answers.taken == 1
    body = answers.same()
    assert body["data"]["customer"]["accounts"]
    assert "sources" in body["extensions"]  # which systems answered, as the view reports


def test_the_standard_gateway_never_takes_it(sandbox_url: str) -> None:
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]), execution="standard")
    assert _view_of(create_app(build_config(raw, env={}))).thin is None


def test_audit_lines_are_written_on_the_thin_road(thin: Thin, sample: list[dict[str, Any]]) -> None:
    answers = thin.both({"query": SENSITIVE, "variables": {"id": sample[1]["id"]}})
    assert answers.taken == 1
    answers.same()
    assert answers.thin_audit  # each sensitive value read is a line
    assert any('"ssn"' in line or "PII_NATIONAL_ID" in line for line in answers.thin_audit)


@pytest.mark.parametrize(
    "query",
    [
        "{ customer(id: 1) { accounts { id } cases { id } journey { steps { at } } } }",
        "{ a: customer(id: 1) { id } b: customer(id: 2) { id } c: customer(id: 3) { id } }",
        '{ customers(ids: ["1","2","3","4","5","6","7","8","9","10"]) '
        "{ interactions(first: 50) { id } } }",
    ],
    ids=["depth", "aliases", "cost"],
)
def test_limits_refuse_the_same_on_the_thin_road(thin: Thin, query: str) -> None:
    answers = thin.both({"query": query})
    assert answers.taken == 1
    body = answers.same()
    assert body["data"] is None
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes & {"DEPTH_LIMIT", "ALIAS_LIMIT", "COST_LIMIT"}, body


@pytest.mark.parametrize(
    "body",
    [
        {"query": IVR},  # a required variable missing
        {"query": IVR, "variables": {"id": ["not", "an", "id"]}},
        {"query": "{ customer(id: 1) { noSuchField } }"},
        {"query": "{ customer(id: 1) { id }"},  # a syntax error
        {"query": IVR, "operationName": "Other"},  # no such operation: the view's 400
        {"query": "query A { write(id: 1) { id } } query B { write(id: 2) { id } }"},  # which?
        {"query": ""},
    ],
    ids=[
        "missing-variable",
        "bad-variable",
        "unknown-field",
        "syntax",
        "no-such-name",
        "two",
        "empty",
    ],
)
def test_errors_have_the_views_envelope_on_the_thin_road(thin: Thin, body: dict[str, Any]) -> None:
    answers = thin.both(body)
    assert answers.taken == 1
    answered = answers.same()
    assert all(e["extensions"]["code"] for e in answered["errors"])


def test_a_trusted_document_by_its_hash_alone(thin: Thin, sample: list[dict[str, Any]]) -> None:
    digest = json.loads(MANIFEST.read_text())["operations"][1]["id"]
    answers = thin.both(
        {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            "variables": {"id": sample[2]["id"]},
        }
    )
    assert answers.taken == 1
    body = answers.same()
    assert body["data"]["customer"]["firstName"]


def test_the_status_an_extension_sets_is_kept(
    thin: Thin, sample: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit trail answers 503 through the context's response when its queue is full."""
    monkeypatch.setattr(thin.guard.audit, "reserve", lambda: False)
    answers = thin.both({"query": IVR, "variables": {"id": sample[3]["id"]}})
    assert answers.taken == 1
    body = answers.same()
    assert answers.thin.status_code == 503
    assert body["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"[]", None),  # a batch
        (b'[{"query": "{ __typename }"}]', None),
        (b"{not json", None),
        (b'{"query": 5}', None),
        (b'{"query": "{ __typename }", "variables": []}', None),
        (b'{"query": "{ __typename }", "operationName": 5}', None),
        (b'"{ __typename }"', None),
        (b'{"query": "{ __typename }"}', {"content-type": "Application/JSON"}),
    ],
    ids=[
        "empty-batch",
        "batch",
        "not-json",
        "query-not-text",
        "variables-not-object",
        "name-not-text",
        "not-an-object",
        "media-type-case",
    ],
)
def test_anything_else_is_the_views_alone(
    thin: Thin, content: bytes, headers: dict[str, str] | None
) -> None:
    answers = thin.both(content, headers)
    assert answers.taken == 0
    assert answers.thin.status_code == answers.view.status_code
    assert answers.thin.headers.get("content-type") == answers.view.headers.get("content-type")
    assert _canonical(answers.thin.json()) == _canonical(answers.view.json())


def _counts(view: GraphQLView) -> dict[str, float]:
    registry = view.telemetry.metrics.registry
    out = {}
    for family in registry.collect():
        if family.name in ("switchboard_request_seconds", "switchboard_trusted_operations"):
            for sample in family.samples:
                if sample.name.endswith(("_count", "_total")):
                    out[f"{sample.name}{sorted(sample.labels.items())}"] = sample.value
    return out


@pytest.mark.parametrize("by_hash", [False, True], ids=["free-form", "trusted-by-hash"])
def test_the_metrics_move_the_same_on_both_roads(
    thin: Thin, sample: list[dict[str, Any]], by_hash: bool
) -> None:
    """The operation's type, trusted name and result reach the metrics as through the view."""
    digest = json.loads(MANIFEST.read_text())["operations"][1]["id"]
    body: dict[str, Any] = {"variables": {"id": sample[4]["id"]}}
    if by_hash:
        body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    else:
        body["query"] = SENSITIVE.replace("query Read", "query Ivr")  # not the trusted text
    content = json.dumps(body).encode()
    thin.warm(body)  # its plan compiled: the thin road's request takes the direct road
    moved = []
    direct = thin.direct.taken
    for road in (thin.view.thin, None):
        kept, thin.view.thin = thin.view.thin, road
        try:
            before = _counts(thin.view)
            response, _ = thin.send(content)
            after = _counts(thin.view)
        finally:
            thin.view.thin = kept
        assert response.status_code == 200
        moved.append({k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)})
    assert thin.direct.taken == direct + 1
    assert moved[0] == moved[1]
    name = "Ivr" if by_hash else "other"
    assert moved[0] == {
        f"switchboard_request_seconds_count{[('result', 'ok'), ('type', 'query')]}": 1,
        f"switchboard_trusted_operations_total{[('operation', name), ('result', 'ok')]}": 1,
    }


# -- the direct road: a cached plan without Schema.execute (gateway/execution/direct.py) -----


def test_a_cached_plan_takes_the_direct_road(thin: Thin, sample: list[dict[str, Any]]) -> None:
    body = {"query": IVR, "variables": {"id": sample[5]["id"]}}
    thin.warm(body)
    answers = thin.both(body)
    assert (answers.taken, answers.direct) == (1, 1)
    answered = answers.same()
    assert answered["data"]["customer"]["accounts"]
    assert "sources" in answered["extensions"]
    # another customer, the same plan: the road does not depend on the values
    answers = thin.both({"query": IVR, "variables": {"id": sample[6]["id"]}})
    assert (answers.taken, answers.direct) == (1, 1)
    answers.same()


def test_the_direct_road_coerces_the_variables_once(
    thin: Thin, sample: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admission's lookups take the variables the direct road's executor coerced (prep,
    round 6): the same lookup events, without coercing them again."""
    query = "query Find($phone: String) { findCustomers(phone: $phone) { id } }"
    phone = next(c["phones"][0] for c in sample if c["phones"])
    thin.warm({"query": query, "variables": {"phone": phone}})
    coerced: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        coerced.append(args)
        return get_variable_values(*args, **kwargs)

    monkeypatch.setattr(lookups, "get_variable_values", counted)
    answers = thin.both({"query": query, "variables": {"phone": phone}})
    assert answers.direct == 1
    answers.same()
    assert any('"type": "lookup"' in e and '"phone"' in e for e in answers.thin_audit)
    assert len(coerced) == 1  # by the view's road only (Schema.execute)


def test_audit_lines_are_written_on_the_direct_road(
    thin: Thin, sample: list[dict[str, Any]]
) -> None:
    thin.warm({"query": SENSITIVE, "variables": {"id": sample[7]["id"]}})
    answers = thin.both({"query": SENSITIVE, "variables": {"id": sample[8]["id"]}})
    assert answers.direct == 1
    answers.same()
    assert any('"ssn"' in line or "PII_NATIONAL_ID" in line for line in answers.thin_audit)


def test_the_direct_roads_answer_waits_for_its_audit_lines(
    thin: Thin, sample: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The road hands its lines over and encodes the answer meanwhile, but the answer leaves
    only once they are written: with the sink stalled, nothing comes back."""
    body = json.dumps({"query": SENSITIVE, "variables": {"id": sample[11]["id"]}}).encode()
    thin.warm(json.loads(body))
    entered, release = threading.Event(), threading.Event()
    sink = thin.guard.audit._sink
    assert sink is not None

    def stalled(lines: bytes) -> None:
        entered.set()
        assert release.wait(30)
        sink(lines)

    monkeypatch.setattr(thin.guard.audit, "_sink", stalled)
    taken = thin.direct.taken
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(thin.send, body)
        try:
            assert entered.wait(30)
            with pytest.raises(FuturesTimeout):  # the lines are not written: no answer
                answer.result(timeout=0.5)
        finally:
            release.set()
        response, events = answer.result(timeout=30)
    assert response.status_code == 200 and response.json()["data"]["customer"]["ssn"]
    assert thin.direct.taken == taken + 1
    assert any('"ssn"' in line or "PII_NATIONAL_ID" in line for line in events)


def test_a_resolver_error_on_the_direct_road(thin: Thin, sample: list[dict[str, Any]]) -> None:
    """Errors found while the plan runs: the same envelope, codes and (concealed) messages."""
    thin.warm({"query": IVR, "variables": {"id": sample[9]["id"]}})
    answers = thin.both({"query": IVR, "variables": {"id": "no-such-customer"}})
    assert answers.direct == 1
    body = answers.same()
    assert body["errors"] and all(e["extensions"]["code"] for e in body["errors"])


def test_the_audit_trails_503_on_the_direct_road(
    thin: Thin, sample: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"query": IVR, "variables": {"id": sample[10]["id"]}}
    thin.warm(body)
    monkeypatch.setattr(thin.guard.audit, "reserve", lambda: False)
    answers = thin.both(body)
    assert answers.direct == 1
    answered = answers.same()
    assert answers.thin.status_code == 503
    assert answered["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"


def test_the_verification_report_on_the_direct_road(
    thin: Thin, sample: list[dict[str, Any]]
) -> None:
    body = {"query": IVR, "variables": {"id": sample[11]["id"]}}
    headers = {"x-interaction-id": "CT-DOES-NOT-EXIST"}
    thin.warm(body, headers)
    answers = thin.both(body, headers)
    assert answers.direct == 1
    answered = answers.same()
    assert answered["extensions"]["verification"]["status"] == "not_verified"


def test_a_trusted_document_by_hash_on_the_direct_road(
    thin: Thin, sample: list[dict[str, Any]]
) -> None:
    digest = json.loads(MANIFEST.read_text())["operations"][1]["id"]
    body = {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        "variables": {"id": sample[12]["id"]},
    }
    thin.warm(body)
    answers = thin.both(body)
    assert answers.direct == 1
    assert answers.same()["data"]["customer"]["firstName"]


@pytest.mark.parametrize(
    "body",
    [
        {"query": IVR},  # a required variable missing
        {"query": IVR, "variables": {"id": ["not", "an", "id"]}},
        {"query": IVR, "operationName": "Other"},
        {"query": IVR.replace("firstName", "firstName noSuchField"), "variables": {"id": "1"}},
    ],
    ids=["missing-variable", "bad-variable", "no-such-name", "unknown-field"],
)
def test_what_would_be_refused_is_left_to_schema_execute(
    thin: Thin, sample: list[dict[str, Any]], body: dict[str, Any]
) -> None:
    thin.warm({"query": IVR, "variables": {"id": sample[13]["id"]}})
    answers = thin.both(body)
    assert (answers.taken, answers.direct) == (1, 0)
    answers.same()


def test_the_access_log_says_the_same_on_the_direct_road(
    thin: Thin, sample: list[dict[str, Any]]
) -> None:
    """OperationLog's fields (operation, type, subject, outcome) on the request's line."""
    lines: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            fields = dict(getattr(record, "fields", {}))
            for key in ("ms", "requestId", "traceId"):
                fields.pop(key, None)
            lines.append(fields)

    access = logging.getLogger("switchboard.access")
    keep, level = Keep(), access.level
    access.addHandler(keep)
    access.setLevel(logging.INFO)
    try:
        ok = {"query": IVR, "variables": {"id": sample[14]["id"]}, "operationName": "Ivr"}
        thin.warm(ok)
        lines.clear()
        answers = [thin.both(ok), thin.both({**ok, "variables": {"id": "no-such-customer"}})]
    finally:
        access.removeHandler(keep)
        access.setLevel(level)
    assert [a.direct for a in answers] == [1, 1]
    assert lines[0] == lines[1] and lines[2] == lines[3], lines
    assert lines[0]["operation"] == "Ivr" and lines[0]["outcome"] == "ok"
    assert lines[0]["operationType"] == "query" and lines[0]["subject"]
    assert lines[2]["outcome"] != "ok"


def test_the_direct_road_needs_exactly_the_gateways_extensions(thin: Thin) -> None:
    """Another extension, or another order, and no rule may be skipped: no direct road."""
    schema: Any = thin.view.schema
    assert DirectRoad.for_schema(schema) is not None
    kinds = list(schema.extensions)

    class Other(SchemaExtension):
        pass

    for changed in ([*kinds, Other], [kinds[1], kinds[0], *kinds[2:]], kinds[:3]):
        rebuilt = build_schema(changed, schema.execution_context_class)
        assert DirectRoad.for_schema(rebuilt) is None
    assert DirectRoad.for_schema(build_schema(kinds, schema.execution_context_class)) is not None
    standard = build_schema(kinds, executor_class(thin.direct.plans, compiled=False))
    assert DirectRoad.for_schema(standard) is None


@pytest.mark.parametrize(
    ("first", "code"), [(90, "COST_LIMIT"), (500, "LIST_LIMIT")], ids=["cost", "list-cap"]
)
def test_limits_that_depend_on_the_variables_with_a_cached_plan(
    thin: Thin, sample: list[dict[str, Any]], first: int, code: str
) -> None:
    """The plan does not depend on `$n`, the cost does: the direct road checks it first."""
    query = (
        "query Many($ids: [ID!]!, $n: Int!) "
        "{ customers(ids: $ids) { interactions(first: $n) { id } } }"
    )
    ids = [c["id"] for c in sample[15:20]]
    thin.warm({"query": query, "variables": {"ids": ids, "n": 1}})
    answers = thin.both({"query": query, "variables": {"ids": ids, "n": first}})
    assert (answers.taken, answers.direct) == (1, 0)
    body = answers.same()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]


@pytest.mark.parametrize(
    ("headers", "taken"),
    [
        ({"content-type": "application/json; charset=utf-8"}, 1),
        ({"content-type": "application/json ;charset=utf-8"}, 1),
        ({"accept": "application/json"}, 1),
        # strawberry finds no streamed transport on this view for them: plain JSON answers
        ({"accept": "multipart/mixed"}, 1),
        ({"accept": "text/event-stream"}, 1),
    ],
    ids=["charset", "spaces", "accept-json", "accept-multipart", "accept-sse"],
)
def test_the_road_is_chosen_by_the_requests_headers(
    thin: Thin, headers: dict[str, str], taken: int
) -> None:
    """The headers read in one pass (`request_headers`) choose the road as strawberry's
    `Headers` did, and both roads answer the same."""
    answers = thin.both({"query": "{ __typename }"}, headers)
    assert answers.taken == taken
    assert answers.thin.status_code == answers.view.status_code
    assert answers.thin.headers.get("content-type") == answers.view.headers.get("content-type")
    assert answers.thin.content == answers.view.content or answers.same()


def test_the_headers_are_read_once_as_starlette_and_strawberry_read_them() -> None:
    scope = {
        "headers": [
            (b"Accept", b"multipart/mixed"),  # strawberry lowers the names it compares
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            (b"content-type", b"text/plain"),  # the first of each, as `Headers.get`
            (b"x-request-timeout-ms", b"250"),
            (b"x-request-timeout-ms", b"9"),
        ]
    }
    assert request_headers(scope) == (b"application/json", b"multipart/mixed", b"250")
    assert request_headers({"headers": []}) == (None, None, None)
