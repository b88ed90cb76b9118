"""What the pages the gateway serves itself share (GraphiQL, the reference agent desktop): a
strict Content-Security-Policy and a folder of local assets with cache headers.

Both pages load every script and style from the gateway's own origin, with no inline script or
style and no CDN, so they work offline and under the strictest policy a browser enforces.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["LocalAssets", "strict_csp"]

_VERSIONED = re.compile(r"-\d+\.\d+\.\d+[.-]")
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"


def strict_csp(*, default: str = "'self'", extra: Sequence[str] = ()) -> str:
    """A Content-Security-Policy value: scripts and styles from the page's own origin only (no
    'unsafe-inline', no 'unsafe-eval'), fetch and WebSocket to that origin only (CSP Level 3
    'self' also matches ws:/wss:), no plugins, no <base>, no form posts, no framing. `extra`
    directives (a page's img-src, font-src) come after style-src."""
    return "; ".join(
        (
            f"default-src {default}",
            "script-src 'self'",
            "style-src 'self'",
            *extra,
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


class LocalAssets(StaticFiles):
    """A folder of assets. File names that carry a version (`react-18.2.0.production.min.js`)
    may be cached forever; the others (a page's own scripts) are revalidated on every load by
    their ETag (`no-cache`: a 304 when unchanged), so an upgraded gateway never runs a stale
    script. `nosniff` keeps a browser from running a file as anything but its type."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = _VERSIONED.search(os.path.basename(full_path))
        response.headers["Cache-Control"] = _IMMUTABLE if versioned else _REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
