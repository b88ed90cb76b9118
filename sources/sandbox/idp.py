"""`/idp`: an OIDC-style issuer minting the JWTs the gateway authenticates callers with.

Keys are fresh per app instance (so no test can pass by accident against a stale JWKS), and are
generated on first use: RSA-2048 generation costs ~100 ms that `create_app` must not pay.
"""

from __future__ import annotations

import secrets
import time
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .http import BadRequest, Handler, Request, Response, ok
from .oas import INTEGER, STRING, Schema, array, enum, obj, ref

_FORM = "application/x-www-form-urlencoded"


class Idp:
    @cached_property
    def _rsa(self) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @cached_property
    def _ec(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    @cached_property
    def _kids(self) -> dict[str, str]:
        return {"RS256": f"rsa-{secrets.token_hex(6)}", "ES256": f"ec-{secrets.token_hex(6)}"}

    @cached_property
    def jwks(self) -> bytes:
        rsa_jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self._rsa.public_key(), as_dict=True)
        ec_jwk: dict[str, Any] = ECAlgorithm.to_jwk(self._ec.public_key(), as_dict=True)
        rsa_jwk.update(kid=self._kids["RS256"], use="sig", alg="RS256")
        ec_jwk.update(kid=self._kids["ES256"], use="sig", alg="ES256")
        return orjson.dumps({"keys": [rsa_jwk, ec_jwk]})

    def routes(self) -> dict[str, Handler]:
        return {
            "GET /.well-known/jwks.json": self.keys,
            "GET /.well-known/openid-configuration": self.discovery,
            "POST /token": self.token,
        }

    @staticmethod
    def issuer(request: Request) -> str:
        return f"http://{request.host}/idp"

    def keys(self, request: Request) -> Response:
        return ok(self.jwks)

    def discovery(self, request: Request) -> Response:
        issuer = self.issuer(request)
        return ok(
            orjson.dumps(
                {
                    "issuer": issuer,
                    "jwks_uri": f"{issuer}/.well-known/jwks.json",
                    "token_endpoint": f"{issuer}/token",
                    "grant_types_supported": ["client_credentials"],
                    "response_types_supported": ["token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    "token_endpoint_auth_methods_supported": ["none"],
                }
            )
        )

    def token(self, request: Request) -> Response:
        if request.content_type.split(";")[0].strip().lower() != _FORM:
            raise BadRequest(f"the token endpoint takes {_FORM}")
        try:
            form = parse_qs(request.body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("form body is not UTF-8") from None

        def field(name: str) -> str | None:
            values = form.get(name)
            return values[-1] if values else None

        def number(name: str) -> int | None:
            text = field(name)
            if text is None or text == "":
                return None
            try:
                return int(text)
            except ValueError:
                raise BadRequest(f"{name} must be an integer") from None

        sub = field("sub")
        if not sub:
            raise BadRequest("missing field: sub")
        algorithm = field("alg") or "RS256"
        if algorithm not in ("RS256", "ES256"):
            raise BadRequest("alg must be RS256 or ES256")
        ttl = number("ttl")
        ttl = 3600 if ttl is None else ttl
        now = int(time.time())
        roles = [role.strip() for role in (field("roles") or "").split(",") if role.strip()]
        claims: dict[str, Any] = {
            "iss": field("iss") or self.issuer(request),
            "sub": sub,
            "aud": field("aud") or "switchboard",
            "iat": now,
            "exp": now + ttl,
            "roles": roles,
        }
        nbf = number("nbf")
        if nbf is not None:
            claims["nbf"] = nbf
        key = self._rsa if algorithm == "RS256" else self._ec
        token = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": self._kids[algorithm]})
        return ok(
            orjson.dumps({"access_token": token, "token_type": "Bearer", "expires_in": max(ttl, 0)})
        )


def openapi() -> tuple[dict[str, Schema], dict[str, Schema]]:
    def answer(schema: str) -> Schema:
        return {
            "200": {"description": "OK", "content": {"application/json": {"schema": ref(schema)}}}
        }

    token_form = {
        "type": "object",
        "required": ["sub"],
        "properties": {
            "sub": STRING,
            "roles": {"type": "string", "description": "comma-separated"},
            "ttl": {"type": "integer", "default": 3600, "description": "negative: already expired"},
            "aud": {"type": "string", "default": "switchboard"},
            "iss": {"type": "string", "description": "default: http://<host>/idp"},
            "nbf": {"type": "integer", "description": "epoch seconds"},
            "alg": enum("RS256", "ES256"),
        },
    }
    paths: dict[str, Schema] = {
        "/.well-known/jwks.json": {"get": {"summary": "Signing keys", "responses": answer("Jwks")}},
        "/.well-known/openid-configuration": {
            "get": {"summary": "Discovery", "responses": answer("Discovery")}
        },
        "/token": {
            "post": {
                "summary": "Mint an access token for any subject (sandbox only)",
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": token_form}},
                },
                "responses": {
                    **answer("Token"),
                    "400": {
                        "description": "Bad input",
                        "content": {"application/json": {"schema": ref("Error")}},
                    },
                },
            }
        },
    }
    jwk = {
        "type": "object",
        "required": ["kty", "kid", "use", "alg"],
        "properties": {"kty": STRING, "kid": STRING, "use": STRING, "alg": STRING},
    }
    schemas: dict[str, Schema] = {
        "Jwks": obj(keys=array(jwk)),
        "Discovery": {
            "type": "object",
            "required": ["issuer", "jwks_uri", "token_endpoint"],
            "properties": {"issuer": STRING, "jwks_uri": STRING, "token_endpoint": STRING},
        },
        "Token": obj(access_token=STRING, token_type=enum("Bearer"), expires_in=INTEGER),
    }
    return paths, schemas
