"""Stand-ins for the systems Switchboard federates (CRM, core banking, CCaaS, knowledge base,
an OIDC issuer), served over real HTTP so tests and benchmarks exercise the real client code.

The contract is docs/sandbox.md. Nothing here may import the gateway: the sandbox plays the
other side of the wire.
"""

from __future__ import annotations

from .app import SandboxApp, create_app
from .server import background_server, running, serve

__all__ = ["SandboxApp", "background_server", "create_app", "running", "serve"]
