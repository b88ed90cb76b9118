"""Every item of the Authentication list in SECURITY.md (RFC 8725, OWASP WSTG-SESS-10): each test
fails if its protection is removed. Tokens are forged with throwaway keys made at test time."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from gateway.auth.authenticator import Authenticator, InvalidToken
from gateway.config import AuthSettings, IssuerSettings
from sources import IdentityClient
from sources.transport import HttpxExchange

from .keys import AUDIENCE, ISSUER, JWKS_URL, FakeIdp, SigningKey

OTHER_ISSUER = "https://login.partner.test/oauth2"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signature)}"


def good_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "agent-0001",
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("k1")


def authenticator(*idps: tuple[IssuerSettings, FakeIdp], **settings: Any) -> Authenticator:
    auth_settings = AuthSettings(issuers=tuple(i for i, _ in idps), **settings)
    clients = {
        i.issuer: IdentityClient(i.jwks_url, exchange=HttpxExchange.over(idp.transport()))
        for i, idp in idps
    }
    return Authenticator(auth_settings, clients)


def primary(**settings: Any) -> IssuerSettings:
    """The workforce issuer, as [auth] configures it: any role, agents may be verified."""
    settings = {"roles": ("*",), "verification": True, **settings}
    return IssuerSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL, **settings)


async def started(idp: FakeIdp, **settings: Any) -> Authenticator:
    auth = authenticator((primary(), idp), **settings)
    await auth.start()
    return auth


async def refused(auth: Authenticator, token: str) -> None:
    with pytest.raises(InvalidToken):
        await auth.authenticate(f"Bearer {token}")


async def test_valid_token_becomes_a_principal(key: SigningKey) -> None:
    auth = await started(FakeIdp(key))
    principal = await auth.authenticate(f"Bearer {key.token(roles=['agent', 'supervisor'])}")
    assert principal.subject == "agent-0001" and principal.issuer == ISSUER
    assert principal.roles == {"agent", "supervisor"}
    await auth.close()


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_in_any_spelling_is_refused(key: SigningKey, alg: str) -> None:
    auth = await started(FakeIdp(key))
    await refused(auth, forge({"alg": alg, "kid": "k1", "typ": "JWT"}, good_claims()))
    await auth.close()


async def test_hs256_signed_with_our_public_key_is_refused(key: SigningKey) -> None:
    """Key confusion: the attacker knows our RSA public key and uses it as an HMAC secret."""
    auth = await started(FakeIdp(key))
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, json.dumps(key.jwk).encode()):
        unsigned = forge({"alg": "HS256", "kid": "k1"}, good_claims())
        signing_input = unsigned.rsplit(".", 1)[0].encode()
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
        await refused(auth, unsigned[: -0 or None].rsplit(".", 1)[0] + "." + b64(signature))
    await auth.close()


async def test_algorithms_outside_the_allow_list_are_refused(key: SigningKey) -> None:
    es_key = SigningKey("e1", alg="ES256")
    auth = authenticator((primary(algorithms=("RS256",)), FakeIdp(key, es_key)))
    await auth.start()
    await refused(auth, es_key.token())  # a real key of the issuer, but ES256 is not allowed here
    await refused(auth, key.token(headers={"alg": "RS512"}))
    await auth.close()
    with pytest.raises(ValueError, match="algorithms"):
        primary(algorithms=("HS256",))


async def test_stripped_truncated_or_foreign_signatures_are_refused(key: SigningKey) -> None:
    auth = await started(FakeIdp(key))
    token = key.token()
    head, body, signature = token.split(".")
    await refused(auth, f"{head}.{body}.")
    await refused(auth, f"{head}.{body}")
    await refused(auth, f"{head}.{body}.{signature[:-8]}")
    await refused(auth, SigningKey("k1").token())  # same kid, another key
    await auth.close()


@pytest.mark.parametrize("header", ["jku", "jwk", "x5u", "x5c"])
async def test_key_locating_headers_are_refused_even_with_a_valid_signature(
    key: SigningKey, header: str
) -> None:
    idp = FakeIdp(key)
    auth = await started(idp)
    value: Any = "https://attacker.test/keys" if header in ("jku", "x5u") else key.jwk
    if header == "x5c":
        value = ["MIIB..."]
    await refused(auth, key.token(headers={header: value}))
    assert idp.fetches == 1  # nothing was fetched because of it
    await auth.close()


@pytest.mark.parametrize(
    "kid", ["../../../../etc/passwd", "k1' OR '1'='1", "k1\u0000", "k1;rm -rf /", "", "x" * 300]
)
async def test_hostile_kids_are_refused_without_a_key_refetch(key: SigningKey, kid: str) -> None:
    idp = FakeIdp(key)
    auth = await started(idp)
    await refused(auth, key.token(headers={"kid": kid}))
    assert idp.fetches == 1
    await auth.close()


async def test_unknown_crit_extension_is_refused(key: SigningKey) -> None:
    auth = await started(FakeIdp(key))
    await refused(auth, key.token(headers={"crit": ["urn:example:must-understand"]}))
    await auth.close()


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": 1},
        {"exp": int(time.time()) - 60},  # expired beyond the 30 s leeway
        {"nbf": int(time.time()) + 3600},
        {"iat": int(time.time()) + 3600},
        {"exp": None},
        {"sub": None},
        {"aud": None},
        {"iss": None},
        {"sub": ""},
        {"aud": "someone-else"},
        {"aud": ["someone-else", "another"]},
        {"iss": "https://idp.test/realms/c"},  # a substring of ours
        {"iss": "https://idp.test/realms/cc/evil"},  # ours is a substring of it
        {"exp": str(int(time.time()) + 600)},  # a number given as a string
        {"nbf": "0"},
        {"exp": True},
    ],
)
async def test_wrong_missing_or_mistyped_claims_are_refused(
    key: SigningKey, overrides: dict[str, Any]
) -> None:
    auth = await started(FakeIdp(key))
    await refused(auth, key.token(**overrides))
    await auth.close()


async def test_leeway_accepts_small_clock_skew(key: SigningKey) -> None:
    auth = await started(FakeIdp(key))
    now = int(time.time())
    assert await auth.authenticate(f"Bearer {key.token(exp=now - 10, nbf=now + 10, iat=now + 10)}")
    await auth.close()


@pytest.mark.parametrize(
    "header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer not.a.jwt", "Bearer a.b.c"]
)
async def test_missing_or_malformed_credentials_are_refused(
    key: SigningKey, header: str | None
) -> None:
    auth = await started(FakeIdp(key))
    with pytest.raises(InvalidToken):
        await auth.authenticate(header)
    await auth.close()


async def test_oversized_token_is_refused_before_parsing(key: SigningKey) -> None:
    auth = await started(FakeIdp(key), max_token_bytes=512)
    with pytest.raises(InvalidToken, match="oversized"):
        await auth.authenticate(f"Bearer {key.token(pad='x' * 1000)}")
    await auth.close()


async def test_rotated_key_is_picked_up_without_restart_and_refetch_is_rate_limited(
    key: SigningKey,
) -> None:
    idp = FakeIdp(key)
    auth = await started(idp)
    assert idp.fetches == 1
    rotated = SigningKey("k2", alg="ES256")
    idp.keys.append(rotated)
    assert (await auth.authenticate(f"Bearer {rotated.token()}")).subject == "agent-0001"
    assert idp.fetches == 2
    stranger = SigningKey("k3")
    for _ in range(5):
        await refused(auth, stranger.token())
    assert idp.fetches == 2  # within the cooldown of the k2 refetch: no more fetches
    await auth.close()


async def test_jwks_outage_keeps_known_keys(key: SigningKey) -> None:
    idp = FakeIdp(key)
    auth = await started(idp)
    idp.down = True
    await auth.refresh()
    assert (await auth.authenticate(f"Bearer {key.token()}")).subject == "agent-0001"
    await auth.close()


async def test_a_hanging_jwks_fetch_blocks_neither_the_loop_nor_known_keys(key: SigningKey) -> None:
    idp = FakeIdp(key)
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        if idp.fetches:
            await release.wait()
        return idp.handler(request)

    settings = AuthSettings(issuers=(primary(),))
    auth = Authenticator(
        settings,
        {ISSUER: IdentityClient(JWKS_URL, exchange=HttpxExchange.over(httpx.MockTransport(slow)))},
    )
    await auth.start()
    pending = asyncio.create_task(auth.authenticate(f"Bearer {SigningKey('k9').token()}"))
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.01)
        ticks += 1
    assert not pending.done() and ticks == 5
    known = await asyncio.wait_for(auth.authenticate(f"Bearer {key.token()}"), timeout=1)
    assert known.subject == "agent-0001"
    release.set()
    with pytest.raises(InvalidToken):
        await pending
    await auth.close()


async def test_several_issuers_each_with_their_own_keys_and_audience(key: SigningKey) -> None:
    partner_key = SigningKey("p1")
    partner = IssuerSettings(
        issuer=OTHER_ISSUER,
        audience="api://switchboard",
        jwks_url="https://login.partner.test/keys",
    )
    auth = authenticator((primary(), FakeIdp(key)), (partner, FakeIdp(partner_key)))
    await auth.start()
    ok = partner_key.token(iss=OTHER_ISSUER, aud="api://switchboard")
    assert (await auth.authenticate(f"Bearer {ok}")).issuer == OTHER_ISSUER
    await refused(auth, partner_key.token(iss=OTHER_ISSUER))  # our audience, not theirs
    await refused(auth, key.token(iss=OTHER_ISSUER, aud="api://switchboard"))  # our key, their iss
    await refused(auth, partner_key.token())  # their key, our iss
    await refused(auth, key.token(iss="https://unknown.test"))
    await auth.close()


@pytest.mark.parametrize(
    ("claim_path", "claims", "roles"),
    [
        ("roles", {"roles": ["agent"]}, {"agent"}),
        ("realm_access.roles", {"realm_access": {"roles": ["supervisor"]}}, {"supervisor"}),
        ("realm_access.roles", {"realm_access": {}}, set()),
        ("realm_access.roles", {}, set()),
        ("scp", {"scp": "agent ivr"}, {"agent", "ivr"}),
        (
            "https://switchboard.test/roles",
            {"https://switchboard.test/roles": ["fraud_analyst"]},
            {"fraud_analyst"},
        ),
        ("roles", {"roles": "agent"}, {"agent"}),
    ],
)
async def test_roles_claim_path_is_configurable(
    key: SigningKey, claim_path: str, claims: dict[str, Any], roles: set[str]
) -> None:
    auth = authenticator((primary(roles_claim=claim_path), FakeIdp(key)))
    await auth.start()
    token = key.token(**{"roles": None, **claims})
    principal = await auth.authenticate(f"Bearer {token}")
    assert principal.roles == roles
    await auth.close()
