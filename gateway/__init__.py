"""Switchboard's service: the ASGI app, its configuration and the command line.

    from gateway import create_app, load_config
    app = create_app(load_config("switchboard.toml"))

The folders say what each part is, in the order a request meets them: `http` (the view,
middleware, GraphiQL, the internal port), `auth` (JWT -> Principal), `limits` (what one operation
may ask, checked before any back-end call), `execution` (compiled plans and the standard
executor), `masking` (who sees what, per request) and `observability` (audit, errors, codes,
metrics). docs/architecture.md walks one request through them.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:  # the names a reader imports, for type checkers; loaded lazily
    from gateway.app import create_app
    from gateway.config import Config, load_config

__all__ = ["Config", "create_app", "load_config"]


def __getattr__(name: str) -> typing.Any:
    # lazy: importing one part (gateway.config, say) must not build the whole app
    if name == "create_app":
        from gateway.app import create_app

        return create_app
    if name in ("Config", "load_config"):
        from gateway import config

        return getattr(config, name)
    raise AttributeError(f"module 'gateway' has no attribute {name!r}")
