"""The reference agent desktop's server side (gateway/http/desktop.py, issue #17): the page in
the development profile only, under its exact CSP, with local assets only; the role picker's
tokens inside `switchboard demo` only. The page's behaviour in a browser: tests/desktop/."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.sync_api import expect

from gateway.app import create_app
from gateway.config import build_config
from gateway.demo import DEMO_ROLES, demo_config
from gateway.http.desktop import ASSETS_DIR, DemoRole

from ..browser import chromium_session, graphiql_page

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "require-trusted-types-for 'script'; trusted-types 'none'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ROLES = [DemoRole(role="agent", subject="agent-0001", label="agent", token="t.o.k")]
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # an XML namespace name, never fetched


def _app(profile: str, demo_roles: list[DemoRole] | None = None, **writes: Any) -> Any:
    raw = demo_config(0, 9)  # no back end is called: port 9 (discard) stays unused
    raw["server"]["profile"] = profile
    raw["writes"].update(writes)
    return create_app(build_config(raw, env={}), demo_roles=demo_roles)


@pytest.fixture
async def development() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app("development"))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        yield http


def _assets() -> list[Path]:
    return sorted(p for p in ASSETS_DIR.rglob("*") if p.is_file())


async def test_the_page_is_served_in_development_under_an_exact_strict_csp(
    development: httpx.AsyncClient,
) -> None:
    page = await development.get("/desktop")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == EXPECTED_CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    # no inline script or style: every script has a src, no <style>, no style= or on*= attribute
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    assert "<style" not in page.text and " style=" not in page.text
    assert re.search(r"\son[a-z]+=", page.text) is None
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert referenced and all(url.startswith("/desktop/static/") for url in referenced)
    for url in referenced:
        assert (await development.get(url)).status_code == 200, url


async def test_the_page_and_its_assets_are_404_in_production() -> None:
    # even when handed demo tokens: a production gateway has no desktop and no role picker
    app = _app("production", demo_roles=ROLES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as h:
        answers = {
            path: (await h.get(path)).status_code
            for path in (
                "/desktop",
                "/desktop/",
                "/desktop/static/desktop.js",
                "/desktop/static/desktop.css",
                "/desktop/demo-tokens.json",
            )
        }
    assert answers == dict.fromkeys(answers, 404)


async def test_assets_are_revalidated_by_etag_with_their_types(
    development: httpx.AsyncClient,
) -> None:
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    assets = _assets()
    assert {p.suffix for p in assets} <= set(types)
    for path in assets:
        url = f"/desktop/static/{path.relative_to(ASSETS_DIR).as_posix()}"
        first = await development.get(url)
        assert first.status_code == 200, url
        assert first.headers["content-type"].startswith(types[path.suffix]), url
        assert first.headers["cache-control"] == "no-cache"  # an upgrade is never stale
        assert first.headers["x-content-type-options"] == "nosniff"
        again = await development.get(url, headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304, url


def test_no_asset_names_an_external_url_or_builds_markup_from_strings() -> None:
    assets = _assets()
    assert {p.name for p in assets} >= {"desktop.js", "desktop.css", "graphql.js"}
    for path in assets:
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
        assert re.findall(r"https?://|//[a-z0-9-]+\.[a-z]", text, re.IGNORECASE) == [], path
        assert "@import" not in text and "url(" not in text, path
        if path.suffix == ".js":
            # the CSP's Trusted Types would refuse these at run time; keep them out of the code
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
                assert sink not in text, (path, sink)
            assert re.search(r"\beval\(|new Function\(", text) is None, path


async def test_demo_tokens_are_404_outside_the_demo(development: httpx.AsyncClient) -> None:
    assert (await development.get("/desktop/demo-tokens.json")).status_code == 404
    page = await development.get("/desktop")
    assert 'data-demo="false"' in page.text


async def test_demo_tokens_are_served_uncached_when_the_demo_made_the_app() -> None:
    app = _app("development", demo_roles=ROLES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as h:
        answer = await h.get("/desktop/demo-tokens.json")
        page = await h.get("/desktop")
    assert answer.status_code == 200
    assert answer.json() == {
        "roles": [{"role": "agent", "subject": "agent-0001", "label": "agent", "token": "t.o.k"}]
    }
    assert answer.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in answer.headers
    assert 'data-demo="true"' in page.text


async def test_the_configured_disposition_codes_reach_the_page_escaped() -> None:
    app = _app("development", disposition_codes=["RESOLVED", "CALL_BACK", 'X"><b>'])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as h:
        page = await h.get("/desktop")
    assert 'data-disposition-codes="RESOLVED CALL_BACK X&quot;&gt;&lt;b&gt;"' in page.text


# --- inside `switchboard demo`, over real sockets ---


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port: int = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port pair")


@contextmanager
def _running_demo(folder: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """A `switchboard demo` (no background calls): its URL, its banner, its process."""
    port = _free_port_pair()
    out = folder / "out.txt"
    command = [sys.executable, "-m", "gateway", "demo", "--port", str(port)]
    command += ["--customers", "200", "--calls-every", "0"]
    sink = out.open("w")
    with sink, subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=sink) as run:
        try:
            deadline = time.monotonic() + 60
            while "Application startup complete" not in out.read_text():
                assert run.poll() is None and time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}", out.read_text(), run
        finally:
            if run.poll() is None:
                run.terminate()
            try:
                run.wait(timeout=30)
            except subprocess.TimeoutExpired:
                run.kill()
                raise


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with _running_demo(tmp_path_factory.mktemp("demo")) as (url, banner, _):
        yield url, banner


def test_the_demo_hands_its_banner_tokens_to_the_role_picker(demo: tuple[str, str]) -> None:
    url, banner = demo
    roles = httpx.get(f"{url}/desktop/demo-tokens.json").json()["roles"]
    assert [(r["role"], r["subject"], r["label"]) for r in roles] == [
        (role, sub, label) for label, sub, role in DEMO_ROLES
    ]
    for role in roles:
        assert role["token"] in banner  # the very tokens the banner prints
        claims = jwt.decode(role["token"], options={"verify_signature": False})
        assert claims["sub"] == role["subject"] and claims["roles"] == [role["role"]]
    assert f"Agent desktop at {url}/desktop" in banner


@pytest.mark.browser
def test_the_page_loads_and_signs_in_under_its_csp_without_console_errors(
    demo: tuple[str, str],
) -> None:
    url, _ = demo
    with chromium_session() as chromium, graphiql_page(chromium, f"{url}/desktop") as (page, seen):
        expect(page.get_by_label("Role")).to_have_value("agent")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_test_id("signed-in")).to_contain_text("agent-0001")
        connection = page.locator('[role="status"][data-testid="connection"]')
        expect(connection).to_have_attribute("data-state", "live")
        expect(page.locator('section[aria-label="Screen pop"]')).to_have_attribute(
            "data-state", "idle"
        )
        expect(page.get_by_label("Disposition").locator("option")).to_have_count(6)
    # graphiql_page (tests/browser.py) also asserted: nothing left the page's origin, no
    # console or page error (a CSP violation is one)
    assert any(u.endswith("/desktop/static/desktop.js") for u in seen.requests)


def test_the_demo_stops_on_sigterm_with_a_desktop_stream_open(tmp_path: Path) -> None:
    # the desktop's screenPops stream is told to resume elsewhere and ends, as under `switchboard
    # serve`; before, uvicorn waited for it and the demo never stopped
    with _running_demo(tmp_path) as (url, _, run):
        token = httpx.get(f"{url}/desktop/demo-tokens.json").json()["roles"][0]["token"]
        body = {"query": "subscription { screenPops { cursor } }"}
        headers = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
        with httpx.stream("POST", f"{url}/graphql/stream", json=body, headers=headers) as stream:
            assert stream.status_code == 200
            run.send_signal(signal.SIGTERM)
            said = b"".join(stream.iter_bytes())
        assert b"reconnect with Last-Event-ID" in said
        assert run.wait(timeout=20) == 0


# the card's own rendering (gateway/http/static/desktop/card.js), driven in the page itself
RECOVERY = """async () => {
  const card = await import("/desktop/static/card.js");
  const section = document.querySelector('section[aria-label="Screen pop"]');
  const customer = {
    id: "003A", fullName: "Ann Lee", segment: "MASS", preferredLanguage: "en",
    dateOfBirth: null, phones: [], risk: null, accounts: null, cards: [], cases: [],
    journey: null, suggestedArticles: [],
  };
  const pop = (event, data) => ({
    cursor: "c", event, missed: false, customers: [data],
    interaction: { id: "i-1", state: "CONNECTED", channel: "VOICE", idvResult: "PASSED" },
  });
  const down = { message: "core is unavailable", path: ["screenPops", "customers", 0, "accounts"],
                 extensions: { code: "SOURCE_UNAVAILABLE", source: "core" } };
  const hidden = { message: "no", path: ["screenPops", "customers", 0, "dateOfBirth"],
                   extensions: { code: "FORBIDDEN_FIELD", unlock: "VERIFIED_INTERACTION" } };
  let view = card.fromPop(card.emptyView(), pop("CONNECTED", customer), { errors: [down, hidden] });
  card.renderCard(section, view);
  const retry = section.querySelector('button[data-action="retry"]');
  const born = section.querySelector('[data-field="dateOfBirth"]');
  const masked = born.dataset.masked;
  const verified = { ...customer, dateOfBirth: "1980-01-02",
    accounts: [{ id: "a", type: "CHECKING", productName: "Checking", status: "ENABLED",
                 currency: "USD", accountNumber: "****1234", balance: "10.00" }] };
  view = card.fromPop(view, pop("VERIFIED", verified), { errors: [] });
  card.renderCard(section, view);
  return {
    hadRetry: retry !== null,
    retryGone: section.querySelector('button[data-action="retry"]') === null,
    accounts: section.querySelectorAll('section[aria-label="Accounts"] tbody tr').length,
    sameElement: section.querySelector('[data-field="dateOfBirth"]') === born,
    masked: [masked, born.dataset.masked, born.textContent],
    state: section.dataset.state,
    core: section.querySelector('[data-source="core"]').dataset.status,
  };
}"""


@pytest.mark.browser
def test_the_card_keeps_its_parts_and_unmasks_in_place_when_a_system_recovers(
    demo: tuple[str, str],
) -> None:
    # a part that goes away (the Retry button, once core answers again) must not take the
    # parts after it along: the card's details stayed empty after core came back
    url, _ = demo
    with chromium_session() as chromium, graphiql_page(chromium, f"{url}/desktop") as (page, _):
        seen = page.evaluate(RECOVERY)
    assert seen == {
        "hadRetry": True,
        "retryGone": True,
        "accounts": 1,
        "sameElement": True,
        "masked": ["true", "false", "1980-01-02"],
        "state": "verified",
        "core": "ok",
    }
