"""Identities are per issuer (issue #12 item 5, REVIEW D9): a partner IdP may mint any `sub`, so
an agent's `sub` from a partner token is not that agent. Rate limits are kept per (issuer, sub),
each issuer grants only its own roles, and only the workforce issuer's subjects can be verified
by X-Interaction-Id."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest

from gateway.auth.authenticator import Authenticator, Principal
from gateway.config import AuthSettings, ConfigError, IssuerSettings, build_config
from gateway.http.middleware import BearerAuth, RateLimit, RequestId
from gateway.limits.ratelimit import LocalLimiter, RateLimitSettings, Rule
from gateway.masking.guard import Guard
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.masking.verification import Verification
from gateway.observability.audit import AuditLog
from resolvers import Loaders
from schema import Owner
from sources import SYSTEMS, IdentityClient
from sources.records import Contact
from sources.transport import HttpxExchange

from .keys import AUDIENCE, ISSUER, JWKS_URL, FakeIdp, SigningKey

PARTNER = "https://login.partner.test/oauth2"
PARTNER_AUDIENCE = "api://switchboard"
VICTIM = "agent-0001"
SOURCES = {n: {"base_url": f"http://{n}"} for n in SYSTEMS}
PRIMARY_TABLE = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": JWKS_URL}
PARTNER_TABLE = {
    "issuer": PARTNER,
    "audience": PARTNER_AUDIENCE,
    "jwks_url": "https://login.partner.test/keys",
}


@pytest.fixture(scope="module")
def ours() -> SigningKey:
    return SigningKey("k1")


@pytest.fixture(scope="module")
def theirs() -> SigningKey:
    return SigningKey("p1")


def settings(**partner: Any) -> AuthSettings:
    raw = {"auth": {**PRIMARY_TABLE, "issuers": [{**PARTNER_TABLE, **partner}]}}
    return build_config({**raw, "sources": SOURCES}, env={}).auth


async def two_issuers(
    ours: SigningKey, theirs: SigningKey, **partner: Any
) -> tuple[Authenticator, str, str]:
    """An authenticator trusting both, and each one's token for the same `sub`."""
    auth_settings = settings(**{"roles": ["agent", "ivr"], **partner})
    clients = {
        ISSUER: IdentityClient(JWKS_URL, exchange=HttpxExchange.over(FakeIdp(ours).transport())),
        PARTNER: IdentityClient(
            PARTNER_TABLE["jwks_url"], exchange=HttpxExchange.over(FakeIdp(theirs).transport())
        ),
    }
    auth = Authenticator(auth_settings, clients)
    await auth.start()
    agent = ours.token(sub=VICTIM, roles=["agent"])
    forged = theirs.token(iss=PARTNER, aud=PARTNER_AUDIENCE, sub=VICTIM, roles=["agent"])
    return auth, agent, forged


def live_call_of(agent_id: str) -> Contact:
    return Contact(
        id="c1",
        profile_id="p1",
        channel="VOICE",
        direction="INBOUND",
        started_at=datetime.now(UTC),
        ended_at=None,
        state="CONNECTED",
        queue=None,
        agent_id=agent_id,
        intent=None,
        summary=None,
        disposition=None,
        idv_result="PASSED",
        ani=None,
        previous_contact_id=None,
    )


# --- configuration -------------------------------------------------------------------------


def test_primary_issuer_grants_any_role_and_verifies_added_ones_neither_by_default() -> None:
    primary, partner = settings(roles=["ivr"]).issuers
    assert primary.roles == ("*",) and primary.verification is True
    assert partner.roles == ("ivr",) and partner.verification is False
    assert settings(roles=[], verification=True).issuers[1].verification is True


def test_an_added_issuer_must_name_the_roles_it_may_grant() -> None:
    raw = {"auth": {**PRIMARY_TABLE, "issuers": [PARTNER_TABLE]}, "sources": SOURCES}
    with pytest.raises(ConfigError, match=r"auth\.issuers\.0\] needs roles"):
        build_config(raw, env={})


def test_the_dataclass_alone_grants_nothing() -> None:
    bare = IssuerSettings(issuer=PARTNER, audience=PARTNER_AUDIENCE, jwks_url=JWKS_URL)
    assert bare.roles == () and bare.verification is False


@pytest.mark.parametrize("claim", ["", ".roles", "realm_access..roles", "roles."])
def test_an_empty_claim_path_segment_is_a_config_error(claim: str) -> None:
    raw = {"auth": {**PRIMARY_TABLE, "roles_claim": claim}, "sources": SOURCES}
    with pytest.raises(ConfigError, match="roles_claim"):
        build_config(raw, env={})


# --- authentication ------------------------------------------------------------------------


async def test_each_issuer_grants_only_its_roles(
    ours: SigningKey, theirs: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    auth, _, _ = await two_issuers(ours, theirs, roles=["ivr"])
    caplog.set_level(logging.DEBUG, "switchboard.auth")
    greedy = theirs.token(
        iss=PARTNER, aud=PARTNER_AUDIENCE, roles=["ivr", "supervisor", "fraud_analyst"]
    )
    principal = await auth.authenticate(f"Bearer {greedy}")
    assert principal.roles == {"ivr"} and principal.may_verify is False
    assert any("fraud_analyst" in r.getMessage() for r in caplog.records)  # at debug
    ours_all = await auth.authenticate(f"Bearer {ours.token(roles=['supervisor', 'ivr'])}")
    assert ours_all.roles == {"supervisor", "ivr"} and ours_all.may_verify is True
    await auth.close()


async def test_an_issuer_with_no_roles_grants_none(ours: SigningKey, theirs: SigningKey) -> None:
    auth, _, forged = await two_issuers(ours, theirs, roles=[])
    assert (await auth.authenticate(f"Bearer {forged}")).roles == frozenset()
    await auth.close()


@pytest.mark.parametrize(
    ("claims", "roles"),
    [
        # a top-level key spelled like the path never wins over the path...
        (
            {"realm_access.roles": ["supervisor"], "realm_access": {"roles": ["agent"]}},
            {"agent"},
        ),
        # ...nor stands in for it
        ({"realm_access.roles": ["supervisor"]}, set()),
        ({"realm_access": {"roles": ["agent"]}}, {"agent"}),
    ],
)
async def test_a_dotted_roles_claim_is_a_path_only(
    ours: SigningKey, claims: dict[str, Any], roles: set[str]
) -> None:
    issuer = IssuerSettings(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=JWKS_URL,
        roles=("*",),
        roles_claim="realm_access.roles",
    )
    clients = {
        ISSUER: IdentityClient(JWKS_URL, exchange=HttpxExchange.over(FakeIdp(ours).transport()))
    }
    auth = Authenticator(AuthSettings(issuers=(issuer,)), clients)
    await auth.start()
    principal = await auth.authenticate(f"Bearer {ours.token(roles=None, **claims)}")
    assert principal.roles == roles
    await auth.close()


# --- verification --------------------------------------------------------------------------


async def test_a_partner_token_with_an_agents_sub_is_not_that_agent(
    ours: SigningKey, theirs: SigningKey
) -> None:
    """The victim's live, verified call and the victim's `sub`: only the workforce issuer's
    token gets the verified view."""
    auth, agent, forged = await two_issuers(ours, theirs)
    owner = Owner(customer_id="003x", profile_id="p1")
    for token, verified in ((agent, True), (forged, False)):
        principal = await auth.authenticate(f"Bearer {token}")
        assert principal.subject == VICTIM and "agent" in principal.roles
        verification = Verification(
            live_call_of(VICTIM), principal.subject, may_verify=principal.may_verify
        )
        assert verification.covers(owner) is verified
    await auth.close()


class _Contacts:
    """Stands in for `Loaders.contact`: the victim's live verified call, counting lookups."""

    def __init__(self) -> None:
        self.asked = 0

    async def load(self, contact_id: str) -> Contact:
        self.asked += 1
        return live_call_of(VICTIM)


class _Loaders:
    def __init__(self) -> None:
        self.contact = _Contacts()


@pytest.mark.parametrize(("may_verify", "verified"), [(True, True), (False, False)])
async def test_the_guard_never_asks_about_a_partner_callers_interaction(
    may_verify: bool, verified: bool
) -> None:
    guard = Guard(Policy.load(), Masker(b"k" * 32), AuditLog(lambda lines: None))
    principal = Principal(
        subject=VICTIM,
        roles=frozenset({"agent"}),
        issuer=ISSUER if may_verify else PARTNER,
        expires_at=0,
        may_verify=may_verify,
    )
    loaders = _Loaders()
    access = await guard.access(
        principal, cast(Loaders, loaders), "5f0c1a52-8a6e-4c1e-9f3e-1d2c3b4a5f60"
    )
    await access.verification.settle()
    assert access.verification.covers(Owner(customer_id="003x", profile_id="p1")) is verified
    assert loaders.contact.asked == (1 if may_verify else 0)  # no CCaaS call for a partner


# --- rate limits ---------------------------------------------------------------------------


async def test_local_buckets_are_per_issuer() -> None:
    limiter = LocalLimiter(clock=lambda: 0.0)
    rule = Rule(rate=1.0, burst=2)
    flood = [await limiter.acquire(PARTNER, VICTIM, rule) for _ in range(5)]
    assert flood[:2] == [None, None] and all(w is not None for w in flood[2:])
    assert await limiter.acquire(ISSUER, VICTIM, rule) is None


async def test_a_partner_flooding_with_an_agents_sub_does_not_limit_the_agent(
    ours: SigningKey, theirs: SigningKey
) -> None:
    """Through the middleware: the bucket is chosen by the token's issuer and subject."""
    auth, agent, forged = await two_issuers(ours, theirs)
    served: list[str] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["state"]["principal"].issuer)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = RequestId(
        BearerAuth(
            RateLimit(
                endpoint,
                LocalLimiter(clock=lambda: 0.0),
                RateLimitSettings(rate=0.001, burst=3),
            ),
            auth,
            ide=False,
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as http:

        async def post(token: str) -> int:
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
            return (await http.post("/graphql", content=b"{}", headers=headers)).status_code

        assert [await post(forged) for _ in range(5)] == [200, 200, 200, 429, 429]
        assert await post(agent) == 200
    assert served == [PARTNER] * 3 + [ISSUER]
    await auth.close()
