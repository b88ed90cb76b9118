"""The compose demo's secrets and configuration, made when the demo starts, never in the image.

`docker compose up` runs this first (service `demo-init`, the gateway's image, stdlib only): it
writes into the shared volume mounted at /run/switchboard

- `webhook-secret`: a fresh `whsec_` key the sandbox signs its webhooks with;
- `switchboard.toml`: the gateway's configuration for the compose network (the sandbox as
  every system and the IdP, Redis for events and rate limits, that webhook secret, a random
  `[policy] hash_key`), readable by the gateway's user only.

Each `docker compose up` makes new ones: nothing outlives the demo, nothing is baked in.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

SYSTEMS = ("crm", "core", "ccaas", "knowledge")
WEBHOOK_SYSTEMS = ("ccaas", "crm", "core")
SANDBOX = "http://sandbox:8001"
PUBLIC_SANDBOX = "http://localhost:8001"
"""Where a browser or curl on the host mints tokens: their `iss` (docs/deployment.md)."""
REDIS = "redis://redis:6379/0"


def demo_toml(webhook_secret: str, hash_key: str) -> str:
    sources = "".join(f'[sources.{s}]\nbase_url = "{SANDBOX}/{s}"\n\n' for s in SYSTEMS)
    webhooks = "".join(
        f'[webhooks.{s}]\nsecrets = ["{webhook_secret}"]\n\n' for s in WEBHOOK_SYSTEMS
    )
    return f"""# made by deploy/compose/demo_init.py when the demo started
[server]
host = "0.0.0.0"
port = 8000
admin_host = "0.0.0.0"
admin_port = 8090
profile = "development"
drain_seconds = 20

[auth]
issuer = "{PUBLIC_SANDBOX}/idp"
audience = "switchboard"
jwks_url = "{SANDBOX}/idp/.well-known/jwks.json"

[policy]
hash_key = "{hash_key}"

[events]
redis_url = "{REDIS}"

[rate_limit]
redis_url = "{REDIS}"

{sources}{webhooks}"""


def main(folder: str = "/run/switchboard") -> int:
    out = Path(folder)
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    hash_key = secrets.token_urlsafe(32)
    for name, text in (
        ("webhook-secret", webhook_secret),
        ("switchboard.toml", demo_toml(webhook_secret, hash_key)),
    ):
        path = out / name
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    print(f"demo secrets and configuration written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
