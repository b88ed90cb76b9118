"""Per-request access decisions: which treatment a sensitive field gets for this caller and this
customer, and the audit records of what was read. Decisions are synchronous and cached per
(class, verified) for the request, so masking costs a dict lookup per sensitive value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from graphql import GraphQLError
from graphql.pyutils import Path

from gateway.auth.authenticator import Principal
from gateway.masking.policy import Policy
from gateway.masking.treatments import Masker
from gateway.masking.verification import Verification
from gateway.observability import codes
from schema import Owner, SensitiveClass

if TYPE_CHECKING:
    from gateway.limits.budget import Ledger

__all__ = ["Access", "FieldForbidden"]


UNLOCK = "VERIFIED_INTERACTION"
"""`extensions.unlock` of a FORBIDDEN_FIELD that the customer's verification on the caller's
own live interaction would lift (the role's verified treatment of the class is not `deny`)."""

_REFUSALS = {codes.DATA_BUDGET_EXCEEDED: "the caller's data budget for this window is spent"}


class FieldForbidden(GraphQLError):
    """The policy denies this field to the caller: null plus FORBIDDEN_FIELD at its path, and
    `unlock` when verifying the customer on the caller's interaction would show it; or
    DATA_BUDGET_EXCEEDED (`refusal`) when the policy grants it but the caller's data budget is
    spent."""

    def __init__(
        self, klass: SensitiveClass, *, unlock: bool = False, refusal: str | None = None
    ) -> None:
        extensions = {"code": refusal or codes.FORBIDDEN_FIELD, "class": klass.value}
        if unlock and refusal is None:
            extensions["unlock"] = UNLOCK
        message = _REFUSALS.get(refusal or "", "not permitted for the caller's roles")
        super().__init__(message, extensions=extensions)


@dataclass(slots=True)
class _Read:
    klass: SensitiveClass
    treatment: str
    path: Path
    key: str | None  # the field's key under `path` (compiled execution), joined if audited
    owner: Owner
    verified: bool
    count: int = 1
    refusal: str | None = None


_HEADS: dict[str, tuple[SensitiveClass, bytes]] = {}
"""`"class":…,"field":…,` of an audit line by field coordinate (with the class it was encoded
for), and `_TAILS` its `"verified":…,"treatment":…,"outcome":…[,"refusal":…]}` by (verified,
treatment, refusal): encoded once for the process, not once per line. Both are keyed by the
schema's coordinates and the policy's words, never a caller's input, and stop growing at
`_ENCODED_MAX` entries (past it a part is encoded per line, as before)."""
_TAILS: dict[tuple[bool, str, str | None], bytes] = {}
_ENCODED_MAX = 4096


def _head(klass: SensitiveClass, field: str) -> bytes:
    head = orjson.dumps({"class": klass, "field": field.partition(":")[0]})[1:-1] + b","
    if len(_HEADS) < _ENCODED_MAX:
        _HEADS[field] = (klass, head)
    return head


def _tail(verified: bool, treatment: str, refusal: str | None) -> bytes:
    own: dict[str, object] = {
        "verified": verified,
        "treatment": treatment,
        "outcome": "denied" if treatment == "deny" else "granted",
    }
    if refusal:
        own["refusal"] = refusal
    tail = b"," + orjson.dumps(own)[1:] + b"\n"
    if len(_TAILS) < _ENCODED_MAX:
        _TAILS[(verified, treatment, refusal)] = tail
    return tail


def _dotted(path: Path | None, dotted: dict[int, str]) -> str:
    """`path` dotted ("findCustomers.0.accounts"), each prefix joined once per call of
    `audit_lines` (`dotted`, by the id of a `Path` the reads hold meanwhile): the reads of one
    object, and of the objects of one list, share theirs."""
    if path is None:
        return ""
    found = dotted.get(id(path))
    if found is None:
        prefix = _dotted(path.prev, dotted)
        found = dotted[id(path)] = f"{prefix}.{path.key}" if prefix else str(path.key)
    return found


class Access:
    def __init__(
        self,
        policy: Policy,
        masker: Masker,
        principal: Principal,
        verification: Verification,
        *,
        interaction_id: str | None,
    ) -> None:
        self.policy = policy
        self.masker = masker
        self.principal = principal
        self.verification = verification
        self.interaction_id = interaction_id
        self._decided: dict[tuple[SensitiveClass, bool], str] = {}
        self._unlockable: dict[SensitiveClass, bool] = {}
        self._reads: dict[tuple[str, Owner], _Read] = {}
        """By (field, owner): an `Owner` is a (customer, profile) tuple, the key as it is."""
        self.budget: Ledger | None = None
        """The caller's data budget (gateway/limits/budget.py), when one applies."""
        self._refusal: str | None = None
        """Why the "deny" `decide` just returned is not the policy's (the data budget):
        read by the `forbidden` its caller asks for next, in the same synchronous step."""

    def _within_budget(self, owner: Owner, treatment: str) -> str | None:
        """None, or why a value the policy grants is refused: the customer would be one more
        than the caller's budget allows (deny and redact reveal nothing, so never count)."""
        if self.budget is None or treatment in ("deny", "redact") or self.budget.admit(owner):
            return None
        return codes.DATA_BUDGET_EXCEEDED

    def decide(
        self,
        field: str,
        klass: SensitiveClass,
        owner: Owner,
        path: Path,
        key: str | None = None,
        treatments: tuple[str, str] | None = None,
    ) -> str:
        """The treatment for one value of `field` (a "Type.field" coordinate, suffixed with the
        class where it varies per value) owned by `owner`, remembered for the audit. Both
        executions ask here: standard execution with the value's `path`; compiled execution
        with its object's `path` and the field's `key` (joined only if audited) and the
        treatments its plan holds for the caller's roles (unverified, verified).

        The hot path is one dict lookup: the first value of a field for a customer decides, the
        rest of that customer's values (a list of cards) reuse the decision."""
        read = self._reads.get((field, owner))
        if read is not None:
            read.count += 1
            self._refusal = read.refusal
            return read.treatment
        verified = self.verification.covers(owner)
        if treatments is not None:
            treatment = treatments[verified]
        else:
            decided = self._decided.get((klass, verified))
            if decided is None:
                decided = self.policy.treatment(self.principal.roles, klass, verified)
                self._decided[(klass, verified)] = decided
            treatment = decided
        refusal = self._refusal = self._within_budget(owner, treatment)
        if refusal is not None:
            treatment = "deny"
        self._reads[(field, owner)] = _Read(
            klass, treatment, path, key, owner, verified, refusal=refusal
        )
        return treatment

    def forbidden(self, klass: SensitiveClass) -> FieldForbidden:
        """The error of a denied read of `klass`. A denial is the unverified treatment whenever
        the verified one would not deny (verified callers get the verified treatment), so
        `unlock` says verification would show it."""
        unlock = self._unlockable.get(klass)
        if unlock is None:
            unlock = self.policy.treatment(self.principal.roles, klass, True) != "deny"
            self._unlockable[klass] = unlock
        refusal, self._refusal = self._refusal, None
        return FieldForbidden(klass, unlock=unlock, refusal=refusal)

    def verification_report(self) -> dict[str, str | None] | None:
        """`extensions.verification` for a request that named an interaction (X-Interaction-Id):
        its id back, whether it verifies, and why not. Nothing of the contact itself (its
        agent, customer or state) is reported; None when no interaction was named."""
        if self.interaction_id is None and self.verification.skipped != "malformed":
            return None
        reason = self.verification.reason()
        report: dict[str, str | None] = {
            "interactionId": self.interaction_id,  # None when malformed: not echoed
            "status": "verified" if reason is None else "not_verified",
        }
        if reason is not None:
            report["reason"] = reason
        return report

    def audit_lines(
        self,
        request_id: str,
        operation: str | None,
        client_request_id: str | None = None,
        customers: Mapping[str, str] | None = None,
    ) -> bytes:
        """The request's audit events as JSON lines. What every event of the request shares is
        encoded once; a screen-pop over 200 customers emits ~4,000 events. `customers` names
        the customer of a read known only by its CCaaS profile (an `interaction(id:)`)."""
        common = (
            orjson.dumps(
                {
                    "type": "sensitive_read",
                    "time": datetime.now(UTC).isoformat(),
                    "requestId": request_id,
                    "clientRequestId": client_request_id,
                    "subject": self.principal.subject,
                    "issuer": self.principal.issuer,
                    "roles": sorted(self.principal.roles),
                    "operation": operation,
                    "interactionId": self.interaction_id,
                }
            )[:-1]
            + b","
        )
        lines: list[bytes] = []
        append = lines.append
        dumps = orjson.dumps
        heads, tails = _HEADS, _TAILS
        dotted: dict[int, str] = {}
        for (field, _), read in self._reads.items():
            treatment = read.treatment
            if treatment == "redact":
                continue
            owner = read.owner
            customer_id = owner.customer_id
            if customer_id is None and customers and owner.profile_id is not None:
                customer_id = customers.get(owner.profile_id)
            path: Path | None = read.path
            key: str | int | None = read.key
            if key is None:  # standard execution: the value's own path
                path, key = read.path.prev, read.path.key
            found = dotted.get(id(path))
            if found is None:
                found = _dotted(path, dotted)
            klass = read.klass
            head = heads.get(field)
            append(common)
            append(head[1] if head is not None and head[0] is klass else _head(klass, field))
            own = {
                "path": f"{found}.{key}" if found else str(key),
                "values": read.count,
                "customerId": customer_id,
                "profileId": owner.profile_id,
            }
            append(dumps(own)[1:-1])
            refusal = read.refusal
            tail = tails.get((read.verified, treatment, refusal))
            append(tail if tail is not None else _tail(read.verified, treatment, refusal))
        return b"".join(lines)
