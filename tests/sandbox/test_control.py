from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from sources.sandbox import running

SAMPLE_KEYS = {
    "id", "phones", "emails", "accountNumbers", "ssn", "dateOfBirth", "cards", "balances",
}  # fmt: skip


@pytest.fixture(scope="module", params=["httptools", "h11"])
def faulty(request: pytest.FixtureRequest) -> Iterator[str]:
    """A sandbox of its own: fault switches would break every other test's assumptions."""
    with running(customers=100, latency_ms=5, http=request.param) as url:
        yield url


def _set(url: str, **fault: Any) -> dict[str, Any]:
    response = httpx.post(f"{url}/_sandbox/faults", json=fault)
    assert response.status_code == 200, response.text
    faults: dict[str, Any] = response.json()
    return faults


def test_sample_has_exact_keys_and_raw_values_the_systems_serve(
    client: httpx.Client, sample: list[dict[str, Any]]
) -> None:
    assert len(sample) == 200
    assert len({customer["id"] for customer in sample}) == 200
    for customer in sample[:10]:
        assert set(customer) == SAMPLE_KEYS
        assert all(set(card) == {"id", "pan"} for card in customer["cards"])
        record = client.get("/crm/customers", params={"id": customer["id"]}).json()["records"][0]
        assert record["SSN__c"] == customer["ssn"]
        assert record["Birthdate"] == customer["dateOfBirth"]
        assert [phone["Number"] for phone in record["Phones"]] == customer["phones"]
        assert record["Emails"] == customer["emails"]
    small = client.get("/_sandbox/sample", params={"n": 3}).json()["customers"]
    assert small == sample[:3]
    assert client.get("/_sandbox/sample", params={"n": "lots"}).status_code == 400


def test_stats_count_by_route_and_reset(client: httpx.Client, sample: list[dict[str, Any]]) -> None:
    zero = client.post("/_sandbox/reset").json()
    assert zero["crm"] == {"requests": 0, "by_route": {}, "traceparents": []}
    assert set(zero) == {"crm", "core", "ccaas", "knowledge", "idp"}
    client.get("/crm/customers", params={"id": sample[0]["id"]})
    client.get("/crm/customers", params={"id": sample[1]["id"]})
    client.get("/crm/customers/search", params={"phone": "bad"})  # 400s count: a call was made
    client.get("/knowledge/articles/by-intent", params={"intent": "card_lost"})
    client.get("/crm/openapi.json")  # metadata, not a back-end call
    client.get("/crm/nothing-here")
    stats = client.get("/_sandbox/stats").json()
    assert {k: v for k, v in stats["crm"].items() if k != "traceparents"} == {
        "requests": 3,
        "by_route": {"GET /customers": 2, "GET /customers/search": 1},
    }
    assert stats["knowledge"]["requests"] == 1
    assert stats["knowledge"]["by_route"] == {"GET /articles/by-intent": 1}
    assert stats["core"]["requests"] == stats["ccaas"]["requests"] == 0
    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/stats").json()["crm"]["requests"] == 0


def test_faults_start_with_the_app_latency_on_data_systems_only(faulty: str) -> None:
    faults = httpx.get(f"{faulty}/_sandbox/faults").json()
    assert faults["crm"] == {"mode": "ok", "latency_ms": 5.0, "error_rate": 0.0}
    assert faults["idp"]["latency_ms"] == 0.0


def test_faults_reject_unknown_systems_and_modes(faulty: str) -> None:
    for body in (
        {"system": "mainframe"},
        {"system": "crm", "mode": "flaky"},
        {"system": "crm", "error_rate": 2},
        {"system": "crm", "latency_ms": -1},
    ):
        assert httpx.post(f"{faulty}/_sandbox/faults", json=body).status_code == 400
    assert httpx.post(f"{faulty}/_sandbox/faults", content=b"[").status_code == 400


def test_fault_error_answers_503_and_ok_restores(faulty: str) -> None:
    url = f"{faulty}/core/risk?partyId=PTY100000001"
    _set(faulty, system="core", mode="error")
    try:
        response = httpx.get(url)
        assert response.status_code == 503
        assert "error" in response.json()
        assert httpx.get(f"{faulty}/crm/customers?id=x").status_code == 200  # others unaffected
    finally:
        _set(faulty, system="core", mode="ok")
    assert httpx.get(url).status_code == 200


def test_fault_garbage_answers_200_with_a_body_that_is_not_json(faulty: str) -> None:
    _set(faulty, system="knowledge", mode="garbage")
    try:
        response = httpx.get(f"{faulty}/knowledge/articles/search?query=card")
        assert response.status_code == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)
    finally:
        _set(faulty, system="knowledge", mode="ok")


def test_fault_timeout_never_answers(faulty: str) -> None:
    _set(faulty, system="ccaas", mode="timeout")
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{faulty}/ccaas/contacts?profileId=x", timeout=0.3)
    finally:
        _set(faulty, system="ccaas", mode="ok")
    assert httpx.get(f"{faulty}/ccaas/contacts?profileId=x").status_code == 200


def test_fault_down_drops_the_connection_without_an_answer(faulty: str) -> None:
    _set(faulty, system="crm", mode="down")
    try:
        with httpx.Client(base_url=faulty) as http:
            for _ in range(2):  # a fresh and a (would-be) reused connection
                with pytest.raises(httpx.TransportError):
                    http.get("/crm/customers?id=x")
    finally:
        _set(faulty, system="crm", mode="ok")
    assert httpx.get(f"{faulty}/crm/customers?id=x").status_code == 200


def test_fault_down_applies_to_the_idp_too(faulty: str) -> None:
    _set(faulty, system="idp", mode="down")
    try:
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{faulty}/idp/token", data={"sub": "a"})
    finally:
        _set(faulty, system="idp", mode="ok")


def test_fault_latency_delays_the_answer(faulty: str) -> None:
    _set(faulty, system="core", latency_ms=150)
    try:
        started = time.perf_counter()
        assert httpx.get(f"{faulty}/core/cards?partyId=x").status_code == 200
        assert time.perf_counter() - started >= 0.15
    finally:
        _set(faulty, system="core", latency_ms=0)


def test_fault_error_rate_fails_a_fraction_of_calls(faulty: str) -> None:
    _set(faulty, system="crm", error_rate=0.5, latency_ms=0)
    try:
        with httpx.Client(base_url=faulty) as http:
            codes = [http.get("/crm/customers?id=x").status_code for _ in range(60)]
    finally:
        _set(faulty, system="crm", error_rate=0.0)
    assert set(codes) == {200, 503}


def test_running_shuts_down_while_a_timeout_fault_holds_a_request() -> None:
    errors: list[BaseException] = []
    with running(customers=10) as url:
        _set(url, system="crm", mode="timeout")

        def call() -> None:
            try:
                httpx.get(f"{url}/crm/customers?id=x", timeout=60)
            except httpx.TransportError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.2)
    caller.join(timeout=30)
    assert not caller.is_alive()
    assert len(errors) == 1


def test_sample_customers_have_contacts(client: httpx.Client, sample: list[dict[str, Any]]) -> None:
    ids = [customer["id"] for customer in sample[:50]]
    records = client.get("/crm/customers", params={"id": ids}).json()["records"]
    profiles = [record["CcaasProfile__c"] for record in records]
    contacts = client.get(
        "/ccaas/contacts", params={"profileId": profiles, "perProfile": 1}
    ).json()["Contacts"]
    assert len({contact["ProfileId"] for contact in contacts}) == 50
