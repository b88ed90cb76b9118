"""Bearer JWT verification against the issuer's JWKS (the full RFC 8725 matrix comes with the
identity issue; these pin what the foundation promises)."""

from __future__ import annotations

import jwt
import pytest

from gateway.auth import Authenticator, InvalidToken
from gateway.config import AuthSettings
from sources import IdentityClient

from .keys import AUDIENCE, ISSUER, JWKS_URL, FakeIdp, SigningKey


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("k1")


def authenticator(idp: FakeIdp, **settings: object) -> Authenticator:
    auth_settings = AuthSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=JWKS_URL, **settings)  # type: ignore[arg-type]
    return Authenticator(auth_settings, IdentityClient(JWKS_URL, mock=idp.transport()))


async def test_valid_token_becomes_a_principal(key: SigningKey) -> None:
    auth = authenticator(FakeIdp(key))
    await auth.start()
    principal = await auth.authenticate(f"Bearer {key.token(roles=['agent', 'supervisor'])}")
    assert principal.subject == "agent-0001"
    assert principal.roles == {"agent", "supervisor"}
    await auth.close()


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": 1},
        {"aud": "someone-else"},
        {"iss": "https://idp.test/realms"},
        {"exp": None},
        {"sub": None},
        {"aud": None},
        {"iss": None},
    ],
)
async def test_wrong_or_missing_claims_are_refused(
    key: SigningKey, overrides: dict[str, object]
) -> None:
    auth = authenticator(FakeIdp(key))
    await auth.start()
    with pytest.raises(InvalidToken):
        await auth.authenticate(f"Bearer {key.token(**overrides)}")
    await auth.close()


async def test_alg_none_and_foreign_key_are_refused(key: SigningKey) -> None:
    auth = authenticator(FakeIdp(key))
    await auth.start()
    unsigned = jwt.encode(
        {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": 2**40},
        None,  # type: ignore[arg-type]
        algorithm="none",
        headers={"kid": "k1"},
    )
    with pytest.raises(InvalidToken):
        await auth.authenticate(f"Bearer {unsigned}")
    impostor = SigningKey("k1")  # same kid, other key
    with pytest.raises(InvalidToken):
        await auth.authenticate(f"Bearer {impostor.token()}")
    await auth.close()


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer not.a.jwt"])
async def test_missing_or_malformed_credentials_are_refused(
    key: SigningKey, header: str | None
) -> None:
    auth = authenticator(FakeIdp(key))
    await auth.start()
    with pytest.raises(InvalidToken):
        await auth.authenticate(header)
    await auth.close()


async def test_rotated_key_is_picked_up_without_restart_and_refetch_is_rate_limited(
    key: SigningKey,
) -> None:
    idp = FakeIdp(key)
    auth = authenticator(idp)
    await auth.start()
    assert idp.fetches == 1
    rotated = SigningKey("k2", alg="ES256")
    idp.keys.append(rotated)
    assert (await auth.authenticate(f"Bearer {rotated.token()}")).subject == "agent-0001"
    assert idp.fetches == 2
    stranger = SigningKey("k3")
    for _ in range(5):
        with pytest.raises(InvalidToken):
            await auth.authenticate(f"Bearer {stranger.token()}")
    assert idp.fetches == 2  # within the cooldown of the k2 refetch: no more fetches
    await auth.close()


async def test_jwks_outage_keeps_known_keys(key: SigningKey) -> None:
    idp = FakeIdp(key)
    auth = authenticator(idp)
    await auth.start()
    idp.down = True
    await auth.refresh(force=True)
    assert (await auth.authenticate(f"Bearer {key.token()}")).subject == "agent-0001"
    await auth.close()


async def test_oversized_token_is_refused_before_parsing(key: SigningKey) -> None:
    auth = authenticator(FakeIdp(key), max_token_bytes=512)
    await auth.start()
    with pytest.raises(InvalidToken, match="oversized"):
        await auth.authenticate(f"Bearer {key.token(pad='x' * 1000)}")
    await auth.close()
