"""The mutations over HTTP: content checks end to end (a PAN never reaches the service, the
audit or the log), idempotency keys, standard execution, the limits and trusted documents, and
no mutation over GET."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.limits.trusted import sha256
from gateway.writes import OnSettled
from sources.sandbox.server import background_server
from tests.mutations.conftest import Writer
from tests.mutations.doubles import FakeWrites
from tests.mutations.test_authorisation import DISPOSE

PAN_NOTE = "Customer read out 4111 1111 1111 1111 exp 12/29, told not to"


def _input(contact: str, **overrides: Any) -> dict[str, Any]:
    given = {
        "interactionId": contact,
        "code": "RESOLVED",
        "note": "Explained the statement.",
        "idempotencyKey": str(uuid.uuid4()),
    }
    given.update(overrides)
    return {"input": given}


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def test_a_note_holding_a_card_number_is_refused_and_never_repeated(
    writer: Writer, capfd: pytest.CaptureFixture[str]
) -> None:
    contact = writer.contact(writer.customers[20], "agent-0401")
    before = len(writer.writes.intents)
    writer.audit.clear()
    capfd.readouterr()
    body = writer.post(
        DISPOSE, _input(contact, note=PAN_NOTE), writer.token("agent-0401", ["agent"])
    )
    assert _codes(body) == ["SENSITIVE_DATA_IN_NOTE"] and body["data"] is None
    assert len(writer.writes.intents) == before
    logged = capfd.readouterr()
    for where in (json.dumps(body), json.dumps(writer.audit), logged.out, logged.err):
        assert "4111" not in where and "12/29" not in where
    refused = [e for e in writer.audit if e["type"] == "write_refused"]
    assert [e["code"] for e in refused] == ["SENSITIVE_DATA_IN_NOTE"]


def test_a_case_subject_holding_an_ssn_is_refused(writer: Writer) -> None:
    create = """mutation ($input: CreateCaseInput!) { createCase(input: $input) { status } }"""
    variables = {
        "input": {
            "customerId": writer.customers[21]["id"],
            "subject": "SSN 123-45-6789 mismatch",
            "type": "ACCOUNT",
            "priority": "LOW",
            "idempotencyKey": str(uuid.uuid4()),
        }
    }
    body = writer.post(create, variables, writer.token("sup-0401", ["supervisor"]))
    assert _codes(body) == ["SENSITIVE_DATA_IN_NOTE"]
    assert "6789" not in json.dumps(body)


def test_an_unknown_disposition_code_is_refused(writer: Writer) -> None:
    contact = writer.contact(writer.customers[22], "agent-0402")
    body = writer.post(
        DISPOSE, _input(contact, code="WHATEVER"), writer.token("agent-0402", ["agent"])
    )
    assert _codes(body) == ["INVALID_DISPOSITION_CODE"]


def test_the_idempotency_key_header_is_accepted_when_it_agrees(writer: Writer) -> None:
    contact = writer.contact(writer.customers[23], "agent-0403")
    token = writer.token("agent-0403", ["agent"])
    variables = _input(contact)
    key = variables["input"]["idempotencyKey"]
    agrees = writer.post(DISPOSE, variables, token, idempotency_key=key)
    assert agrees["data"]["recordDisposition"]["status"] == "APPLIED"
    differs = writer.post(DISPOSE, _input(contact), token, idempotency_key="another-key")
    assert _codes(differs) == ["BAD_REQUEST"]
    assert "Idempotency-Key" in differs["errors"][0]["message"]


def test_the_same_key_returns_the_first_write_and_another_body_is_refused(
    writer: Writer,
) -> None:
    contact = writer.contact(writer.customers[24], "agent-0404")
    token = writer.token("agent-0404", ["agent"])
    variables = _input(contact)
    first = writer.post(DISPOSE, variables, token)["data"]["recordDisposition"]
    again = writer.post(DISPOSE, variables, token)["data"]["recordDisposition"]
    assert again == first
    other = _input(contact, note="Something else entirely.")
    other["input"]["idempotencyKey"] = variables["input"]["idempotencyKey"]
    reused = writer.post(DISPOSE, other, token)
    assert _codes(reused) == ["IDEMPOTENCY_KEY_REUSED"] and reused["data"] is None


def test_a_mutation_runs_on_standard_execution(writer: Writer) -> None:
    """The compiled plans serve queries; a mutation falls back by its operation type (and
    graphql-core runs its root fields one after another)."""
    counter = _standard_count(writer)
    contact = writer.contact(writer.customers[25], "agent-0405")
    body = writer.post(DISPOSE, _input(contact), writer.token("agent-0405", ["agent"]))
    assert body["data"]["recordDisposition"]["status"] == "APPLIED"
    assert _standard_count(writer) == counter + 1


def _standard_count(writer: Writer) -> float:
    metrics = writer.app.state.metrics
    value: float = metrics.operations.labels("standard", "operation_type")._value.get()
    return value


def test_a_mutation_is_never_run_over_get(writer: Writer) -> None:
    contact = writer.contact(writer.customers[26], "agent-0406")
    before = len(writer.writes.intents)
    response = httpx.get(
        f"{writer.url}/graphql",
        params={"query": DISPOSE, "variables": json.dumps(_input(contact))},
        headers={"authorization": f"Bearer {writer.token('agent-0406', ['agent'])}"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert len(writer.writes.intents) == before


def test_the_limits_apply_to_mutations(writer: Writer) -> None:
    contact = writer.contact(writer.customers[27], "agent-0407")
    many = " ".join(
        f'w{i}: recordDisposition(input: {{interactionId: "{contact}", code: "RESOLVED", '
        f'idempotencyKey: "k{i}"}}) {{ status }}'
        for i in range(40)
    )
    before = len(writer.writes.intents)
    body = writer.post(f"mutation {{ {many} }}", {}, writer.token("agent-0407", ["agent"]))
    assert body["data"] is None
    assert _codes(body) == ["ALIAS_LIMIT"]
    assert len(writer.writes.intents) == before


def test_trusted_documents_apply_to_mutations(writer: Writer, tmp_path: Path) -> None:
    """A role held to registered operations may run a registered mutation, and no other."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({sha256(DISPOSE): DISPOSE}))
    raw = demo_config(0, int(writer.sandbox.rsplit(":", 1)[1]), manifest=str(manifest))
    raw["trusted_documents"]["roles"] = ["agent"]
    raw["rate_limit"] = {"enabled": False}
    made: list[FakeWrites] = []

    def writes(on_settled: OnSettled) -> FakeWrites:
        made.append(FakeWrites(on_settled))
        return made[0]

    app = create_app(build_config(raw, env={}), writes=writes)
    with background_server(app, lifespan="on") as url:
        contact = writer.contact(writer.customers[28], "agent-0408")
        token = writer.token("agent-0408", ["agent"])
        headers = {"authorization": f"Bearer {token}"}
        registered = httpx.post(
            f"{url}/graphql", json={"query": DISPOSE, "variables": _input(contact)}, headers=headers
        ).json()
        other = DISPOSE.replace("code message", "code")
        unregistered = httpx.post(
            f"{url}/graphql", json={"query": other, "variables": _input(contact)}, headers=headers
        ).json()
    assert registered["data"]["recordDisposition"]["status"] == "APPLIED"
    assert _codes(unregistered) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert len(made[0].intents) == 1


def test_a_browser_may_send_the_idempotency_key_header(writer: Writer) -> None:
    """The CORS preflight allows Idempotency-Key: a desktop in the browser can retry safely."""
    raw = demo_config(
        0, int(writer.sandbox.rsplit(":", 1)[1]), cors_origins=["https://desk.example"]
    )
    app = create_app(build_config(raw, env={}))
    with background_server(app, lifespan="on") as url:
        answer = httpx.options(
            f"{url}/graphql",
            headers={
                "origin": "https://desk.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type, idempotency-key",
            },
        )
    assert answer.status_code == 200, answer.text
    assert "idempotency-key" in answer.headers["access-control-allow-headers"].lower()
