"""How a refused token is answered and logged (issue #12 item 11, #11 item 6, #12 item 16):
a malformed claim of any type is a 401, never a 500 or a traceback; the log says why with the
request id and never the token; only the development profile tells the client why; a websocket
never gets past authentication."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import httpx
import pytest
from jwt.algorithms import RSAAlgorithm
from starlette.types import Message

from gateway.auth.authenticator import Authenticator
from gateway.config import AuthSettings, IssuerSettings
from gateway.http.middleware import BearerAuth, ErrorEnvelope, RequestId
from sources import IdentityClient
from sources.transport import HttpxExchange

from .keys import AUDIENCE, ISSUER, JWKS_URL, FakeIdp, SigningKey

REQUEST_ID = "req-refusal-1"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("k1")


def signed(key: SigningKey, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """Signed with our key (RS256), whatever the claims and header: PyJWT's encode refuses a
    non-string iss or kid."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-0001", "exp": now + 600, **claims}
    head = {"alg": key.alg, "typ": "JWT", "kid": key.kid, **(header or {})}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}"
    algorithm = RSAAlgorithm(RSAAlgorithm.SHA256)
    signature = algorithm.sign(signing_input.encode(), key.private)
    return f"{signing_input}.{b64(signature)}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def endpoint(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def post(key: SigningKey, authorization: str | None, *, describe: bool) -> httpx.Response:
    issuer = IssuerSettings(
        issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL, roles=("*",), verification=True
    )
    clients = {
        ISSUER: IdentityClient(JWKS_URL, exchange=HttpxExchange.over(FakeIdp(key).transport()))
    }
    auth = Authenticator(AuthSettings(issuers=(issuer,)), clients)
    await auth.start()
    app = RequestId(ErrorEnvelope(BearerAuth(endpoint, auth, ide=False, describe=describe)))
    headers = {"content-type": "application/json", "x-request-id": REQUEST_ID}
    if authorization is not None:
        headers["authorization"] = authorization
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw"
        ) as http:
            return await http.post("/graphql", content=b"{}", headers=headers)
    finally:
        await auth.close()


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["errors"][0]
    assert error["message"] == "invalid token"
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["requestId"] == REQUEST_ID


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": [ISSUER]},
        {"iss": {"url": ISSUER}},
        {"iss": 7},
        {"iss": 1.5},
        {"iss": True},
        {"sub": 7},
        {"sub": ["agent-0001"]},
        {"sub": {"id": "agent-0001"}},
        {"sub": False},
        {"aud": {"aud": AUDIENCE}},
        {"aud": 7},
        {"aud": [7]},
        {"aud": [[AUDIENCE]]},
        {"aud": [{"x": AUDIENCE}]},
        {"roles": 7},
        {"roles": {"admin": True}},
        {"roles": ["agent", 7]},
        {"roles": [["supervisor"]]},
        {"exp": float("inf")},
        {"exp": float("nan")},
        {"exp": 10**400},
        {"nbf": [0]},
        {"iat": {"t": 0}},
        {"jti": 7},
    ],
    ids=repr,
)
async def test_a_malformed_claim_is_a_401_without_a_traceback(
    key: SigningKey, claims: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await post(key, f"Bearer {signed(key, **claims)}", describe=False)
    assert_refused(response)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "header",
    [{"kid": ["k1"]}, {"kid": {"id": "k1"}}, {"kid": 7}, {"crit": "exp"}, {"crit": [7]}],
    ids=repr,
)
async def test_a_malformed_header_is_a_401_without_a_traceback(
    key: SigningKey, header: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert_refused(await post(key, f"Bearer {signed(key, header)}", describe=False))
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _token(key: SigningKey, case: str) -> str:
    stranger = SigningKey("k2")
    return {
        "expired": key.token(exp=int(time.time()) - 3600),
        "wrong audience": key.token(aud="someone-else"),
        "unknown issuer": key.token(iss="https://unknown.test"),
        "unknown kid": stranger.token(),
        "bad signature": key.token()[:-8] + stranger.token()[-8:],
        "malformed token": "abc.def.ghi",
        "missing claim sub": key.token(sub=None),
    }[case]


@pytest.mark.parametrize(
    "reason",
    [
        "expired",
        "wrong audience",
        "unknown issuer",
        "unknown kid",
        "bad signature",
        "malformed token",
        "missing claim sub",
    ],
)
async def test_the_log_says_why_with_the_request_id_and_never_the_token(
    key: SigningKey, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token(key, reason)
    caplog.set_level(logging.DEBUG)
    response = await post(key, f"Bearer {token}", describe=False)
    assert_refused(response)
    assert "error_description" not in response.json()["errors"][0]["extensions"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    lines = [r.getMessage() for r in caplog.records if r.name == "switchboard.auth"]
    assert f"401 request_id={REQUEST_ID} reason={reason}" in lines
    everything = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    for part in token.split("."):  # not the token, nor any part of it
        assert part not in everything


async def test_the_development_profile_tells_the_client_why(key: SigningKey) -> None:
    response = await post(key, f"Bearer {key.token(aud='someone-else')}", describe=True)
    assert_refused(response)
    assert response.json()["errors"][0]["extensions"]["error_description"] == "wrong audience"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("describe", [False, True])
async def test_no_credentials_get_a_bare_challenge(key: SigningKey, describe: bool) -> None:
    response = await post(key, None, describe=describe)
    assert_refused(response)
    assert response.headers["www-authenticate"] == "Bearer"  # RFC 6750 3.1
    assert "error_description" not in response.json()["errors"][0]["extensions"]


async def test_a_websocket_is_closed_before_it_is_accepted(key: SigningKey) -> None:
    """BearerAuth used to pass every non-http scope through unauthenticated."""
    issuer = IssuerSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL, roles=("*",))
    auth = Authenticator(AuthSettings(issuers=(issuer,)), {ISSUER: IdentityClient(JWKS_URL)})
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    guard = BearerAuth(app, auth, ide=False)
    token = signed(key)
    scope = {"type": "websocket", "path": "/graphql", "headers": [(b"authorization", token)]}
    await guard(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}] and reached == []
    with pytest.raises(RuntimeError, match="cannot serve"):
        await guard({"type": "lifespan"}, receive, send)
    assert reached == []
