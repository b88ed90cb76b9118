"""Lazy, deterministic generation of what happened to a customer: contacts, cases, core events.

Contact ids carry their owner's index (XOR-masked in the uuid's last group), so a lookup by
contact id regenerates one profile instead of needing an eager index of every contact.
"""

from __future__ import annotations

import random

from .generate import CASES, CONTACTS, DAY, EVENTS, HISTORY_DAYS, Generator
from .records import Banking, Case, Contact, Joined, dumps, money
from .vocabulary import (
    BOT_SUMMARY,
    CASE_OWNERS,
    CASE_STATUSES,
    DISPOSITIONS,
    INTENT_BY_NAME,
    INTENTS,
    SUMMARY_TEMPLATES,
    Intent,
)

_MAX_CONTACTS = 20
_ORDINAL_BITS = 5  # room for _MAX_CONTACTS generated contacts per profile
_CHANNELS = ("VOICE", "CHAT", "IVR", "BOT")
_CHANNEL_WEIGHTS = (55, 15, 20, 10)


class Activity:
    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.clock = generator.clock
        self._id_mask = random.Random(generator.seed ^ 0x5EED_C0DE).getrandbits(48)

    def owner_of(self, contact_id: str) -> tuple[int, int] | None:
        """(customer index, ordinal) a generated contact id points at, if it could be one."""
        if len(contact_id) != 36:
            return None
        try:
            tail = int(contact_id[-12:], 16) ^ self._id_mask
        except ValueError:
            return None
        index, ordinal = tail >> _ORDINAL_BITS, tail & ((1 << _ORDINAL_BITS) - 1)
        if index >= self.generator.population.size or ordinal >= _MAX_CONTACTS:
            return None
        return index, ordinal

    def _contact_id(self, rng: random.Random, index: int, ordinal: int) -> str:
        bits = rng.getrandbits(64)
        tail = ((index << _ORDINAL_BITS) | ordinal) ^ self._id_mask
        return (
            f"{bits >> 32:08x}-{(bits >> 16) & 0xFFFF:04x}-4{(bits >> 4) & 0xFFF:03x}-"
            f"{0x8000 | (bits & 0xF) << 8 | rng.getrandbits(8):04x}-{tail:012x}"
        )

    def contacts(self, index: int, banking: Banking) -> tuple[Contact, ...]:
        """0-20 contacts over 90 days, newest first; ~15% end with a repeat within 7 days."""
        rng = self.generator.rng(index, CONTACTS)
        who = self.generator.skeleton(index)
        count = min(_MAX_CONTACTS, int(rng.expovariate(1 / 5)))
        offsets = sorted(
            (rng.randint(3_600, HISTORY_DAYS * DAY) for _ in range(count)), reverse=True
        )  # oldest first
        intents = [rng.choice(INTENTS) for _ in range(count)]
        repeat = count >= 2 and rng.random() < 0.15
        if repeat:
            offsets[-1] = rng.randint(1_800, 3 * DAY)
            offsets[-2] = offsets[-1] + rng.randint(3 * 3_600, 3 * DAY)
            offsets.sort(reverse=True)
            intents[-2] = intents[-1]
        if banking.fraud_hold and count:
            intents[-1] = INTENT_BY_NAME["fraud_report"]
            if repeat:
                intents[-2] = intents[-1]
        contacts: list[tuple[int, Contact]] = []
        previous: tuple[str, int, str, Intent] | None = None  # (id, end offset, channel, intent)
        for ordinal in range(count):
            intent = intents[ordinal]
            offset = offsets[ordinal]
            channel = rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0]
            method = "INBOUND"
            previous_id = None
            can_transfer = not repeat or ordinal < count - 2
            if (
                channel == "VOICE"
                and previous
                and previous[2] == "VOICE"
                and can_transfer
                and rng.random() < 0.3
            ):
                method, previous_id, intent = "TRANSFER", previous[0], previous[3]
                offset = max(60, previous[1] - 30)
            elif channel in ("VOICE", "CHAT"):
                method = rng.choices(("INBOUND", "OUTBOUND", "CALLBACK"), (88, 6, 6))[0]
            duration = (
                rng.randint(60, 1_500) if channel in ("VOICE", "CHAT") else rng.randint(30, 300)
            )
            self_service = channel in ("IVR", "BOT")
            idv = rng.choices(
                ("PASSED", "FAILED", "NOT_ATTEMPTED"), (50, 5, 45) if self_service else (75, 7, 18)
            )[0]
            contact_id = self._contact_id(rng, index, ordinal)
            topic = intent.topic
            if self_service:
                summary = BOT_SUMMARY.format(topic=topic)
                disposition = rng.choice(("SELF_SERVED", "SELF_SERVED", None))
            else:
                template = rng.choice(SUMMARY_TEMPLATES)
                summary = template.format(topic=topic, Topic=topic[0].upper() + topic[1:])
                disposition = rng.choice(DISPOSITIONS)
            started = self.clock.iso(offset)
            body = dumps(
                {
                    "Id": contact_id,
                    "ProfileId": who.profile_id,
                    "Channel": channel,
                    "InitiationMethod": method,
                    "InitiationTimestamp": started,
                    "DisconnectTimestamp": self.clock.iso(max(0, offset - duration)),
                    "State": "ENDED",
                    "QueueName": {"IVR": "IVR Self-Service", "BOT": "Chatbot"}.get(
                        channel, intent.queue
                    ),
                    "AgentId": None if self_service else f"agent-{rng.randint(1, 80):03d}",
                    "Intent": intent.name,
                    "Summary": summary,
                    "Disposition": disposition,
                    "IdvResult": idv,
                    "CustomerEndpoint": {"Address": rng.choice(who.phones)[1]},
                    "PreviousContactId": previous_id,
                }
            )
            contacts.append((offset, Contact(contact_id, started, body)))
            previous = (contact_id, max(0, offset - duration), channel, intent)
        contacts.sort(key=lambda pair: pair[0])  # smallest offset = newest first
        return tuple(contact for _, contact in contacts)

    def cases(self, index: int) -> tuple[Case, ...]:
        rng = self.generator.rng(index, CASES)
        who = self.generator.skeleton(index)
        count = rng.choices((0, 1, 2, 3), (50, 30, 15, 5))[0]
        cases: list[tuple[int, Case]] = []
        for ordinal in range(count):
            intent = rng.choice(INTENTS)
            created = rng.randint(DAY // 2, HISTORY_DAYS * DAY)
            status = rng.choices(CASE_STATUSES, (15, 30, 10, 45))[0]
            modified = rng.randint(0, created - 600) if status != "New" else created
            serial = index * 4 + ordinal
            body = dumps(
                {
                    "Id": f"500SB{serial + 1:013d}",
                    "CaseNumber": f"{10_000_000 + serial * 7 + self.generator.seed % 7:08d}",
                    "ContactId": who.crm_id,
                    "Subject": f"{intent.topic[0].upper()}{intent.topic[1:]}",
                    "Status": status,
                    "Priority": rng.choices(("Low", "Medium", "High"), (40, 45, 15))[0],
                    "Type": intent.case_type,
                    "CreatedDate": self.clock.iso(created),
                    "LastModifiedDate": self.clock.iso(modified),
                    "OwnerName": rng.choice(CASE_OWNERS),
                }
            )
            cases.append((created, Case(status == "Closed", body)))
        cases.sort(key=lambda pair: pair[0])
        return tuple(case for _, case in cases)

    def events(self, index: int, banking: Banking) -> Joined:
        """Core events for the journey timeline, newest first, consistent with the accounts."""
        rng = self.generator.rng(index, EVENTS)
        who = self.generator.skeleton(index)
        raw: list[tuple[int, str, str, str]] = []  # (offset, type, summary, ref)
        for account in banking.accounts:
            if account.opened_days_ago <= HISTORY_DAYS:
                raw.append(
                    (
                        account.opened_days_ago * DAY,
                        "ACCOUNT_OPENED",
                        f"Opened {account.product}",
                        account.account_id,
                    )
                )
            if account.account_type in ("CREDIT_CARD", "LOAN"):
                for month in range(min(3, account.opened_days_ago // 30)):
                    if rng.random() < 0.85:
                        amount = money(rng.randint(2_500, 90_000))
                        raw.append(
                            (
                                month * 30 * DAY + rng.randint(DAY, 29 * DAY),
                                "PAYMENT_POSTED",
                                f"Payment of ${amount} posted to {account.product}",
                                account.account_id,
                            )
                        )
            if account.account_type == "CHECKING" and rng.random() < 0.25:
                raw.append(
                    (
                        rng.randint(DAY, HISTORY_DAYS * DAY),
                        "FEE_CHARGED",
                        f"Fee of ${money(rng.choice((1_200, 3_500, 500)))} charged",
                        account.account_id,
                    )
                )
        if banking.fraud_hold:
            offset = rng.randint(3_600, 5 * DAY)
            ref = banking.cards[0].card_id if banking.cards else banking.accounts[0].account_id
            raw.append((offset, "FRAUD_ALERT", f"Fraud alert: {banking.fraud_reason}", ref))
        for card in banking.cards:
            if card.blocked:
                raw.append(
                    (
                        rng.randint(600, 5 * DAY),
                        "CARD_BLOCKED",
                        f"Card ending {card.pan[-4:]} blocked",
                        card.card_id,
                    )
                )
        raw.sort(key=lambda item: item[0])
        bodies = [
            dumps(
                {
                    "EventId": f"EVT{who.party_id[3:]}{position:03d}",
                    "PartyId": who.party_id,
                    "Type": kind,
                    "Time": self.clock.iso(offset),
                    "Summary": summary,
                    "RefId": ref,
                }
            )
            for position, (offset, kind, summary, ref) in enumerate(raw)
        ]
        return Joined.of(bodies)
