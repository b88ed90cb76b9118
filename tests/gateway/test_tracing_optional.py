"""Tracing is an optional extra: without OpenTelemetry installed the gateway imports, starts
and serves; with it installed but not configured, not one OpenTelemetry module is imported
(the hot path makes no span). Each case runs in a fresh interpreter, a real sandbox and
gateway on 127.0.0.1, so what is imported is what serving needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVE = textwrap.dedent(
    """
    import asyncio, importlib.abc, logging, os, sys
    import httpx

    class Hidden(importlib.abc.MetaPathFinder):
        # as if the [otel] extra were not installed
        def find_spec(self, name, path, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    if os.environ.get("HIDE_OTEL"):
        sys.meta_path.insert(0, Hidden())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    from gateway.app import create_app
    from gateway.config import build_config
    from gateway.demo import demo_config
    from gateway.settings_env import ConfigError
    from sources.sandbox import running
    from sources.sandbox.client import mint_token, sample_customers
    from sources.sandbox.server import background_server

    QUERY = "query($p: String!) { findCustomers(phone: $p) { id accounts { id } } }"
    with running(customers=50) as sandbox:
        port = int(sandbox.rsplit(":", 1)[1])
        raw = demo_config(0, port)
        raw["rate_limit"] = {"enabled": False}
        env = {k: v for k, v in os.environ.items() if k.startswith("OTEL_")}
        app = create_app(build_config(raw, env=env))
        token = asyncio.run(mint_token(sandbox, sub="a-1", roles=["fraud_analyst"]))
        phone = asyncio.run(sample_customers(sandbox, 1))[0]["phones"][0]
        with background_server(app) as gateway:
            answer = httpx.post(
                gateway + "/graphql",
                json={"query": QUERY, "variables": {"p": phone}},
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            ).json()
        print("served", "errors" not in answer and bool(answer["data"]["findCustomers"]))
        print("imported", sorted(m for m in sys.modules if m.startswith("opentelemetry"))[:3])
        raw["telemetry"] = {"otlp_endpoint": "http://127.0.0.1:9"}
        try:
            create_app(build_config(raw, env={}))
            print("configured: started")
        except ConfigError as exc:
            print("configured:", exc)
    """
)


def _serve(env: dict[str, str]) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", SERVE],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_without_the_extra_the_gateway_serves_and_says_what_is_missing() -> None:
    out, err = _serve({"HIDE_OTEL": "1", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert "served True" in out
    # the platform's variable alone: a warning, and the gateway runs untraced
    assert "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed" in err
    # the gateway's own setting: refused at start-up, with the fix
    assert "configured: [telemetry] otlp_endpoint is set but OpenTelemetry is not installed" in out
    assert "pip install 'switchboard[otel]'" in out
    assert "imported []" in out


def test_with_tracing_off_no_opentelemetry_module_is_imported() -> None:
    out, _ = _serve({})
    assert "served True" in out
    assert "imported []" in out
