from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

SYSTEMS = ("crm", "core", "ccaas", "knowledge", "idp")


def _document(client: httpx.Client, system: str) -> dict[str, Any]:
    response = client.get(f"/{system}/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("system", SYSTEMS)
def test_openapi_document_is_valid(client: httpx.Client, system: str) -> None:
    document = _document(client, system)
    validate(document)
    assert document["servers"] == [{"url": f"/{system}"}]


@pytest.mark.parametrize("system", SYSTEMS)
def test_openapi_every_documented_operation_is_served(client: httpx.Client, system: str) -> None:
    """Called without parameters, a served operation answers 200 or 400 (or a 404 it documents
    for an unknown id in its path), never an undocumented 404 or a 405."""
    for path, operations in _document(client, system)["paths"].items():
        for method, operation in operations.items():
            concrete = re.sub(r"\{object\}", "Task", re.sub(r"\{(?!object)\w+\}", "x", path))
            response = client.request(method.upper(), f"/{system}{concrete}")
            allowed = {200, 400} | ({404} if "404" in operation["responses"] else set())
            assert response.status_code in allowed, (method, path, response.text)
            assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("system", ["crm", "core", "ccaas", "knowledge"])
def test_openapi_batch_operations_declare_and_enforce_max_batch(
    client: httpx.Client, system: str
) -> None:
    batches = 0
    for path, operations in _document(client, system)["paths"].items():
        operation = operations.get("get", {})
        limit = operation.get("x-max-batch")
        if limit is None:
            continue
        batches += 1
        for parameter in operation["parameters"]:
            if parameter["schema"].get("type") != "array":
                continue
            assert parameter["schema"]["maxItems"] == limit
            values = [f"unknown-{n}" for n in range(limit + 1)]
            over = client.get(f"/{system}{path}", params={parameter["name"]: values})
            assert over.status_code == 400, (path, parameter["name"])
            at = client.get(f"/{system}{path}", params={parameter["name"]: values[:limit]})
            assert at.status_code == 200, (path, parameter["name"], at.text)
    assert batches >= 1


def test_openapi_documents_every_route_the_system_serves() -> None:
    from sources.sandbox import create_app
    from sources.sandbox.crm import PATTERNED
    from sources.sandbox.openapi import spec

    app = create_app(customers=10)
    for system, routes in app.routes.items():
        documented = {
            f"{method.upper()} {path}"
            for path, operations in spec(system)["paths"].items()
            for method in operations
        }
        served = set(routes) | (set(PATTERNED) if system == "crm" else set())
        assert documented == served, system
