"""GraphiQL against the real gateway in headless Chromium, offline: the page loads only from the
gateway, takes a token in its header editor and answers a screen-pop with sandbox data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ..browser import Chromium, chromium_session, graphiql_page, run_query
from .conftest import Gateway

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    with chromium_session() as launcher:
        yield launcher


def test_graphiql_answers_a_screen_pop_with_the_pasted_token(
    chromium: Chromium, gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    customer = sample[0]
    headers = {"Authorization": f"Bearer {gateway.token}"}
    phone = customer["phones"][0]
    query = f'{{ findCustomers(phone: "{phone}") {{ id fullName accounts {{ type }} }} }}'
    # The token is in the header editor from the first load (as after an earlier paste), so
    # GraphiQL's schema fetch is authenticated too and the page logs no error.
    with graphiql_page(chromium, f"{gateway.url}/graphql", stored_headers=headers) as (page, seen):
        result = run_query(page, query, headers)
        expect(result).to_contain_text(customer["id"])
        expect(result).to_contain_text('"accounts"')
    assert any(u.endswith("/graphql") for u in seen.requests)


def test_graphiql_without_a_token_shows_the_refusal_not_data(
    chromium: Chromium, gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    bogus = {"Authorization": "Bearer not-a-token"}
    stored = {"Authorization": f"Bearer {gateway.token}"}
    with graphiql_page(chromium, f"{gateway.url}/graphql", stored_headers=stored) as (page, seen):
        result = run_query(page, f'{{ customer(id: "{sample[0]["id"]}") {{ fullName }} }}', bogus)
        expect(result).to_contain_text("invalid token")
        expect(result).not_to_contain_text(sample[0]["id"])
        # the browser logs the 401 itself; that one is expected
        seen.errors[:] = [e for e in seen.errors if "401" not in e]


def test_switching_the_token_in_graphiql_changes_what_is_masked(
    chromium: Chromium, gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    raw = sample[3]
    query = f'{{ customer(id: "{raw["id"]}") {{ ssn }} }}'
    # playwright's sync API owns this thread's event loop: mint with a plain blocking call
    minted = httpx.post(
        f"{gateway.sandbox}/idp/token", data={"sub": "dev-0001", "roles": "developer"}
    )
    developer = minted.json()["access_token"]
    analyst = {"Authorization": f"Bearer {gateway.token}"}
    with graphiql_page(chromium, f"{gateway.url}/graphql", stored_headers=analyst) as (page, _):
        expect(run_query(page, query, analyst)).to_contain_text("***-**-" + raw["ssn"][-4:])
        redacted = run_query(page, query, {"Authorization": f"Bearer {developer}"})
        expect(redacted).to_contain_text("***-**-****")
        expect(redacted).not_to_contain_text(raw["ssn"][-4:])
