from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import demo_config, main
from gateway.config import ConfigError, ServerSettings, build_config, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "switchboard.example.toml"


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.auth.issuers[0].audience == "switchboard"
    assert config.sources["core"].base_url == "https://core.internal/open-banking"
    assert config.sources["core"].max_batch == 200
    assert config.server.graphiql is False


def test_env_overrides_win_and_are_typed() -> None:
    env = {
        "SWITCHBOARD_AUTH_ISSUER": "https://other",
        "SWITCHBOARD_SOURCES_CORE_MAX_BATCH": "50",
        "SWITCHBOARD_SERVER_GRAPHIQL": "true",
        "SWITCHBOARD_SERVER_INTROSPECTION_ROLES": "developer, supervisor",
        "SWITCHBOARD_AUTH_ALGORITHMS": "ES256",
    }
    config = load_config(EXAMPLE, env=env)
    assert config.auth.issuers[0].issuer == "https://other"
    assert config.sources["core"].max_batch == 50
    assert config.server.graphiql is True
    assert config.server.introspection_roles == ("developer", "supervisor")
    assert config.auth.issuers[0].algorithms == ("ES256",)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"srever": {}}, "unknown section"),
        ({"auth": {"issuer": "x", "audience": "y"}}, "missing key(s): jwks_url"),
        (
            {"auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z", "leway": 3}},
            "unknown key(s): leway",
        ),
        (
            {"auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z", "leeway": "lots"}},
            "auth.leeway must be a number",
        ),
        (
            {
                "auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z"},
                "sources": {"erp": {}},
            },
            "unknown source(s): erp",
        ),
        (
            {
                "server": {"execution": "jit"},
                "auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z"},
            },
            "execution must be one of compiled, standard",
        ),
        (
            {
                "server": {"header_timeout_seconds": 0},
                "auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z"},
            },
            "[server] header_timeout_seconds and body_timeout_seconds must be > 0",
        ),
        (
            {
                "server": {"max_connections": 1},
                "auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z"},
            },
            "[server] max_connections must be at least 2",
        ),
        (
            {
                "server": {"port": 8000, "admin_port": 8000},
                "auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z"},
            },
            "[server] admin_port must be a port other than port",
        ),
        (
            {
                "auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z"},
                "sources": {
                    **{n: {"base_url": "https://a"} for n in ("crm", "ccaas", "knowledge")},
                    "core": {"base_url": "https://a", "health_path": "https://b/x"},
                },
            },
            "health_path must be a path relative to base_url",
        ),
    ],
)
def test_bad_config_fails_with_the_key_named(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(raw, env={})
    assert message in str(caught.value)


def test_several_issuers_and_refused_algorithms() -> None:
    primary = {"issuer": "https://a", "audience": "sb", "jwks_url": "https://a/jwks"}
    partner = {"issuer": "https://b", "audience": "api://sb", "jwks_url": "https://b/keys"}
    sources = {n: {"base_url": f"http://{n}"} for n in ("crm", "core", "ccaas", "knowledge")}
    config = build_config({"auth": {**primary, "issuers": [partner]}, "sources": sources}, env={})
    assert [i.issuer for i in config.auth.issuers] == ["https://a", "https://b"]
    with pytest.raises(ConfigError, match="algorithms must be among"):
        build_config({"auth": {**primary, "algorithms": ["HS256"]}, "sources": sources}, env={})
    with pytest.raises(ConfigError, match="configured twice"):
        build_config({"auth": {**primary, "issuers": [primary]}, "sources": sources}, env={})


def test_missing_source_base_url_is_named() -> None:
    raw = {"auth": {"issuer": "x", "audience": "y", "jwks_url": "https://z"}}
    with pytest.raises(ConfigError, match=r"sources\.crm"):
        build_config(raw, env={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})


def test_execution_defaults_to_compiled_and_the_demo_can_choose() -> None:
    assert ServerSettings().execution == "compiled"
    assert build_config(demo_config(1, 2, "standard"), env={}).server.execution == "standard"
    env = {"SWITCHBOARD_SERVER_EXECUTION": "standard"}
    assert build_config(demo_config(1, 2), env=env).server.execution == "standard"
    with pytest.raises(SystemExit):
        main(["demo", "--execution", "jit"])
