// A small typed Switchboard client for an agent desktop: `fetch` only, no dependencies.
// Drop it into a TypeScript project (strict mode, lib "es2022" + "dom"); see docs/integrating.md.
// SCREEN_POP is docs/examples/screenpop.graphql verbatim (tests/docs/test_client_ts.py checks).

/** How one back-end system did for this request (`extensions.sources`). */
export type SourceStatus =
  | "ok"
  | "stale"
  | "timeout"
  | "unavailable"
  | "bad_response"
  | "rate_limited"
  | "circuit_open"
  | "overloaded";

export interface SourceReport {
  status: SourceStatus;
  ms: number;
  calls: number;
}

export interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: {
    code?: string; // SOURCE_UNAVAILABLE, FORBIDDEN_FIELD, NOT_FOUND, ...
    source?: string; // crm, core, ccaas, knowledge (for SOURCE_* codes)
    class?: string; // the sensitive class of a FORBIDDEN_FIELD
    requestId?: string;
  };
}

export interface GraphQLResponse<T> {
  data: T | null;
  errors?: GraphQLError[];
  extensions?: { requestId: string; sources?: Record<string, SourceReport> };
}

export interface ScreenPopCustomer {
  id: string;
  fullName: string;
  segment: string;
  // null: core banking did not answer, or the caller may not see it (an error says which)
  accounts:
    | {
        type: string;
        productName: string;
        balance: string | null; // Decimal, as a string: never a binary float for money
        transactions:
          | { postedAt: string; amount: string | null; description: string | null }[]
          | null;
      }[]
    | null;
  cards: { pan: string | null; brand: string; status: string }[] | null;
  interactions: { channel: string; startedAt: string; intent: string | null; verified: boolean }[] | null;
  cases: { number: string; subject: string; status: string; priority: string }[] | null;
  journey: {
    stage: string | null; // null (with its error) when a system it derives from is down
    repeatContact: boolean | null;
    lastContact: { channel: string; intent: string | null; idvResult: string } | null;
    events: { at: string; system: string; kind: string; summary: string | null }[];
  } | null;
  suggestedArticles: { title: string; url: string }[] | null;
  risk: { needsSpecialist: boolean; fraudHold: boolean | null; collectionsStatus: string | null } | null;
}

export const SCREEN_POP = `# The screen-pop: everything an agent desktop shows when a call arrives, in one request.
# $phone: the caller's number, E.164 or national; 0..n customers match (a household).
query ScreenPop($phone: String!) {
  findCustomers(phone: $phone) {
    id fullName segment
    accounts { type productName balance transactions(first: 3) { postedAt amount description } }
    cards { pan brand status }
    interactions(first: 5) { channel startedAt intent verified }
    cases(status: OPEN) { number subject status priority }
    journey {
      stage repeatContact
      lastContact { channel intent idvResult }
      events(first: 5) { at system kind summary }
    }
    suggestedArticles { title url }
    risk { needsSpecialist fraudHold collectionsStatus }
  }
}
`;

/** The token was refused (401): get a fresh one from the identity provider and retry once. */
export class UnauthorizedError extends Error {}

export class SwitchboardClient {
  constructor(
    private readonly url: string,
    private readonly token: () => Promise<string>,
  ) {}

  async query<T>(
    query: string,
    variables: Record<string, unknown>,
    options: { interactionId?: string; timeoutMs?: number } = {},
  ): Promise<GraphQLResponse<T>> {
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Authorization: `Bearer ${await this.token()}`,
    };
    // The live, ID&V-passed call: only for its customer does the agent see the verified view.
    if (options.interactionId) headers["X-Interaction-Id"] = options.interactionId;
    // Ask for less than the gateway's deadline when the desktop cannot wait that long.
    if (options.timeoutMs) headers["X-Request-Timeout-Ms"] = String(options.timeoutMs);
    const response = await fetch(this.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
    if (response.status === 401) throw new UnauthorizedError("token refused: get a new one");
    if (!response.ok) throw new Error(`Switchboard answered HTTP ${response.status}`);
    return (await response.json()) as GraphQLResponse<T>;
  }

  screenPop(
    phone: string,
    interactionId?: string,
  ): Promise<GraphQLResponse<{ findCustomers: ScreenPopCustomer[] }>> {
    return this.query(SCREEN_POP, { phone }, { interactionId });
  }
}

/** What to tell the agent about a partial answer: one line per system that did not answer. */
export function degradedSystems(response: GraphQLResponse<unknown>): string[] {
  const sources = response.extensions?.sources ?? {};
  return Object.entries(sources)
    .filter(([, report]) => report.status !== "ok")
    .map(([system, report]) =>
      report.status === "stale"
        ? `${system}: showing recent (cached) reference data`
        : `${system}: ${report.status.replace("_", " ")}, use the fallback procedure`,
    );
}

/** Fields hidden by policy (not by an outage): show them as masked, not as missing. */
export function forbiddenPaths(response: GraphQLResponse<unknown>): string[] {
  return (response.errors ?? [])
    .filter((error) => error.extensions?.code === "FORBIDDEN_FIELD")
    .map((error) => (error.path ?? []).join("."));
}

// Usage, e.g. in the desktop's "call arrived" handler:
//
//   const client = new SwitchboardClient("https://switchboard.example.com/graphql", getToken);
//   const answer = await client.screenPop(call.ani, call.contactId);
//   const customers = answer.data?.findCustomers ?? [];
//   for (const line of degradedSystems(answer)) banner.warn(line);
