"""The verification question: does the interaction the caller names (X-Interaction-Id) verify
a customer? Prepared per request (`verification_for`: asked only when it can matter), asked
once execution starts (`Verification.start_for`, by the audit trail's extension), awaited by
the root fields before they return customer data (`settle`, through the request context's
`ready`) and drained before the answer leaves (`drain`). Until the answer is in, nobody is
verified (fail closed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
from graphql import DocumentNode, FieldNode
from graphql.utilities import get_operation_ast

from gateway.auth.authenticator import Principal
from gateway.masking.policy import Policy
from resolvers import BadUserInput, Loaders, valid_contact_id
from schema import Owner
from sources import SourceError
from sources.records import Contact, Customer

__all__ = ["NO_CUSTOMER_ROOTS", "Verification", "verification_for", "verifier"]

Known = Callable[[str], tuple[list[Customer], bool]]
"""For a CCaaS profile: the CRM customers known so far, and whether the CRM was asked who links
that profile (see `verifier`)."""

log = logging.getLogger("switchboard.access")

NO_CUSTOMER_ROOTS = frozenset({"searchArticles", "__typename", "__schema", "__type"})
"""Root fields that return no customer: an operation of these alone never asks the CCaaS system
about the caller's interaction (README "Batching"). Anything else, fragments included, asks."""


class Verification:
    """The caller's own interaction, as the CCaaS system reports it (None: not given, unknown,
    or not confirmed yet).

    It verifies a customer only while it is live, assigned to the caller (`sub`) and its ID&V
    passed, and only when the caller's issuer is one whose subjects are agents (`may_verify`,
    [auth] verification: a partner IdP may mint any `sub`); and then only the customer whose
    CCaaS profile it belongs to. The CCaaS question
    is asked when execution starts (`start`: after the limits and validation passed, so a
    refused operation costs no call) and its answer awaited by the root fields before they
    return customer data (`settle`), overlapping the first reads; until it has arrived, nobody
    is verified (fail closed)."""

    __slots__ = (
        "_ask",
        "_known",
        "_pending",
        "contact",
        "may_verify",
        "skipped",
        "subject",
        "unconfirmed",
    )

    def __init__(
        self,
        contact: Contact | None,
        subject: str,
        ask: Callable[[], Awaitable[Contact | None]] | None = None,
        *,
        may_verify: bool = False,
        skipped: str | None = None,
        known: Known | None = None,
    ) -> None:
        self.contact = contact
        self._known = known
        """The request's customers, for `reason` (`verifier`); None: `contact` is already as
        `verifier` sees it (a screen pop's)."""
        self.subject = subject
        self.may_verify = may_verify
        self._ask = ask
        self._pending: asyncio.Future[Contact | None] | None = None
        self.skipped = skipped
        """Why the CCaaS system is not asked at all (`malformed`, `not_needed`), or None."""
        self.unconfirmed = False
        """The CCaaS system could not answer (set by whoever asks it)."""

    def start(self) -> None:
        if self._ask is not None:
            ask, self._ask = self._ask, None
            self._pending = asyncio.ensure_future(ask())

    async def settle(self) -> None:
        """Until the answer is in. Every root field waits on the same question: the one that
        asked first must not leave the others believing nobody is verified while the answer
        is still on its way (shielded: a cancelled field does not cancel it for the rest)."""
        self.start()
        if self._pending is not None:
            self.contact = await asyncio.shield(self._pending)

    async def drain(self) -> None:
        """Wait for a question already asked (never ask one): a request answers only once
        every back-end call it made is over, so `extensions.sources` reports them all."""
        if self._pending is not None:
            await self.settle()

    @property
    def active(self) -> bool:
        return self._verifies(self.contact)

    def _verifies(self, c: Contact | None) -> bool:
        return (
            self.may_verify
            and c is not None
            and c.agent_id == self.subject
            and c.verified
            and c.state == "CONNECTED"
            and c.ended_at is None
            and c.profile_id is not None  # a caller with no profile: nobody to verify
        )

    def reason(self) -> str | None:
        """Why the named interaction verifies nobody, None when it verifies its customer: for
        `extensions.verification`, so a desktop developer sees why the agent got the
        unverified view. Checked in the order that tells least: whose it is before its state,
        so another agent's interaction reveals nothing more than that it is not the caller's."""
        if self.skipped is not None:
            return self.skipped
        if self._pending is None or not self._pending.done():
            return "not_checked"  # the operation never executed (refused, invalid)
        c = self.contact
        if c is not None and c.profile_id is not None and self._known is not None:
            known, asked = self._known(c.profile_id)
            c = verifier(c, known, asked=asked)
        if self._verifies(c):
            return None
        if c is None:
            return "unconfirmed" if self.unconfirmed else "unknown"
        if c.agent_id != self.subject:
            return "not_yours"
        if c.state != "CONNECTED" or c.ended_at is not None:
            return "not_live"
        if not c.verified:
            return "idv_not_passed"
        if c.profile_id is None:
            # a caller the CCaaS system does not know, or a profile no CRM customer links
            # (resolvers/callers.py)
            return "no_profile"
        return "not_yours"  # any further condition of `active` (the token's issuer)

    def start_for(self, document: DocumentNode | None, operation_name: str | None) -> None:
        """Ask now (execution starts: the operation passed every limit and validation), so the
        answer arrives concurrently with the first resolvers; unless no root field of the
        operation returns a customer (then a root field that does asks anyway, in `settle`)."""
        if _may_read_customers(document, operation_name):
            self.start()

    def covers(self, owner: Owner) -> bool:
        return (
            self.active
            and owner.profile_id is not None
            and self.contact is not None
            and owner.profile_id == self.contact.profile_id
        )


def verifier(contact: Contact, known: Iterable[Customer], *, asked: bool) -> Contact:
    """The contact as its verification sees it: the one rule for both a request's
    `extensions.verification` and a screen pop's frame. A CCaaS profile verifies only the CRM
    customer that links it, so a profile none links verifies nobody, as no profile does
    (`no_profile`). `known`: the customers read so far; `asked`: they include the CRM's answer
    to who links the profile (`customer_by_ccaas_profile`), so none of them linking it means
    nobody does. Not asked, none linking it proves nothing (the caller read other customers):
    the profile stands. Masking needs none of this: `covers` matches a profile only on a
    customer that links it."""
    profile = contact.profile_id
    if profile is None or not asked or any(c.ccaas_profile_id == profile for c in known):
        return contact
    return msgspec.structs.replace(contact, profile_id=None)


def verification_for(
    policy: Policy, principal: Principal, loaders: Loaders, interaction_id: str | None
) -> tuple[str | None, Verification]:
    """The caller's interaction id (None unless well formed) and its question for one request.
    The CCaaS system is asked about the named interaction only when the caller's issuer may
    verify agents and one of the caller's roles has verified treatments; any failure to
    confirm it leaves the caller unverified (fail closed)."""
    contact_id = None
    skipped = None
    if interaction_id is not None:
        try:
            contact_id = valid_contact_id(interaction_id)
        except BadUserInput:
            skipped = "malformed"
    ask = None
    if (
        contact_id is not None
        and principal.may_verify
        and policy.uses_verification(principal.roles)
    ):
        confirmed = contact_id

        def ask() -> Awaitable[Contact | None]:
            return _confirm(loaders, confirmed, verification)

    elif contact_id is not None:
        # no role of the caller has verified treatments, or its issuer's subjects are not
        # the workforce's agents (a partner IdP may mint any `sub`)
        skipped = "not_needed" if principal.may_verify else "issuer_may_not_verify"
    verification = Verification(
        None,
        principal.subject,
        ask,
        may_verify=principal.may_verify,
        skipped=skipped,
        known=lambda profile: _request_customers(loaders, profile),
    )
    return contact_id, verification


def _request_customers(loaders: Loaders, profile: str) -> tuple[list[Customer], bool]:
    """The customers the request has loaded (every one is primed into the by-id loader), and
    whether it asked the CRM who links `profile` (an `interaction { customer }` does): read
    from the loaders' caches when the answer is built, so the verification costs no call of
    its own."""
    known = [c for c in _settled(vars(loaders).get("customer")).values() if c is not None]
    asked = profile in _settled(vars(loaders).get("customer_by_ccaas_profile"))
    return known, asked


def _settled(loader: Any) -> dict[Any, Any]:
    """A loader's answered keys and their values (failed and pending loads left out)."""
    return {} if loader is None else dict(loader.answered())


async def _confirm(loaders: Loaders, contact_id: str, verification: Verification) -> Contact | None:
    try:
        return await loaders.contact.load(contact_id)
    except SourceError as exc:
        log.warning("cannot confirm interaction %s (%s): caller unverified", contact_id, exc.code)
        verification.unconfirmed = True
        return None


def _may_read_customers(document: DocumentNode | None, operation_name: str | None) -> bool:
    operation = get_operation_ast(document, operation_name) if document else None
    if operation is None:
        return True
    return not all(
        isinstance(node, FieldNode) and node.name.value in NO_CUSTOMER_ROOTS
        for node in operation.selection_set.selections
    )
