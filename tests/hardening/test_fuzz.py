"""Fuzzing over real HTTP, once per role, with queries generated from the SDL
(hypothesis-graphql; seeded and bounded): valid ones and one-violation ones. Whatever comes
in: no 5xx, no internal error, no traceback, no back-end URL in the answer."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, queries

from schema import build_schema

from .conftest import ROLES, Production

SDL = build_schema().as_str()
FUZZ = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def check(production: Production, role: str, query: str) -> None:
    response = httpx.post(
        f"{production.url}/graphql",
        json={"query": query},
        headers={"authorization": f"Bearer {production.tokens[role]}"},
        timeout=30,
    )
    assert response.status_code < 500, response.text
    text = response.text
    assert "Traceback" not in text and "127.0.0.1" not in text and "sandbox" not in text
    for error in response.json().get("errors", []):
        assert error.get("extensions", {}).get("code") != "INTERNAL", error


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
def test_generated_queries_never_break_the_gateway(
    production: Production, role: str, mode: Mode
) -> None:
    @FUZZ
    @given(query=queries(SDL, mode=mode) | st.just("{ __typename }"))
    def fuzz(query: str) -> None:
        check(production, role, query)

    fuzz()
