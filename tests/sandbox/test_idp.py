from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest


def _jwks(client: httpx.Client) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_dict(client.get("/idp/.well-known/jwks.json").json())


def _verify(client: httpx.Client, token: str, **options: Any) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    key = _jwks(client)[kid]
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256", "ES256"],
        audience=options.pop("audience", "switchboard"),
        **options,
    )
    return claims


def _mint(client: httpx.Client, **fields: str) -> str:
    response = client.post("/idp/token", data=fields)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    token: str = body["access_token"]
    return token


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_token_verifies_against_the_served_jwks(client: httpx.Client, alg: str) -> None:
    token = _mint(client, sub="agent-001", roles="agent, supervisor", alg=alg)
    assert jwt.get_unverified_header(token)["alg"] == alg
    claims = _verify(client, token)
    assert claims["sub"] == "agent-001"
    assert claims["roles"] == ["agent", "supervisor"]
    assert claims["iss"] == f"http://{client.base_url.netloc.decode()}/idp"
    assert claims["exp"] - claims["iat"] == 3600
    discovery = client.get("/idp/.well-known/openid-configuration").json()
    assert discovery["issuer"] == claims["iss"]
    assert discovery["jwks_uri"].endswith("/idp/.well-known/jwks.json")


def test_jwks_holds_an_rsa_2048_and_an_ec_p256_key(client: httpx.Client) -> None:
    keys = client.get("/idp/.well-known/jwks.json").json()["keys"]
    assert {key["kty"] for key in keys} == {"RSA", "EC"}
    assert all(key["kid"] and key["use"] == "sig" for key in keys)
    rsa = next(key for key in keys if key["kty"] == "RSA")
    assert len(jwt.utils.base64url_decode(rsa["n"])) == 256
    assert next(key for key in keys if key["kty"] == "EC")["crv"] == "P-256"


def test_negative_ttl_mints_an_expired_token(client: httpx.Client) -> None:
    token = _mint(client, sub="agent-002", ttl="-60")
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(client, token)


def test_aud_iss_and_nbf_overrides_are_honoured(client: httpx.Client) -> None:
    not_before = str(int(time.time()) + 3600)
    token = _mint(client, sub="bot-1", aud="other", iss="https://idp.example.com", nbf=not_before)
    claims = _verify(client, token, audience="other", options={"verify_nbf": False})
    assert claims["iss"] == "https://idp.example.com"
    assert claims["nbf"] == int(not_before)
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(client, token, options={"verify_nbf": False})
    with pytest.raises(jwt.ImmatureSignatureError):
        _verify(client, token, audience="other")


def test_token_rejects_missing_sub_and_bad_fields(client: httpx.Client) -> None:
    for fields in ({}, {"roles": "agent"}, {"sub": "a", "alg": "HS256"}, {"sub": "a", "ttl": "x"}):
        response = client.post("/idp/token", data=fields)
        assert response.status_code == 400, fields
        assert "error" in response.json()
    as_json = client.post("/idp/token", json={"sub": "a"})
    assert as_json.status_code == 400
