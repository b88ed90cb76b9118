"""The Dockerfile, .dockerignore and compose.yaml, checked without Docker (it is optional and
absent here): the Dockerfile parsed by dockerfile-parse, compose.yaml by PyYAML, and the demo's
start-up script (deploy/compose/demo_init.py) run for real into a temporary folder."""

from __future__ import annotations

import importlib.util
import io
import re
import shlex
import stat
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser

from gateway.config import build_config, env_names

ROOT = Path(__file__).resolve().parents[2]
COMPILERS = ("gcc", "g++", "cc ", "clang", "build-essential", "make ")


def _structure() -> list[dict[str, Any]]:
    parser = DockerfileParser(fileobj=io.BytesIO((ROOT / "Dockerfile").read_bytes()))
    structure: list[dict[str, Any]] = parser.structure
    return structure


def _stages() -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for instruction in _structure():
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _args() -> dict[str, str]:
    args = {}
    for instruction in _structure():
        if instruction["instruction"] == "ARG" and "=" in instruction["value"]:
            name, value = instruction["value"].split("=", 1)
            args[name] = value
    return args


def _of(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def test_the_image_is_built_in_two_stages_on_a_pinned_slim_python() -> None:
    stages = _stages()
    assert len(stages) == 2
    base = _args()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    assert [_of(s, "FROM")[0].split()[0] for s in stages] == ["${PYTHON_IMAGE}"] * 2


def test_the_final_stage_has_no_compiler_and_runs_unprivileged() -> None:
    final = _stages()[-1]
    runs = " ".join(_of(final, "RUN")).lower()
    assert "apt-get install" not in runs
    assert not [c for c in COMPILERS if c in runs + " "]
    [user] = _of(final, "USER")
    assert user.split(":")[0] not in ("root", "0")
    assert "useradd" in runs and user.split(":")[0] in runs
    # the builder has the compiler, and only the wheels cross over, for the install only
    assert any("build-essential" in r for r in _of(_stages()[0], "RUN"))
    assert "--mount=type=bind,from=builder" in runs
    assert "--no-index" in runs  # nothing fetched in the final stage
    copies = _of(final, "COPY")
    assert all("--from" not in c for c in copies)  # no source tree, no wheels in a layer
    assert [c.split()[-2] for c in copies] == ["switchboard.example.toml"]


def test_the_image_exposes_both_ports_and_checks_health_on_the_internal_one() -> None:
    final = _stages()[-1]
    assert _of(final, "EXPOSE") == ["8000", "8090"]  # separately: never published together
    [healthcheck] = _of(final, "HEALTHCHECK")
    assert "/health" in healthcheck and "8090" in healthcheck
    assert _of(final, "STOPSIGNAL") == ["SIGTERM"]  # the drain's signal
    assert "switchboard" in _of(final, "ENTRYPOINT")[0]


def test_the_build_context_leaves_out_everything_but_the_package() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # deny by default: no .venv, .git, local configs or keys
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        c.split()[-2].rstrip("/")
        for stage in _stages()
        for c in _of(stage, "COPY")
        if "--from" not in c
    } | {p for stage in _stages() for c in _of(stage, "COPY") for p in c.split()[:-1]}
    copied = {c for c in copied if not c.startswith("--")}
    assert copied <= allowed | {"."}, copied - allowed


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return compose


def _demo_init() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "demo_init", ROOT / "deploy" / "compose" / "demo_init.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_runs_gateway_sandbox_and_redis_with_the_generated_config() -> None:
    services = _compose()["services"]
    assert {"gateway", "sandbox", "redis", "demo-init"} <= set(services)
    demo = _demo_init()
    config = tomllib.loads(demo.demo_toml("whsec_" + "A" * 44, "k" * 32))
    gateway = services["gateway"]
    published = {p.split(":")[-1] for p in gateway["ports"]}
    assert published == {str(config["server"]["port"]), str(config["server"]["admin_port"])}
    assert all(p.startswith("127.0.0.1:") for p in gateway["ports"])  # the demo's, locally
    [flag] = [i for i, a in enumerate(gateway["command"]) if a == "--config"]
    assert gateway["command"][flag + 1] == "/run/switchboard/switchboard.toml"
    assert set(gateway.get("environment", {})) <= set(env_names())
    # the names the generated configuration uses are the compose services and their ports
    sandbox = " ".join(services["sandbox"]["command"])
    sandbox_port = shlex.split(sandbox)[shlex.split(sandbox).index("--port") + 1]
    for source in config["sources"].values():
        assert source["base_url"].startswith(f"http://sandbox:{sandbox_port}/")
    assert config["auth"]["jwks_url"].startswith(f"http://sandbox:{sandbox_port}/idp/")
    # tokens are minted from the host, through the published port: their issuer
    assert f"127.0.0.1:{sandbox_port}:{sandbox_port}" in services["sandbox"]["ports"]
    assert config["auth"]["issuer"] == f"http://localhost:{sandbox_port}/idp"
    assert config["events"]["redis_url"].startswith("redis://redis:6379/")
    assert f"--webhook-url http://gateway:{config['server']['port']}/webhooks" in sandbox
    for name in ("sandbox", "gateway"):
        after = services[name]["depends_on"]["demo-init"]["condition"]
        assert after == "service_completed_successfully"


def test_no_secret_is_in_the_image_or_the_compose_file() -> None:
    for path in ("compose.yaml", "Dockerfile", "switchboard.example.toml"):
        text = (ROOT / path).read_text()
        assert "whsec_" not in text and "hash_key" not in text, path


def test_the_demo_makes_its_secrets_when_it_starts(tmp_path: Path) -> None:
    demo = _demo_init()
    first, second = tmp_path / "1", tmp_path / "2"
    for folder in (first, second):
        folder.mkdir()
        assert demo.main(str(folder)) == 0
    secret = (first / "webhook-secret").read_text()
    assert secret != (second / "webhook-secret").read_text()  # fresh each start
    text = (first / "switchboard.toml").read_text()
    assert text != (second / "switchboard.toml").read_text()
    for made in first.iterdir():
        assert stat.S_IMODE(made.stat().st_mode) == 0o400  # the gateway's user only
    config = build_config(tomllib.loads(text), env={})  # a configuration the gateway takes
    assert all(w.secrets == (secret,) for w in config.webhooks.values())
    assert config.policy.hash_key and config.events.redis_url
    assert demo.main(str(first)) == 0  # a restarted demo replaces them
    assert (first / "webhook-secret").read_text() != secret
