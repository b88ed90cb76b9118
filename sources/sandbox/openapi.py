"""OpenAPI 3.1 documents, one per system, served at `/<system>/openapi.json`.

They are the machine-readable half of docs/sandbox.md: client authors read batch limits from
`x-max-batch`, and a test checks every documented path is actually served.
"""

from __future__ import annotations

import orjson

from . import ccaas, core, crm, crm_writes, idp, knowledge
from .oas import (
    BOOLEAN,
    DATE,
    DATE_TIME,
    DECIMAL,
    INTEGER,
    STRING,
    Schema,
    array,
    batch,
    bounded,
    enum,
    get,
    in_path,
    nullable,
    obj,
    patch,
    query,
    ref,
    responses,
)


def _ob_envelope(resource: str, *, totals: bool = False) -> Schema:
    meta = obj(TotalPages=INTEGER)
    if totals:
        meta["properties"]["TotalRecords"] = {
            "type": "object",
            "additionalProperties": INTEGER,
            "description": "Transactions per requested account, before `perAccount`.",
        }
        meta["required"].append("TotalRecords")
    return obj(Data=obj(**{resource: array(ref(resource))}), Links=obj(Self=STRING), Meta=meta)


def _crm() -> tuple[dict[str, Schema], dict[str, Schema]]:
    paths = {
        "/customers": get(
            "Customers by CRM id, core party id or CCaaS profile id (exactly one kind)",
            [
                batch("id", crm.MAX_BATCH, "CRM customer ids", required=False),
                batch("coreId", crm.MAX_BATCH, "core party ids (PTY...)", required=False),
                batch("ccaasId", crm.MAX_BATCH, "CCaaS profile ids", required=False),
            ],
            "CustomerPage",
            crm.MAX_BATCH,
        ),
        "/customers/search": get(
            f"Customers by phone or email (exactly one); at most {crm.MAX_SEARCH} records",
            [
                query("phone", {"type": "string", "pattern": r"^\+[1-9]\d{6,14}$"}, "E.164"),
                query("email", {"type": "string", "format": "email"}, "case-insensitive"),
            ],
            "CustomerPage",
        ),
        "/cases": get(
            "Cases of the given customers (0-3 each); open = every status but Closed",
            [
                batch("customerId", crm.MAX_BATCH, "CRM customer ids"),
                query("status", enum("open", "closed"), "filter; both when omitted"),
            ],
            "CasePage",
            crm.MAX_BATCH,
        ),
        "/cases/{caseId}/comments": responses(
            get(
                "Comments written on a case (CaseComment), oldest first",
                [in_path("caseId", STRING, "a case id (500SB...)")],
                "RecordPage",
            ),
            {"404": ref("SfErrors")},
        ),
        "/sobjects/{object}/ExternalId__c/{externalId}": patch(
            "Upsert by external id: create (201), update the one record (200), several (300)",
            [
                in_path("object", enum(*crm_writes.OBJECTS), "the sObject"),
                in_path(
                    "externalId",
                    {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,80}$"},
                    "the record's ExternalId__c",
                ),
            ],
            {"type": "object", "additionalProperties": nullable(STRING)},
            {
                "200": ref("Upserted"),
                "201": ref("Upserted"),
                "300": array(STRING),
                "400": ref("SfErrors"),
                "404": ref("SfErrors"),
            },
        ),
        "/tasks": get(
            "Tasks (call dispositions) written for a CCaaS contact, oldest first; writes are "
            "PATCH /sobjects/{Object}/ExternalId__c/{id} (docs/sandbox.md, Writes)",
            [query("interactionId", STRING, "the CCaaS contact id", required=True)],
            "RecordPage",
        ),
    }
    page = {"totalSize": INTEGER, "done": BOOLEAN}
    schemas = {
        "Customer": obj(
            Id={"type": "string", "pattern": "^003SB[0-9]{13}$"},
            FirstName=STRING,
            LastName=STRING,
            Birthdate=DATE,
            SSN__c={"type": "string", "pattern": r"^9\d{2}-\d{2}-\d{4}$"},
            Phones=array(obj(Type=enum("Mobile", "Home", "Work"), Number=STRING)),
            Emails=array(STRING),
            MailingAddress=obj(
                street=STRING, city=STRING, state=STRING, postalCode=STRING, country=STRING
            ),
            Segment__c=enum("MASS", "PREMIER", "PRIVATE"),
            PreferredLanguage__c=STRING,
            CoreParty__c=STRING,
            CcaasProfile__c={"type": "string", "pattern": "^[0-9a-f]{32}$"},
            CreatedDate=DATE_TIME,
        ),
        "Case": obj(
            Id={"type": "string", "pattern": "^500SB[0-9]{13}$"},
            CaseNumber=STRING,
            ContactId=STRING,
            Subject=STRING,
            Status=enum("New", "Working", "Escalated", "Closed"),
            Priority=enum("Low", "Medium", "High"),
            Type=enum("Billing", "Card", "Fraud", "Payments", "Account", "Complaint"),
            CreatedDate=DATE_TIME,
            LastModifiedDate=DATE_TIME,
            OwnerName=STRING,
        ),
        "CustomerPage": obj(**page, records=array(ref("Customer"))),
        "CasePage": obj(**page, records=array(ref("Case"))),
        "RecordPage": obj(**page, records=array({"type": "object"})),
        "Upserted": obj(id=STRING, success=BOOLEAN, errors=array(STRING), created=BOOLEAN),
        "SfErrors": array(obj(message=STRING, errorCode=STRING)),
    }
    return paths, schemas


def _core() -> tuple[dict[str, Schema], dict[str, Schema]]:
    party = batch("partyId", core.MAX_BATCH, "core party ids")
    paths = {
        "/accounts": get("Accounts of the parties (1-4 each)", [party], "Accounts", core.MAX_BATCH),
        "/accounts/search": get(
            "The account with this number, if any",
            [query("accountNumber", STRING, "10 digits", required=True)],
            "Accounts",
        ),
        "/transactions": get(
            "The newest transactions per account, newest first within an account",
            [
                batch("accountId", core.MAX_BATCH, "account ids"),
                query("perAccount", bounded(1, 100, 10), "transactions per account"),
            ],
            "Transactions",
            core.MAX_BATCH,
        ),
        "/cards": get("Cards of the parties", [party], "Cards", core.MAX_BATCH),
        "/risk": get(
            "Fraud and collections status, one per known party", [party], "Risks", core.MAX_BATCH
        ),
        "/parties": get(
            "The core's KYC record of each known party (identity, contact points, address)",
            [party],
            "Parties",
            core.MAX_BATCH,
        ),
        "/events": get(
            "The newest core events per party, newest first within a party",
            [party, query("perParty", bounded(1, 100, 20), "events per party")],
            "Events",
            core.MAX_BATCH,
        ),
    }
    schemas = {
        "Account": obj(
            AccountId=STRING,
            PartyId=STRING,
            AccountType=enum("CHECKING", "SAVINGS", "CREDIT_CARD", "LOAN"),
            ProductName=STRING,
            Status=enum("Enabled", "Disabled", "Pending"),
            Currency=STRING,
            AccountNumber={"type": "string", "pattern": "^[0-9]{10}$"},
            Balance=obj(Current=DECIMAL, Available=DECIMAL),
            OpenedOn=DATE,
            DaysPastDue=INTEGER,
        ),
        "Transaction": obj(
            TransactionId=STRING,
            AccountId=STRING,
            BookingDateTime=DATE_TIME,
            Amount=obj(Amount=DECIMAL, Currency=STRING),
            CreditDebitIndicator=enum("Credit", "Debit"),
            Status=enum("BOOK", "PDNG", "RJCT"),
            TransactionInformation=STRING,
            MerchantDetails=nullable(obj(MerchantName=STRING)),
        ),
        "Card": obj(
            CardId=STRING,
            PartyId=STRING,
            AccountId=STRING,
            Pan={"type": "string", "pattern": "^[0-9]{16}$"},
            Brand=enum("VISA", "MASTERCARD"),
            Status=enum("Active", "Blocked", "Expired"),
            Expiry={"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        ),
        "Risk": obj(
            PartyId=STRING,
            FraudHold=BOOLEAN,
            FraudReason=nullable(STRING),
            CollectionsStatus=enum("CURRENT", "DELINQUENT", "ARRANGEMENT", "CHARGED_OFF"),
            DaysPastDue=INTEGER,
        ),
        "Party": obj(
            PartyId=STRING,
            PartyType=enum("Sole", "Joint"),
            Name=STRING,
            BirthDate=DATE,
            EmailAddress=STRING,
            Phone=nullable(STRING),
            Mobile=nullable(STRING),
            Address=array(
                obj(
                    AddressType=enum("Residential", "Business"),
                    AddressLine=array(STRING),
                    TownName=STRING,
                    CountrySubDivision=STRING,
                    PostCode=STRING,
                    Country=STRING,
                )
            ),
            LastUpdateDateTime=DATE_TIME,
        ),
        "Event": obj(
            EventId=STRING,
            PartyId=STRING,
            Type=enum(
                "PAYMENT_POSTED", "FRAUD_ALERT", "CARD_BLOCKED", "ACCOUNT_OPENED", "FEE_CHARGED"
            ),
            Time=DATE_TIME,
            Summary=STRING,
            RefId=STRING,
        ),
        "Accounts": _ob_envelope("Account"),
        "Transactions": _ob_envelope("Transaction", totals=True),
        "Cards": _ob_envelope("Card"),
        "Risks": _ob_envelope("Risk"),
        "Events": _ob_envelope("Event"),
        "Parties": _ob_envelope("Party"),
    }
    return paths, schemas


def _ccaas() -> tuple[dict[str, Schema], dict[str, Schema]]:
    paths = {
        "/contacts": get(
            "Contacts by contact id, or the newest per profile (id and profileId: 400)",
            [
                batch("id", ccaas.MAX_BATCH, "contact ids", required=False),
                batch("profileId", ccaas.MAX_BATCH, "CCaaS profile ids", required=False),
                query("perProfile", bounded(1, 50, 10), "contacts per profile, newest first"),
            ],
            "Contacts",
            ccaas.MAX_BATCH,
        )
    }
    schemas = {
        "Contact": obj(
            Id={"type": "string", "format": "uuid"},
            ProfileId=nullable(STRING),  # null: a caller with no CCaaS profile
            Channel=enum("VOICE", "CHAT", "IVR", "BOT"),
            InitiationMethod=enum("INBOUND", "OUTBOUND", "TRANSFER", "CALLBACK"),
            InitiationTimestamp=DATE_TIME,
            DisconnectTimestamp=nullable(DATE_TIME),
            State=enum("QUEUED", "CONNECTED", "ENDED"),
            QueueName=STRING,
            AgentId=nullable(STRING),
            Intent=STRING,
            Summary=STRING,
            Disposition=nullable(STRING),
            IdvResult=enum("PASSED", "FAILED", "NOT_ATTEMPTED"),
            CustomerEndpoint=obj(Address=STRING),
            PreviousContactId=nullable(STRING),
        ),
        "Contacts": obj(Contacts=array(ref("Contact"))),
    }
    return paths, schemas


def _knowledge() -> tuple[dict[str, Schema], dict[str, Schema]]:
    paths = {
        "/articles/search": get(
            "Articles ranked by how often the query's terms occur",
            [
                query("query", STRING, "free text", required=True),
                query("per_page", bounded(1, 100, 10), "page size"),
                query("page", bounded(1, 10_000, 1), "page number, from 1"),
            ],
            "SearchResults",
        ),
        "/articles/by-intent": get(
            "Articles labelled with each intent; unknown intents are absent",
            [
                batch("intent", knowledge.MAX_BATCH, "intent names"),
                query("per_intent", bounded(1, 20, 3), "articles per intent"),
            ],
            "IntentResults",
            knowledge.MAX_BATCH,
        ),
    }
    schemas = {
        "Article": obj(
            id=INTEGER,
            title=STRING,
            snippet=STRING,
            html_url={"type": "string", "format": "uri"},
            label_names=array(STRING),
            updated_at=DATE_TIME,
        ),
        "SearchResults": obj(
            results=array(ref("Article")), count=INTEGER, page=INTEGER, next_page=nullable(INTEGER)
        ),
        "IntentResults": obj(
            results={"type": "object", "additionalProperties": array(ref("Article"))}
        ),
    }
    return paths, schemas


_BUILDERS = {
    "crm": _crm,
    "core": _core,
    "ccaas": _ccaas,
    "knowledge": _knowledge,
    "idp": idp.openapi,
}
_TITLES = {
    "crm": "Sandbox CRM (Salesforce-flavoured)",
    "core": "Sandbox core banking (Open Banking-flavoured)",
    "ccaas": "Sandbox CCaaS (Amazon Connect-flavoured)",
    "knowledge": "Sandbox knowledge base (Zendesk Guide-flavoured)",
    "idp": "Sandbox identity provider (OIDC-style)",
}


def spec(system: str) -> Schema:
    paths, schemas = _BUILDERS[system]()
    schemas["Error"] = obj(error=STRING)
    return {
        "openapi": "3.1.0",
        "info": {"title": _TITLES[system], "version": "1.0.0"},
        "servers": [{"url": f"/{system}"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }


def document(system: str) -> bytes:
    return orjson.dumps(spec(system))
