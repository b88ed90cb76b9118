"""GraphiQL against the real gateway in headless Chromium, offline: the page loads only from the
gateway, takes a token in its header editor and answers a screen-pop with sandbox data; the
demo's page starts each run with that run's headers, and a refused token says what to do."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Locator, Page, expect
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import demo_config
from gateway.http.graphiql import render_graphiql_html
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.observability.audit import AuditLog
from sources.sandbox.server import background_server
from tests.support.canary import canary_sandbox

from ..browser import (
    Chromium,
    chromium_session,
    graphiql_page,
    headers_editor,
    query_editor,
    replace_text,
    run_query,
)
from .conftest import HASH_KEY, Gateway

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


def test_graphiql_with_an_invalid_token_shows_the_refusal_and_how_to_get_fresh_headers(
    chromium: Chromium, gateway: Gateway, sample: list[dict[str, Any]]
) -> None:
    bogus = {"Authorization": "Bearer not-a-token"}
    stored = {"Authorization": f"Bearer {gateway.token}"}
    with graphiql_page(chromium, f"{gateway.url}/graphql", stored_headers=stored) as (page, seen):
        result = run_query(page, f'{{ customer(id: "{sample[0]["id"]}") {{ fullName }} }}', bogus)
        expect(result).to_contain_text("invalid token")
        expect(result).to_contain_text("the token is invalid or expired")
        expect(result).to_contain_text("Copy fresh headers from the terminal running")
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


# --- the demo's page across a restart (issue #11, item 3) ---

STALE = "Bearer token-of-an-earlier-demo-run"


class DemoRun:
    """One run of the demo: a fresh sandbox (a new signing key, as every `python3 dev.py demo`
    has) and a gateway whose GraphiQL page starts with this run's headers. The gateway listens on
    a fixed port: a restart keeps the page's origin, and with it the browser's localStorage."""

    def __init__(self, port: int, sub: str) -> None:
        self.stack = ExitStack()
        try:
            sandbox = self.stack.enter_context(canary_sandbox(seed=7, customers=200))
            minted = httpx.post(f"{sandbox}/idp/token", data={"sub": sub, "roles": "supervisor"})
            self.headers = {"Authorization": f"Bearer {minted.json()['access_token']}"}
            self.customer_id: str = httpx.get(f"{sandbox}/_sandbox/sample").json()["customers"][0][
                "id"
            ]
            app = demo_app(sandbox, self.headers)
            config = uvicorn.Config(
                app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name=f"run:{port}", daemon=True)
            thread.start()
            self.stack.callback(thread.join)
            self.stack.callback(setattr, server, "should_exit", True)
            while not server.started:
                assert thread.is_alive(), "the gateway did not start"
                time.sleep(0.02)
        except BaseException:
            self.stack.close()
            raise

    def stop(self) -> None:
        self.stack.close()


def demo_app(sandbox_url: str, headers: dict[str, str]) -> Starlette:
    """A gateway as `python3 dev.py demo` builds it: GraphiQL pre-filled with one run's headers."""
    raw = demo_config(0, int(sandbox_url.rsplit(":", 1)[1]))
    raw["trusted_documents"] = {"roles": []}
    raw["rate_limit"] = {"enabled": False}
    guard = Guard(Policy.load(), Masker(HASH_KEY), AuditLog(lambda lines: None))
    return create_app(build_config(raw, env={}), guard=guard, ide_headers=json.dumps(headers))


def editor_text(page: Page) -> str:
    text: str = headers_editor(page).evaluate("el => el.CodeMirror.getValue()")
    return text


def edit_headers(page: Page, headers: dict[str, str]) -> None:
    """Type `headers` into the header editor and wait until GraphiQL has stored them."""
    text = json.dumps(headers)
    replace_text(page, headers_editor(page), text)
    page.wait_for_function(
        "t => Object.keys(localStorage).some(k => (localStorage.getItem(k) || '').includes(t))",
        arg=json.dumps(text)[1:-1],
    )


def run_shown_query(page: Page, query: str) -> Locator:
    """Type `query`, keep the header editor as it is, click run; the result pane."""
    replace_text(page, query_editor(page), query)
    page.locator(".graphiql-execute-button").click()
    return page.locator(".graphiql-response .result-window")


def test_a_restarted_demo_s_headers_win_over_the_earlier_run_s(chromium: Chromium) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/graphql"
    run = DemoRun(port, "sup-0001")
    first_token = run.headers["Authorization"]
    try:
        with graphiql_page(chromium, url) as (page, _):
            assert first_token in editor_text(page)
            result = run_shown_query(page, f'{{ customer(id: "{run.customer_id}") {{ id }} }}')
            expect(result).to_contain_text(run.customer_id)
            # The person edits the headers; edits persist across this run's reloads.
            for timeout in ("1500", "1200"):
                edit_headers(page, {**run.headers, "X-Request-Timeout-Ms": timeout})
                page.reload()
                expect(headers_editor(page)).to_contain_text(f'"X-Request-Timeout-Ms": "{timeout}"')
            edit_headers(page, {**run.headers, "X-Request-Timeout-Ms": "1000"})

            # The demo restarts (a new sandbox key: the earlier run's tokens are refused) and the
            # person reloads the page: this run's headers are in the editor, and they work.
            run.stop()
            run = DemoRun(port, "sup-0002")
            page.reload()
            result = run_shown_query(page, f'{{ customer(id: "{run.customer_id}") {{ id }} }}')
            expect(result).to_contain_text(run.customer_id)
            expect(result).not_to_contain_text("invalid token")
            expect(headers_editor(page)).to_contain_text(run.headers["Authorization"])
            assert first_token not in editor_text(page)
            # the earlier run's storage is gone, not merely set aside
            kept = page.evaluate("() => JSON.stringify(Object.assign({}, localStorage))")
            assert first_token not in kept
    finally:
        run.stop()


def test_stale_headers_stored_before_do_not_win_on_the_demo_s_page(chromium: Chromium) -> None:
    """Headers kept where GraphiQL kept them before each run had a storage of its own."""
    with canary_sandbox(seed=7, customers=200) as sandbox:
        minted = httpx.post(f"{sandbox}/idp/token", data={"sub": "sup-3", "roles": "supervisor"})
        current = {"Authorization": f"Bearer {minted.json()['access_token']}"}
        customer_id = httpx.get(f"{sandbox}/_sandbox/sample").json()["customers"][0]["id"]
        stale = {"Authorization": STALE}
        with (
            background_server(demo_app(sandbox, current), lifespan="on") as origin,
            graphiql_page(chromium, f"{origin}/graphql", stored_headers=stale) as (page, _),
        ):
            result = run_shown_query(page, f'{{ customer(id: "{customer_id}") {{ id }} }}')
            expect(result).to_contain_text(customer_id)
            assert current["Authorization"] in editor_text(page)


def test_the_storage_namespace_follows_the_default_headers() -> None:
    """Same defaults (reloads within a run): same storage; new defaults (a new run): new
    storage; no defaults (a deployment where people paste their own token): GraphiQL's own."""

    def namespace(page: str) -> str:
        found = re.search(r'data-storage-namespace="([^"]*)"', page)
        assert found is not None
        return found.group(1)

    run = json.dumps({"Authorization": "Bearer a"})
    first = namespace(render_graphiql_html(default_headers=run))
    assert re.fullmatch(r"run-[0-9a-f]{16}", first)
    assert namespace(render_graphiql_html(default_headers=run)) == first
    assert namespace(render_graphiql_html(default_headers=run.replace("a", "b"))) != first
    assert namespace(render_graphiql_html()) == ""
