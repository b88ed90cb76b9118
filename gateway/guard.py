"""The gateway's side of masking: the policy, the masker and the audit log, and per request the
caller's `Access` (including whether their named interaction verifies a customer)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Iterator

from strawberry.extensions import SchemaExtension

from resolvers import BadUserInput, Loaders, valid_contact_id
from sources import SourceError
from sources.records import Contact

from .access import Access, Verification
from .audit import AuditLog, safe_operation_name
from .auth import Principal
from .config import Config
from .policy import Policy
from .treatments import Masker

__all__ = ["Guard"]

log = logging.getLogger("switchboard.access")


async def _confirm(loaders: Loaders, contact_id: str) -> Contact | None:
    try:
        return await loaders.contact.load(contact_id)
    except SourceError as exc:
        log.warning("cannot confirm interaction %s (%s): caller unverified", contact_id, exc.code)
        return None


class Guard:
    def __init__(self, policy: Policy, masker: Masker, audit: AuditLog) -> None:
        self.policy = policy
        self.masker = masker
        self.audit = audit

    @classmethod
    def from_config(cls, config: Config, audit: AuditLog | None = None) -> Guard:
        policy = Policy.load(config.policy.file or None)
        key = config.policy.hash_key.encode()
        if not key:
            log.warning(
                "no policy.hash_key: hashes are random per process "
                "(set SWITCHBOARD_POLICY_HASH_KEY)"
            )
            key = secrets.token_bytes(32)
        return cls(policy, Masker(key), audit or AuditLog(config.audit.sink))

    async def access(
        self, principal: Principal, loaders: Loaders, interaction_id: str | None
    ) -> Access:
        """The caller's access for one request. The CCaaS system is asked about the named
        interaction only when the caller's issuer may verify agents and one of the caller's
        roles has verified treatments; any failure to
        confirm it leaves the caller unverified (fail closed)."""
        contact_id = None
        if interaction_id is not None:
            try:
                contact_id = valid_contact_id(interaction_id)
            except BadUserInput:
                contact_id = None
        ask = None
        if (
            contact_id is not None
            and principal.may_verify
            and self.policy.uses_verification(principal.roles)
        ):
            confirmed = contact_id

            def ask() -> Awaitable[Contact | None]:
                return _confirm(loaders, confirmed)

        return Access(
            self.policy,
            self.masker,
            principal,
            Verification(None, principal.subject, ask, may_verify=principal.may_verify),
            interaction_id=contact_id,
        )

    def audit_extension(self) -> type[SchemaExtension]:
        """A schema extension that writes the request's audit events once it has executed."""
        audit = self.audit

        class AuditTrail(SchemaExtension):
            def on_execute(self) -> Iterator[None]:
                # the operation passed every limit and validation: ask about the caller's
                # interaction now, concurrently with the first resolvers
                access = getattr(self.execution_context.context, "access", None)
                if isinstance(access, Access):
                    access.verification.start()
                yield

            async def on_operation(self) -> AsyncIterator[None]:
                yield
                context = self.execution_context.context
                access = getattr(context, "access", None)
                if isinstance(access, Access):
                    # a root field that failed early leaves calls in flight (the caller's
                    # verification, its siblings' loads): they belong to this answer too
                    await access.verification.drain()
                    await context.loaders.drain()
                    name = safe_operation_name(self.execution_context.operation_name)
                    audit.write(access.audit_lines(context.request_id, name))

        return AuditTrail
