"""Throwaway signing keys generated at test time, and a fake IdP key set over MockTransport."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.test/realms/cc"
AUDIENCE = "switchboard"
JWKS_URL = "https://idp.test/realms/cc/jwks.json"


class SigningKey:
    def __init__(self, kid: str, alg: str = "RS256") -> None:
        self.kid = kid
        self.alg = alg
        if alg == "RS256":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            public = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        self.jwk = {**public, "kid": kid, "alg": alg, "use": "sig"}

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "agent-0001",
            "iat": now,
            "exp": now + 600,
            "roles": ["agent"],
        }
        headers = overrides.pop("headers", {})
        for key, value in overrides.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **headers}
        )


class FakeIdp:
    """Serves a mutable key set; counts fetches; can be taken down."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.down:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"keys": [k.jwk for k in self.keys]})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
