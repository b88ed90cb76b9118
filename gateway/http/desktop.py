"""The reference agent desktop (issue #17): `GET /desktop`, in the development profile only.

A page a desktop team can read in an afternoon and copy: plain HTML, a few ES modules and one
stylesheet from ``gateway/http/static/desktop/`` (no framework, no build step, no CDN), under
a strict Content-Security-Policy (gateway/http/pages.py). It talks to the gateway only: the
agent's `screenPops` over SSE (`POST /graphql/stream`), queries and the wrap-up mutation over
`POST /graphql`. docs/desktop.md says what it shows and how to copy it.

- ``GET /desktop``: the page. The configured disposition codes (`[writes] disposition_codes`:
  the schema has no query for them) reach it as a data-* attribute, never as inline script.
- ``GET /desktop/static/…``: its assets, revalidated by ETag on every load.
- ``GET /desktop/demo-tokens.json``: the role picker's tokens, only when ``switchboard demo``
  made the app (gateway/demo.py passes the tokens its banner prints); 404 anywhere else. A real
  deployment hands the page its own OIDC token (``/desktop#token=…``, or pasted).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from gateway.http.pages import LocalAssets, strict_csp

__all__ = ["ASSETS_DIR", "PATH", "DemoRole", "csp_header", "desktop_routes", "render_desktop_html"]

PATH = "/desktop"
ASSETS_DIR = Path(__file__).parent / "static" / "desktop"

# Nothing is allowed that the page does not use: default 'none', then its own scripts, styles
# and favicon, and fetch to the gateway (connect-src 'self'). The page builds its DOM with
# textContent and createElement only; Trusted Types enforce that no string ever reaches an
# HTML sink (innerHTML, document.write), so a value from a back end cannot become markup.
_CSP = strict_csp(
    default="'none'",
    extra=("img-src 'self'", "require-trusted-types-for 'script'", "trusted-types 'none'"),
)
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # a suggested article's link leaves the gateway; it need not say where from
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class DemoRole:
    """One entry of the demo's role picker: a token the demo minted for its banner."""

    role: str
    subject: str
    label: str
    token: str


def csp_header() -> str:
    """The Content-Security-Policy the desktop page is served with."""
    return _CSP


def render_desktop_html(*, disposition_codes: Sequence[str], demo: bool) -> str:
    """The page's skeleton; desktop.js fills it. Configuration rides on data-* attributes."""
    codes = html.escape(" ".join(disposition_codes))
    prefix = f"{PATH}/static"
    # S608 mistakes "<select" for SQL; every interpolated value here is escaped or ours
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Switchboard agent desktop</title>
    <link rel="icon" type="image/svg+xml" href="{prefix}/favicon.svg">
    <link rel="stylesheet" href="{prefix}/desktop.css">
    <script type="module" src="{prefix}/desktop.js"></script>
  </head>
  <body data-disposition-codes="{codes}" data-demo="{"true" if demo else "false"}">
    <header class="bar">
      <h1>Switchboard agent desktop</h1>
      <div role="status" data-testid="connection" data-state="connecting">Not signed in</div>
      <p data-testid="signed-in" hidden></p>
      <button type="button" id="sign-out" hidden>Sign out</button>
    </header>
    <main>
      <form aria-label="Sign in" id="sign-in">
        <h2>Sign in</h2>
        <p class="demo-only" hidden>
          <label for="role">Role</label>
          <select id="role"></select>
        </p>
        <p>
          <label for="token">Token</label>
          <textarea id="token" rows="3" spellcheck="false" autocomplete="off"
                    placeholder="An access token (JWT) from your identity provider"></textarea>
        </p>
        <button type="submit">Sign in</button>
        <p role="alert" id="sign-in-error"></p>
      </form>
      <div id="desk" hidden>
        <section aria-label="Screen pop" data-state="idle" id="card" tabindex="-1"></section>
        <form aria-label="Wrap-up" id="wrap-up" hidden>
          <h2>Wrap-up</h2>
          <p>
            <label for="disposition">Disposition</label>
            <select id="disposition"></select>
          </p>
          <p>
            <label for="note">Note</label>
            <textarea id="note" rows="3" maxlength="2000"></textarea>
          </p>
          <button type="submit">Save wrap-up</button>
          <p>Status: <output data-testid="write-status" id="write-status"></output></p>
          <p role="alert" id="write-error"></p>
        </form>
      </div>
    </main>
  </body>
</html>
"""  # noqa: S608


def desktop_routes(
    disposition_codes: Sequence[str], demo_roles: Sequence[DemoRole] | None = None
) -> list[BaseRoute]:
    """The page, its assets and (inside `switchboard demo` only) the role picker's tokens.
    The caller adds them in the development profile only."""
    page = render_desktop_html(disposition_codes=disposition_codes, demo=demo_roles is not None)

    async def desktop(request: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": _CSP, **_PAGE_HEADERS})

    routes: list[BaseRoute] = [Route(PATH, desktop, methods=["GET"])]
    if demo_roles is not None:
        roles = {"roles": [asdict(role) for role in demo_roles]}

        async def demo_tokens(request: Request) -> Response:
            # tokens: never cached, never sniffed; same-origin reads only (no CORS headers)
            return JSONResponse(
                roles, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
            )

        routes.append(Route(f"{PATH}/demo-tokens.json", demo_tokens, methods=["GET"]))
    routes.append(Mount(f"{PATH}/static", app=LocalAssets(ASSETS_DIR)))
    return routes
