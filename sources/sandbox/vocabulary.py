"""Word lists the synthetic population is drawn from.

Kept apart from the generators so that realism (names, merchants, intents) can grow without
touching the logic that guarantees determinism.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Andre", "Beatriz", "Ben", "Carla", "Chen", "Chloe", "Dario",
    "David", "Elena", "Emeka", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Isaac",
    "Jamal", "Jin", "Julia", "Kai", "Kofi", "Lara", "Leo", "Lina", "Luis", "Maya", "Mei", "Milan",
    "Nadia", "Noah", "Nora", "Omar", "Paula", "Priya", "Rafael", "Rosa", "Ruth", "Sam", "Sara",
    "Sofia", "Tariq", "Theo", "Uma", "Victor", "Wen", "Yara", "Yusuf", "Zoe",
)  # fmt: skip

LAST_NAMES = (
    "Adams", "Ahmed", "Alvarez", "Baker", "Bianchi", "Brooks", "Chen", "Costa", "Cruz", "Diaz",
    "Dubois", "Evans", "Fischer", "Garcia", "Gupta", "Hansen", "Haddad", "Ito", "Jensen", "Kim",
    "Kowalski", "Lee", "Lopez", "Moreno", "Murphy", "Nakamura", "Novak", "Okafor", "Olsen",
    "Patel", "Perez", "Quinn", "Reyes", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith",
    "Suzuki", "Tanaka", "Torres", "Nguyen", "Walker", "Wang", "Weber", "Williams", "Young",
)  # fmt: skip

STREETS = (
    "Elm St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Lake Rd", "Hill St", "Park Ave",
    "River Rd", "Sunset Blvd", "Main St", "2nd St", "Walnut St", "Chestnut St", "Birch Way",
)  # fmt: skip

# (city, state, postal code prefix)
CITIES = (
    ("Springfield", "IL", "627"), ("Columbus", "OH", "432"), ("Austin", "TX", "787"),
    ("Portland", "OR", "972"), ("Denver", "CO", "802"), ("Madison", "WI", "537"),
    ("Raleigh", "NC", "276"), ("Tucson", "AZ", "857"), ("Albany", "NY", "122"),
    ("Richmond", "VA", "232"), ("Boise", "ID", "837"), ("Omaha", "NE", "681"),
    ("Savannah", "GA", "314"), ("Tacoma", "WA", "984"), ("Trenton", "NJ", "086"),
)  # fmt: skip

LANGUAGES = ("en-US",) * 8 + ("es-US", "es-US", "zh-CN", "vi-VN")

MERCHANTS = (
    "Corner Grocery", "FreshMart", "City Transit", "Blue Bottle Cafe", "Shell", "Chevron",
    "Amazon Marketplace", "Target", "Walgreens", "CVS Pharmacy", "Netflix", "Spotify",
    "Home Depot", "IKEA", "Uber", "Lyft", "Delta Air Lines", "Marriott", "Whole Foods",
    "Trader Joe's", "Best Buy", "Apple Store", "Comcast", "Verizon Wireless", "PG&E",
    "Planet Fitness", "Chipotle", "Starbucks", "Costco", "Etsy",
)  # fmt: skip

PRODUCTS = {
    "CHECKING": ("Everyday Checking", "Premier Checking", "Student Checking"),
    "SAVINGS": ("Way2Save Savings", "High Yield Savings", "Goal Saver"),
    "CREDIT_CARD": ("Cash Back Visa", "Travel Rewards Card", "Platinum Mastercard"),
    "LOAN": ("Personal Loan", "Auto Loan", "Home Equity Line"),
}

FRAUD_REASONS = (
    "Card-not-present spike", "Account takeover suspected", "Unrecognised device login",
    "Counterfeit card used", "Customer reported fraud",
)  # fmt: skip

CASE_STATUSES = ("New", "Working", "Escalated", "Closed")


@dataclass(frozen=True, slots=True)
class Intent:
    """A caller's reason for contact, as the IVR or bot classifies it."""

    name: str
    topic: str  # a noun phrase used in summaries, case subjects and article titles
    queue: str
    case_type: str  # Billing|Card|Fraud|Payments|Account|Complaint
    keywords: str  # words a searching agent would type


INTENTS = (
    Intent("card_lost", "lost card", "Cards", "Card", "lost card replace block missing"),
    Intent("card_stolen", "stolen card", "Fraud", "Fraud", "stolen card block theft police"),
    Intent("card_declined", "declined card payment", "Cards", "Card",
           "declined card payment merchant authorisation"),
    Intent("card_activation", "card activation", "Cards", "Card", "activate new card pin"),
    Intent("balance_inquiry", "balance inquiry", "General", "Account",
           "balance available current account"),
    Intent("transaction_inquiry", "unrecognised transaction", "General", "Account",
           "transaction unrecognised merchant pending"),
    Intent("dispute_transaction", "transaction dispute", "Disputes", "Billing",
           "dispute chargeback merchant refund transaction"),
    Intent("fraud_report", "fraud report", "Fraud", "Fraud",
           "fraud unauthorised suspicious account takeover"),
    Intent("payment_arrangement", "payment arrangement", "Collections", "Payments",
           "payment arrangement hardship past due plan"),
    Intent("payment_due_date", "payment due date change", "Payments", "Payments",
           "due date payment change statement"),
    Intent("make_payment", "one-time payment", "Payments", "Payments",
           "payment pay bill transfer autopay"),
    Intent("address_change", "address change", "General", "Account",
           "address change move mailing update"),
    Intent("update_contact_details", "contact details update", "General", "Account",
           "phone email update contact details"),
    Intent("password_reset", "online banking password reset", "Digital", "Account",
           "password reset login locked online"),
    Intent("online_banking_access", "online banking access", "Digital", "Account",
           "online banking mobile app login access"),
    Intent("fee_refund", "fee refund", "General", "Billing", "fee refund overdraft charge waive"),
    Intent("credit_limit_increase", "credit limit increase", "Cards", "Card",
           "credit limit increase card"),
    Intent("loan_payoff", "loan payoff quote", "Lending", "Payments",
           "loan payoff quote balance close"),
    Intent("overdraft_inquiry", "overdraft", "General", "Billing",
           "overdraft fee negative balance protection"),
    Intent("travel_notice", "travel notice", "Cards", "Card", "travel notice abroad card"),
    Intent("statement_request", "statement request", "General", "Account",
           "statement copy paper document"),
    Intent("close_account", "account closure", "Retention", "Complaint",
           "close account cancel complaint"),
    Intent("direct_deposit_setup", "direct deposit setup", "General", "Account",
           "direct deposit routing payroll employer"),
    Intent("wire_transfer", "wire transfer", "Payments", "Payments",
           "wire transfer international swift"),
)  # fmt: skip

INTENT_NAMES = tuple(intent.name for intent in INTENTS)
INTENT_BY_NAME = {intent.name: intent for intent in INTENTS}

DISPOSITIONS = ("RESOLVED", "RESOLVED", "RESOLVED", "FOLLOW_UP", "ESCALATED", "TRANSFERRED")
SUMMARY_TEMPLATES = (
    "Caller asked about {topic}; agent explained the options.",
    "Customer called regarding {topic}. Resolved on the call.",
    "{Topic}: verified the customer and walked through next steps.",
    "Customer followed up on {topic}; needs a callback.",
)
BOT_SUMMARY = "Self-service session about {topic}."
CASE_OWNERS = ("Dana Whitfield", "Marco Ruiz", "Priya Nair", "Tom Becker", "Aisha Bello")

ARTICLE_TEMPLATES = (
    "How to handle a {topic} request",
    "{Topic}: agent checklist",
    "{Topic} frequently asked questions",
    "Policy: {topic}",
    "Troubleshooting {topic}",
    "{Topic} for premier and private clients",
    "{Topic} in the mobile app",
    "Call script for {topic}",
)
GENERAL_ARTICLES = (
    "Identification and verification (ID&V) steps",
    "Handling vulnerable customers",
    "Complaint handling standard",
    "Warm transfer etiquette",
    "Call recording and consent",
    "Escalation matrix",
    "Data protection: what you may disclose",
    "After-call work and dispositions",
)
