"""The gateway's side of masking, assembled once: the policy, the masker, the audit log and the
per-subject limits; per request the caller's `Access` (its verification question prepared),
and each request's admission (lookups, data budget)."""

from __future__ import annotations

import logging
import secrets

from gateway.auth.authenticator import Principal
from gateway.config import Config, ConfigError
from gateway.limits.admission import Admission
from gateway.limits.budget import DataBudget, Lookups, budgets_for
from gateway.masking.access import Access
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.masking.verification import verification_for
from gateway.observability.audit import AuditLog
from resolvers import Loaders

__all__ = ["Guard"]

log = logging.getLogger("switchboard.access")


class Guard:
    def __init__(
        self,
        policy: Policy,
        masker: Masker,
        audit: AuditLog,
        budget: DataBudget | None = None,
        lookups: Lookups | None = None,
        config: Config | None = None,
    ) -> None:
        self.policy = policy
        self.masker = masker
        self.audit = audit
        self.budget = budget
        self.lookups = lookups
        self.settings = config

    @classmethod
    def from_config(cls, config: Config, audit: AuditLog | None = None) -> Guard:
        policy = Policy.load(config.policy.file or None)
        key = config.policy.hash_key.encode()
        if not key:
            if policy.uses("hash") and config.server.profile == "production":
                # a random key per process makes `hash` values unjoinable across replicas and
                # restarts, the one thing the treatment is for: refuse rather than degrade
                raise ConfigError(
                    "[policy] hash_key is required in production when the policy uses the "
                    "hash treatment (set SWITCHBOARD_POLICY_HASH_KEY)"
                )
            if policy.uses("hash"):
                log.warning(
                    "no policy.hash_key: hashes are random per process "
                    "(set SWITCHBOARD_POLICY_HASH_KEY)"
                )
            key = secrets.token_bytes(32)
        redis_url = config.rate_limit.redis_url
        budget, lookups = budgets_for(config.data_budget, config.lookups, redis_url)
        audit = audit or AuditLog(config.audit.sink, config.audit.max_pending)
        return cls(policy, Masker(key), audit, budget, lookups, config)

    async def aclose(self) -> None:
        await self.audit.aclose()
        for closing in (self.budget, self.lookups):
            if closing is not None:
                await closing.aclose()

    async def access(
        self, principal: Principal, loaders: Loaders, interaction_id: str | None
    ) -> Access:
        """The caller's access for one request, with its verification question prepared (asked
        once execution starts: gateway/masking/verification.py)."""
        contact_id, verification = verification_for(self.policy, principal, loaders, interaction_id)
        return Access(
            self.policy,
            self.masker,
            principal,
            verification,
            interaction_id=contact_id,
        )

    def admission(self) -> Admission:
        """One request's limits before execution (gateway/limits/admission.py): lookups and the
        data budget, each only with its settings. The audit trail's extension makes one per
        request (gateway/observability/trail.py)."""
        settings = self.settings
        budget, lookups = self.budget, self.lookups
        return Admission(
            (budget, settings.data_budget) if budget is not None and settings else None,
            (lookups, settings.lookups) if lookups is not None and settings else None,
        )
