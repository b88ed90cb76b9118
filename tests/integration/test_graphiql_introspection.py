"""GraphiQL loads the schema from the real gateway (development profile) in headless Chromium:
its introspection query passes the limits, so the Docs panel and autocomplete work: what a
person sees, not only that the page loads (issue #11, item 1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from ..browser import Chromium, chromium_session, graphiql_page, query_editor, replace_text
from .conftest import Gateway

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    with chromium_session() as launcher:
        yield launcher


def test_the_docs_panel_lists_the_schema_and_autocomplete_offers_its_fields(
    chromium: Chromium, gateway: Gateway
) -> None:
    headers = {"Authorization": f"Bearer {gateway.token}"}
    with graphiql_page(chromium, f"{gateway.url}/graphql", stored_headers=headers) as (page, _):
        page.get_by_role("button", name="Show Documentation Explorer").click()
        docs = page.locator(".graphiql-doc-explorer")
        expect(docs).to_contain_text("All Schema Types")
        expect(docs.get_by_text("Customer", exact=True).first).to_be_visible()

        editor = query_editor(page)
        replace_text(page, editor, '{ customer(id: "1") { ')
        page.keyboard.press("End")
        page.keyboard.type("full")
        hints = page.locator(".CodeMirror-hints")
        expect(hints).to_contain_text("fullName")
