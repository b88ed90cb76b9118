from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import (
    Config,
    ConfigError,
    IssuerSettings,
    ServerSettings,
    build_config,
    env_names,
    load_config,
)
from gateway.demo import demo_config
from sources import SYSTEMS

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
    partner = {
        "issuer": "https://b",
        "audience": "api://sb",
        "jwks_url": "https://b/keys",
        "roles": ["ivr"],
    }
    sources = {n: {"base_url": f"http://{n}"} for n in SYSTEMS}
    config = build_config({"auth": {**primary, "issuers": [partner]}, "sources": sources}, env={})
    assert [i.issuer for i in config.auth.issuers] == ["https://a", "https://b"]
    with pytest.raises(ConfigError, match="algorithms must be among"):
        build_config({"auth": {**primary, "algorithms": ["HS256"]}, "sources": sources}, env={})
    with pytest.raises(ConfigError, match="configured twice"):
        again = {**primary, "roles": []}
        build_config({"auth": {**primary, "issuers": [again]}, "sources": sources}, env={})


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


AUTH = {"issuer": "x", "audience": "y", "jwks_url": "https://z"}
SOURCES = {n: {"base_url": f"http://{n}"} for n in SYSTEMS}


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"port": "8032"}, "server.port must be a whole number, got '8032'"),
        ({"port": 8032.7}, "server.port must be a whole number, got 8032.7"),
        ({"port": True}, "server.port must be a whole number"),
        ({"deadline_seconds": "2"}, "server.deadline_seconds must be a number"),
        ({"deadline_seconds": float("nan")}, "server.deadline_seconds must be a number"),
    ],
)
def test_toml_values_of_the_wrong_type_are_errors_not_casts(
    server: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"server": server, "auth": AUTH, "sources": SOURCES}, env={})
    assert message in str(caught.value)


def test_whole_floats_and_ints_for_floats_are_accepted() -> None:
    raw = {"server": {"port": 8032.0, "deadline_seconds": 2}, "auth": AUTH, "sources": SOURCES}
    server = build_config(raw, env={}).server
    assert server.port == 8032 and isinstance(server.port, int)
    assert server.deadline_seconds == 2.0 and isinstance(server.deadline_seconds, float)


def test_rate_limit_rules_are_typed_strictly() -> None:
    raw = {"auth": AUTH, "sources": SOURCES, "rate_limit": {"roles": {"ivr": {"burst": 4.5}}}}
    with pytest.raises(ConfigError, match=r"rate_limit\.roles\.ivr\.burst must be a whole number"):
        build_config(raw, env={})


def test_environment_numbers_are_parsed_strictly() -> None:
    raw = {"auth": AUTH, "sources": SOURCES}
    assert build_config(raw, env={"SWITCHBOARD_SERVER_PORT": "8032"}).server.port == 8032
    with pytest.raises(ConfigError, match=r"SWITCHBOARD_SERVER_PORT must be a whole number"):
        build_config(raw, env={"SWITCHBOARD_SERVER_PORT": "8032.7"})
    with pytest.raises(ConfigError, match=r"SWITCHBOARD_AUTH_LEEWAY must be a number"):
        build_config(raw, env={"SWITCHBOARD_AUTH_LEEWAY": "lots"})


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("SWITCHBOARD_SERVER_PROT", "SWITCHBOARD_SERVER_PORT"),
        ("SWITCHBOARD_SOURCES_CORE_BASEURL", "SWITCHBOARD_SOURCES_CORE_BASE_URL"),
        ("SWITCHBOARD_POLICY_HASHKEY", "SWITCHBOARD_POLICY_HASH_KEY"),
    ],
)
def test_an_unknown_environment_variable_names_the_closest_one(
    variable: str, suggestion: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"auth": AUTH, "sources": SOURCES}, env={variable: "1"})
    assert str(caught.value) == (
        f"unknown environment variable {variable}; did you mean {suggestion}?"
    )


def test_an_unknown_environment_variable_like_no_other_is_named_alone() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"auth": AUTH, "sources": SOURCES}, env={"SWITCHBOARD_ZZZ": "1"})
    assert str(caught.value) == (
        "unknown environment variable SWITCHBOARD_ZZZ (README: Running the gateway)"
    )


def test_every_overridable_key_has_a_variable_and_others_are_left_alone() -> None:
    names = env_names()
    assert "SWITCHBOARD_SERVER_CORS_ORIGINS" in names
    assert "SWITCHBOARD_RATE_LIMIT_REDIS_URL" in names
    assert "SWITCHBOARD_SOURCES_CORE_NAME" not in names
    env = {"PATH": "/bin", "SWITCHBOARDX": "1"}
    build_config({"auth": AUTH, "sources": SOURCES}, env=env)


def test_the_http_client_is_a_setting_of_each_system() -> None:
    """The client choice is validated by the config like any other setting (no variable is
    read behind its back): a file key, or its variable, per system; the wire client by default."""
    config = build_config({"auth": AUTH, "sources": SOURCES}, env={})
    assert {s.client for s in config.sources.values()} == {"wire"}
    env = {"SWITCHBOARD_SOURCES_CORE_CLIENT": "httpx"}
    config = build_config({"auth": AUTH, "sources": SOURCES}, env=env)
    assert config.sources["core"].client == "httpx"
    assert config.sources["crm"].client == "wire"
    with pytest.raises(ConfigError, match="client must be one of aiohttp, httpx"):
        build_config(
            {
                "auth": AUTH,
                "sources": {**SOURCES, "crm": {"base_url": "http://crm", "client": "curl"}},
            },
            env={},
        )
    with pytest.raises(ConfigError, match="unknown environment variable SWITCHBOARD_HTTP_CLIENT"):
        build_config({"auth": AUTH, "sources": SOURCES}, env={"SWITCHBOARD_HTTP_CLIENT": "httpx"})


def test_every_section_of_the_config_has_its_variables() -> None:
    """A section added to Config must be added to env_names too, or its variables would be
    refused as unknown."""
    names = env_names()
    for section in fields(Config):
        nested = {"sources": "SOURCES_CORE", "data_budget": "LIMITS_DATA_BUDGET"}
        nested["lookups"] = "LIMITS_LOOKUPS"
        where = nested.get(section.name, section.name.upper())
        assert any(n.startswith(f"SWITCHBOARD_{where}_") for n in names), section.name
    config = build_config({"auth": AUTH, "sources": SOURCES}, env={})
    server = {f.name: getattr(config.server, f.name) for f in fields(ServerSettings)}
    issuer = {f.name: getattr(config.auth.issuers[0], f.name) for f in fields(IssuerSettings)}
    for prefix, values in (("SERVER", server), ("AUTH", issuer)):
        for key, value in values.items():
            if isinstance(value, str | int | float | bool):
                assert f"SWITCHBOARD_{prefix}_{key.upper()}" in names


@pytest.mark.parametrize(
    "value", ['["https://a.example", "https://b.example"]', "https://a.example, https://b.example"]
)
def test_list_settings_from_the_environment_take_json_arrays_and_comma_lists(value: str) -> None:
    env = {"SWITCHBOARD_SERVER_CORS_ORIGINS": value}
    config = build_config({"auth": AUTH, "sources": SOURCES}, env=env)
    assert config.server.cors_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["https://a.example", ', "SWITCHBOARD_SERVER_CORS_ORIGINS is not a valid JSON array"),
        ('["https://a.example", 3]', "SWITCHBOARD_SERVER_CORS_ORIGINS must be a JSON array of"),
    ],
)
def test_a_malformed_json_list_is_a_clear_error(value: str, message: str) -> None:
    env = {"SWITCHBOARD_SERVER_CORS_ORIGINS": value}
    with pytest.raises(ConfigError, match=message):
        build_config({"auth": AUTH, "sources": SOURCES}, env=env)


def test_relative_paths_in_the_file_resolve_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "switchboard.toml").write_text(
        EXAMPLE.read_text()
        + '\n[trusted_documents]\nmanifest = "docs/manifest.json"\n'
        + '[policy]\nfile = "policy.toml"\n[audit]\nsink = "audit.jsonl"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # elsewhere: the paths must not follow the working folder
    config = load_config(Path("etc/switchboard.toml"), env={})
    assert config.policy.file == str(folder / "policy.toml")
    assert config.trusted_documents.manifest == str(folder / "docs" / "manifest.json")
    assert config.audit.sink == str(folder / "audit.jsonl")
    env = {"SWITCHBOARD_AUDIT_SINK": "audit.log", "SWITCHBOARD_POLICY_FILE": "/etc/p.toml"}
    config = load_config(folder / "switchboard.toml", env=env)
    assert config.audit.sink == "audit.log"  # the environment's: the working folder's
    assert config.policy.file == "/etc/p.toml"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[rate_limit]\nburst = "40"\n', "rate_limit.burst must be a whole number"),
        ('[policy]\nfile = "policy.toml"\n', "unknown sensitive class 'NOPE'"),
        ('[trusted_documents]\nmanifest = "manifest.json"\n', "manifest.json is not JSON"),
    ],
)
def test_serve_reports_every_configuration_error_in_one_line(
    tmp_path: Path, extra: str, message: str
) -> None:
    """The policy and the manifest are read by create_app, yet are configuration too."""
    (tmp_path / "policy.toml").write_text('[roles.agent]\nNOPE = "full"\n', encoding="utf-8")
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    config = tmp_path / "switchboard.toml"
    config.write_text(EXAMPLE.read_text() + "\n" + extra, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_POLICY_HASH_KEY"] = "test-only"  # no warning about a random key
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", "1"],
        cwd=tmp_path,  # the relative paths are found next to the config file
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("switchboard: configuration error: "), lines
    assert message in lines[0]
