"""GraphiQL served from Switchboard itself: no CDN, no inline script, a header editor.

Strawberry's built-in page loads GraphiQL and React from unpkg.com, which fails on
offline or air-gapped agent desktops and under a strict Content-Security-Policy.
This module renders an equivalent page whose every asset comes from
``gateway/http/static/graphiql/`` (vendored by ``scripts/vendor_graphiql.sh``; versions
and sha256 in its MANIFEST.txt). Usage::

    class Gateway(GraphQL):
        async def render_graphql_ide(self, request: Request) -> Response:
            return HTMLResponse(
                render_graphiql_html(), headers={"Content-Security-Policy": csp_header()}
            )

    routes = [..., Mount("/_graphiql", app=graphiql_assets_app())]
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

from starlette.staticfiles import StaticFiles

from gateway.http.pages import LocalAssets, strict_csp

__all__ = ["ASSETS_DIR", "csp_header", "graphiql_assets_app", "render_graphiql_html"]

ASSETS_DIR = Path(__file__).parent / "static" / "graphiql"

# Vendored file names carry their package version, so they may be cached forever;
# our own boot.js / boot.css / favicon.svg are revalidated (ETag) on every load.
_STYLESHEETS = ("graphiql-3.8.3.min.css", "plugin-explorer-1.0.2.css", "boot.css")
_SCRIPTS = (
    "react-18.2.0.production.min.js",
    "react-dom-18.2.0.production.min.js",
    "graphiql-3.8.3.min.js",
    "plugin-explorer-1.0.2.umd.js",
    "boot.js",
)
PLACEHOLDER_HEADERS = '{"Authorization": "Bearer <paste a token>"}'
# The page needs, beyond gateway/http/pages.py's strict policy: the data: fonts and PNGs
# embedded in graphiql.min.css.
_CSP = strict_csp(extra=("img-src 'self' data:", "font-src 'self' data:"))


def csp_header() -> str:
    """Content-Security-Policy value the page from render_graphiql_html() works under.

    Assumes the GraphQL endpoint is on the page's own origin.
    """
    return _CSP


def render_graphiql_html(
    *,
    endpoint: str = "/graphql",
    assets_prefix: str = "/_graphiql",
    default_headers: str | None = None,
    title: str = "Switchboard",
) -> str:
    """The GraphiQL page: local assets only, header editor open, headers persisted.

    Without ``default_headers`` the header editor starts with a placeholder and what the user
    pastes is kept in the browser's localStorage for every later visit. With them (the demo's
    freshly minted tokens), the page's storage is namespaced by a digest of those headers:
    edits persist across reloads while the defaults stay the same, but new defaults (a
    restarted demo, whose signing key is new) start from a clean editor instead of the earlier
    run's tokens, which the new key no longer accepts. Configuration reaches boot.js through
    data-* attributes, so the page carries no inline script.
    """
    namespace = ""
    if default_headers is None:
        default_headers = PLACEHOLDER_HEADERS
    else:
        namespace = "run-" + hashlib.sha256(default_headers.encode()).hexdigest()[:16]
    prefix = html.escape(assets_prefix.rstrip("/"))
    links = "\n".join(f'    <link rel="stylesheet" href="{prefix}/{n}">' for n in _STYLESHEETS)
    scripts = "\n".join(f'    <script src="{prefix}/{n}"></script>' for n in _SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{html.escape(title)}</title>
    <link rel="icon" type="image/svg+xml" href="{prefix}/favicon.svg">
{links}
  </head>
  <body>
    <div id="graphiql" data-endpoint="{html.escape(endpoint)}"
         data-default-headers="{html.escape(default_headers)}"
         data-storage-namespace="{namespace}">Loading…</div>
{scripts}
  </body>
</html>
"""


def graphiql_assets_app() -> StaticFiles:
    """ASGI app serving the vendored assets; mount it at render_graphiql_html's prefix."""
    return LocalAssets(ASSETS_DIR)
