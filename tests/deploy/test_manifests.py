"""The Kubernetes manifests (deploy/k8s/), checked without a cluster: each object against the
Kubernetes JSON schemas (kubernetes-validate, offline: the schemas ship in its wheel, strict:
no unknown fields), then what the schemas cannot see, the references between the objects and
to the gateway's configuration."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.config import build_config, env_names
from gateway.events.mapping import SYSTEMS as WEBHOOK_SYSTEMS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VERSION = "1.30"
"""The oldest Kubernetes the manifests must apply to."""
WHSEC = "whsec_" + "A" * 44


def _objects() -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            objects[doc["kind"]] = doc
    return objects


OBJECTS = _objects()


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = OBJECTS["Deployment"]["spec"]["template"]["spec"]
    return spec


def _container() -> dict[str, Any]:
    [container] = _pod()["containers"]
    return dict(container)


def _config() -> dict[str, Any]:
    return tomllib.loads(OBJECTS["ConfigMap"]["data"]["switchboard.toml"])


@pytest.mark.parametrize("kind", sorted(OBJECTS))
def test_each_object_is_valid_against_the_kubernetes_schema(kind: str) -> None:
    kubernetes_validate.validate(OBJECTS[kind], VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(files)


def test_selectors_and_targets_match_the_deployment() -> None:
    deployment = OBJECTS["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert OBJECTS["Service"]["spec"]["selector"].items() <= labels.items()
    assert OBJECTS["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= (
        labels.items()
    )
    assert OBJECTS["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"].items() <= (
        labels.items()
    )
    target = OBJECTS["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    [metric] = OBJECTS["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in _container()["resources"]["requests"]  # utilization needs a request
    config_map = _pod()["volumes"][0]["configMap"]["name"]
    assert config_map == OBJECTS["ConfigMap"]["metadata"]["name"]


def test_ports_and_probes_are_the_gateways() -> None:
    server = _config()["server"]
    ports = {p["name"]: p["containerPort"] for p in _container()["ports"]}
    assert ports == {"http": server["port"], "admin": server["admin_port"]}
    assert server["admin_host"] == "0.0.0.0"  # the kubelet probes the pod's address
    container = _container()
    # probes on the internal port: /ready (503 while draining) and /health (no back-end calls)
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "admin"}
    assert container["startupProbe"]["httpGet"]["port"] == "admin"
    [service_port] = OBJECTS["Service"]["spec"]["ports"]
    assert service_port["targetPort"] == "http"  # the internal port is not behind the Service
    policy_ports = {
        p["port"] for rule in OBJECTS["NetworkPolicy"]["spec"]["ingress"] for p in rule["ports"]
    }
    assert policy_ports <= set(ports)


def test_the_grace_period_outlasts_the_drain() -> None:
    pause = int(_container()["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = _config()["server"]["drain_seconds"]
    assert _pod()["terminationGracePeriodSeconds"] > pause + drain


def test_the_pod_runs_unprivileged_on_a_read_only_root() -> None:
    assert _pod()["securityContext"]["runAsNonRoot"] is True
    assert _pod()["securityContext"]["runAsUser"] != 0
    context = _container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "limits" in _container()["resources"]


def test_secrets_are_referenced_never_written() -> None:
    assert "Secret" not in OBJECTS
    env = _container()["env"]
    assert all("value" not in e and "secretKeyRef" in e["valueFrom"] for e in env)
    names = {e["name"] for e in env}
    assert names <= set(env_names())  # each one a variable the gateway reads
    assert "SWITCHBOARD_EVENTS_REDIS_URL" in names  # replicas share events through Redis
    assert {f"SWITCHBOARD_WEBHOOKS_{s.upper()}_SECRETS" for s in WEBHOOK_SYSTEMS} <= names


def test_the_config_map_with_the_secrets_is_a_valid_configuration() -> None:
    env = {e["name"]: "redis://redis:6379/0" for e in _container()["env"]}
    env["SWITCHBOARD_POLICY_HASH_KEY"] = "k" * 32
    for system in WEBHOOK_SYSTEMS:
        env[f"SWITCHBOARD_WEBHOOKS_{system.upper()}_SECRETS"] = WHSEC
    config = build_config(_config(), env)
    assert config.events.redis_url and config.rate_limit.redis_url
    assert all(w.secrets for w in config.webhooks.values())
