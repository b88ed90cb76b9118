from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.masking.policy import Policy, PolicyError
from schema import SensitiveClass as S
from sources import SYSTEMS

DEFAULT = Policy.load()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "no [roles.<name>] tables"),
        ({"roles": {"agent": {"SSN": "full"}}}, "unknown sensitive class 'SSN'"),
        ({"roles": {"agent": {"PCI_PAN": "show"}}}, "unknown treatment"),
        ({"roles": {"agent": {"BALANCE": "last4"}}}, "BALANCE does not admit last4"),
        ({"roles": {"agent": {"PII_NATIONAL_ID": "bin_last4"}}}, "does not admit bin_last4"),
        ({"roles": {"agent": {"verified": {"PCI_PAN": "everything"}}}}, "[roles.agent.verified]"),
        ({"roles": {"agent": "full"}}, "must be a table"),
        ({"roles": {"agent": {}}, "defaults": {}}, "unknown section"),
        ({"roles": {"dev": {"values": "fake"}}}, "[roles.dev] values = 'fake'"),
    ],
)
def test_bad_policy_fails_at_start_up_naming_the_problem(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping(raw)
    assert message in str(caught.value)


def test_policy_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        Policy.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[roles.agent\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        Policy.load(bad)


def test_most_permissive_role_wins_and_unknown_roles_get_nothing() -> None:
    assert DEFAULT.treatment({"ivr", "fraud_analyst"}, S.PCI_PAN, False) == "bin_last4"
    assert DEFAULT.treatment({"developer", "agent"}, S.PII_NATIONAL_ID, False) == "redact"
    assert DEFAULT.treatment({"admin"}, S.PCI_PAN, False) == "deny"
    assert DEFAULT.treatment(set(), S.PCI_PAN, True) == "deny"


def test_unlisted_class_is_denied() -> None:
    policy = Policy.from_mapping({"roles": {"agent": {"PCI_PAN": "last4"}}})
    assert policy.treatment({"agent"}, S.PII_DOB, True) == "deny"


# The role display matrix of DOMAIN.md, column by column.
MATRIX = [
    # (role, verified, class, treatment)
    ("ivr", False, S.PCI_PAN, "last4"),
    ("ivr", False, S.PII_NATIONAL_ID, "deny"),
    ("ivr", False, S.PII_DOB, "deny"),
    ("ivr", False, S.BALANCE, "deny"),
    ("ivr", True, S.BALANCE, "full"),
    ("ivr", True, S.TRANSACTIONS, "deny"),
    ("ivr", True, S.RISK_SUMMARY, "deny"),
    ("agent", False, S.PCI_PAN, "deny"),
    ("agent", False, S.PII_NATIONAL_ID, "deny"),
    ("agent", False, S.PII_DOB, "deny"),
    ("agent", False, S.BALANCE, "deny"),
    ("agent", False, S.TRANSACTIONS, "deny"),
    ("agent", False, S.RISK_SUMMARY, "deny"),
    ("agent", True, S.PCI_PAN, "last4"),
    ("agent", True, S.PII_NATIONAL_ID, "last4"),
    ("agent", True, S.PII_DOB, "full"),
    ("agent", True, S.BALANCE, "full"),
    ("agent", True, S.TRANSACTIONS, "full"),
    ("agent", True, S.RISK_SUMMARY, "full"),
    ("agent", True, S.FRAUD_DETAIL, "deny"),
    ("supervisor", False, S.PCI_PAN, "last4"),
    ("supervisor", False, S.PII_NATIONAL_ID, "last4"),
    ("supervisor", False, S.PII_DOB, "full"),
    ("supervisor", False, S.BALANCE, "full"),
    ("supervisor", False, S.FRAUD_DETAIL, "deny"),
    ("fraud_analyst", False, S.PCI_PAN, "bin_last4"),
    ("fraud_analyst", False, S.PII_NATIONAL_ID, "last4"),
    ("fraud_analyst", False, S.FRAUD_DETAIL, "full"),
    ("collections", False, S.COLLECTIONS_DETAIL, "full"),
    ("collections", False, S.BALANCE, "deny"),
    ("collections", True, S.BALANCE, "full"),
    ("collections", True, S.FRAUD_DETAIL, "deny"),
]


@pytest.mark.parametrize(("role", "verified", "klass", "treatment"), MATRIX)
def test_default_policy_follows_the_role_display_matrix(
    role: str, verified: bool, klass: S, treatment: str
) -> None:
    assert DEFAULT.treatment({role}, klass, verified) == treatment


@pytest.mark.parametrize("klass", list(S))
def test_developer_sees_every_class_redacted(klass: S) -> None:
    assert DEFAULT.treatment({"developer"}, klass, False) == "redact"
    assert DEFAULT.treatment({"developer"}, klass, True) == "redact"


def test_default_policy_never_shows_more_than_bin_last4_of_a_pan() -> None:
    for role in DEFAULT.roles:
        for verified in (False, True):
            assert DEFAULT.treatment({role}, S.PCI_PAN, verified) != "full"


def test_readme_shows_the_default_policy_as_it_is() -> None:
    from gateway.masking.policy_table import policy_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("<!-- policy-table -->\n", 1)[1].split("\n<!-- /policy-table -->", 1)[0]
    assert table == policy_table(DEFAULT), (
        "README's policy table drifted from gateway/masking/policy.toml"
    )


def test_only_known_roles_read_and_placeholders_need_every_known_role_to_say_so() -> None:
    assert not DEFAULT.knows(set()) and not DEFAULT.knows({"root", "Agent"})
    assert DEFAULT.knows({"root", "agent"})
    assert DEFAULT.placeholders({"developer"}) and DEFAULT.placeholders({"developer", "root"})
    assert not DEFAULT.placeholders({"developer", "agent"}) and not DEFAULT.placeholders(set())


def _config(profile: str, policy_file: Path, hash_key: str = "") -> Any:
    from gateway.config import build_config

    base = "http://127.0.0.1:9"
    raw = {
        "server": {"profile": profile},
        "auth": {"issuer": base, "audience": "switchboard", "jwks_url": f"{base}/jwks"},
        "sources": {n: {"base_url": base} for n in SYSTEMS},
        "policy": {"file": str(policy_file), "hash_key": hash_key},
    }
    return build_config(raw, env={})


def test_production_refuses_a_hash_treatment_without_a_deployment_key(tmp_path: Path) -> None:
    """A random key per process would make `hash` values unjoinable across replicas and
    restarts (REVIEW D10): production refuses to start; development and a policy without
    `hash` carry on."""
    from gateway.config import ConfigError
    from gateway.masking.guard import Guard

    hashing = tmp_path / "hashing.toml"
    hashing.write_text('[roles.analyst]\nPII_EMAIL = "hash"\n')
    plain = tmp_path / "plain.toml"
    plain.write_text('[roles.analyst]\nPII_EMAIL = "full"\n')
    with pytest.raises(ConfigError, match="hash_key is required in production"):
        Guard.from_config(_config("production", hashing))
    Guard.from_config(_config("production", hashing, hash_key="a-deployment-secret"))
    Guard.from_config(_config("development", hashing))
    Guard.from_config(_config("production", plain))
