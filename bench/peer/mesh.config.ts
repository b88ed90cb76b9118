/**
 * The peer of `python -m bench` (bench/peer.py): GraphQL Mesh v1 "compose" over the sandbox's
 * four OpenAPI documents, as a user would compose it, with no hand-written resolver.
 *
 *   SANDBOX_URL  base URL of `switchboard sandbox` (bench/peer.py sets it)
 *
 * Each system's document is read from $SANDBOX_URL/<system>/openapi.json, its endpoint is
 * $SANDBOX_URL/<system>; compose bakes the endpoints into the supergraph, so bench/peer.py
 * composes anew for every run (the sandbox's port changes). Batched links (`@resolveTo` with
 * keyField/keysArg, graphql-tools batchDelegateToSchema: one DataLoader per request and field)
 * make one call per resource per level, as Switchboard does. docs/performance.md
 * ("Performance III") says what Mesh cannot do here (chunking, the journey, articles, masking).
 */
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadOpenAPISubgraph } from '@omnigraph/openapi';

const SANDBOX_URL = (process.env.SANDBOX_URL || 'http://127.0.0.1:9101').replace(/\/$/, '');

function system(name: string, path: string) {
  return {
    sourceHandler: loadOpenAPISubgraph(name, {
      source: `${SANDBOX_URL}/${path}/openapi.json`,
      endpoint: `${SANDBOX_URL}/${path}`,
      // The documents declare a 400 `Error` next to each 200; with both, Mesh would return a
      // union (CustomerPage | Error) from every root field. Errors still come back as GraphQL
      // errors; the 200 schema alone is used for the types.
      ignoreErrorResponses: true,
    }),
  };
}

export const composeConfig = defineConfig({
  subgraphs: [system('CRM', 'crm'), system('Core', 'core'), system('CCaaS', 'ccaas'), system('Knowledge', 'knowledge')],
  // Batched links (graphql-tools batchDelegateToSchema: one DataLoader per request and field):
  //   keyField       the parent's field whose values are collected from every parent object
  //   keysArg        the target operation's list argument that receives them all in one call
  //   result         where the rows are inside the system's envelope (records, Data.Account)
  //   valueKeyField  the row's field that points back to its parent (rows are grouped by it;
  //                  a parent with no rows gets [])
  additionalTypeDefs: /* GraphQL */ `
    extend type Customer {
      "Core accounts of the customer's party: GET /core/accounts?partyId=..&partyId=.."
      accounts: [Account]
        @resolveTo(
          sourceName: "Core"
          sourceTypeName: "Query"
          sourceFieldName: "accounts"
          keyField: "CoreParty__c"
          keysArg: "partyId"
          result: "Data.Account"
          valueKeyField: "PartyId"
        )
      "CRM cases of the customer: GET /crm/cases?customerId=..&customerId=.."
      cases: [Case]
        @resolveTo(
          sourceName: "CRM"
          sourceTypeName: "Query"
          sourceFieldName: "cases"
          keyField: "Id"
          keysArg: "customerId"
          result: "records"
          valueKeyField: "ContactId"
        )
      "Core cards of the customer's party (full PAN: Mesh masks nothing)"
      cards: [Card]
        @resolveTo(
          sourceName: "Core"
          sourceTypeName: "Query"
          sourceFieldName: "cards"
          keyField: "CoreParty__c"
          keysArg: "partyId"
          result: "Data.Card"
          valueKeyField: "PartyId"
        )
      "Core risk standing of the customer's party (one object per party)"
      risk: Risk
        @resolveTo(
          sourceName: "Core"
          sourceTypeName: "Query"
          sourceFieldName: "risk"
          keyField: "CoreParty__c"
          keysArg: "partyId"
          result: "Data.Risk"
          valueKeyField: "PartyId"
        )
      "The newest 20 core events of the party, raw: no merge with contacts and cases"
      coreEvents: [Event]
        @resolveTo(
          sourceName: "Core"
          sourceTypeName: "Query"
          sourceFieldName: "events"
          keyField: "CoreParty__c"
          keysArg: "partyId"
          additionalArgs: { perParty: 20 }
          result: "Data.Event"
          valueKeyField: "PartyId"
        )
      "The newest 10 CCaaS contacts of the customer's profile"
      interactions: [Contact]
        @resolveTo(
          sourceName: "CCaaS"
          sourceTypeName: "Query"
          sourceFieldName: "contacts"
          keyField: "CcaasProfile__c"
          keysArg: "profileId"
          additionalArgs: { perProfile: 10 }
          result: "Contacts"
          valueKeyField: "ProfileId"
        )
      "The customer's open CRM cases (status=open)"
      openCases: [Case]
        @resolveTo(
          sourceName: "CRM"
          sourceTypeName: "Query"
          sourceFieldName: "cases"
          keyField: "Id"
          keysArg: "customerId"
          additionalArgs: { status: "open" }
          result: "records"
          valueKeyField: "ContactId"
        )
    }
    extend type Account {
      "The newest 5 transactions of the account"
      transactions: [Transaction]
        @resolveTo(
          sourceName: "Core"
          sourceTypeName: "Query"
          sourceFieldName: "transactions"
          keyField: "AccountId"
          keysArg: "accountId"
          additionalArgs: { perAccount: 5 }
          result: "Data.Transaction"
          valueKeyField: "AccountId"
        )
    }
  `,
});
