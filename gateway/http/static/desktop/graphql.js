// The operations the desktop runs, and POST /graphql. One fragment, `Card`, is what the card
// shows of a customer: the screen-pop subscription and the "Retry" query select the same
// fields, so both render through the same code (card.js).

const CARD = `fragment Card on Customer {
  id fullName segment preferredLanguage dateOfBirth
  phones { number type }
  risk { needsSpecialist }
  accounts { id type productName status currency accountNumber balance }
  cards { id brand status pan expiry }
  cases(status: OPEN) { id number subject status priority }
  journey {
    stage repeatContact repeatIntent missing
    openItems { kind summary since }
    events(first: 10) { at system kind channel summary }
  }
  suggestedArticles { id title url }
}`;

// `after` is also sent as Last-Event-ID by stream.js; the header wins (README "Events out
// over SSE"), the variable keeps the document valid for a WebSocket client too.
export const POPS = `subscription Pops($after: String) {
  screenPops(after: $after) {
    cursor event missed
    interaction { id state channel intent idvResult verified startedAt }
    customers { ...Card }
  }
}
${CARD}`;

export const CUSTOMER = `query Customer($id: ID!) { customer(id: $id) { ...Card } }
${CARD}`;

export const CONTACT_STATE = `query ContactState($id: ID!) { interaction(id: $id) { id state verified } }`;

export const WRAP_UP = `mutation WrapUp($input: RecordDispositionInput!) {
  recordDisposition(input: $input) { writeId status recordId code message }
}`;

export const WRITE = `query Write($id: ID!) { write(id: $id) { writeId status recordId code message } }`;

export const WRITE_COMPLETED = `subscription Settled($id: ID!) {
  writeCompleted(id: $id) { writeId status recordId code message }
}`;

// Where the gateway is: the page's own origin when the gateway serves it (/desktop); a copy
// served elsewhere names the gateway's origin in <body data-gateway="..."> (and the
// gateway lists the copy's origin in [server] cors_origins: docs/desktop.md).
export const GATEWAY = document.body.dataset.gateway ?? "";

/** A non-200 answer: 401 (the token), 429 (rate limit), 503 (audit busy)... */
export class HttpError extends Error {
  constructor(status, body) {
    super(body?.errors?.[0]?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.errors?.[0]?.extensions?.code;
  }
}

export function headers(session, extra = {}) {
  return {
    "content-type": "application/json",
    authorization: `Bearer ${session.token}`,
    ...extra,
  };
}

/**
 * Run a query or mutation; the whole answer (data, errors, extensions) comes back, since a
 * partial answer is normal (README "When a system is down"). `interactionId` goes in
 * X-Interaction-Id: the gateway then checks the live call and shows its customer verified.
 */
export async function graphql(session, query, variables, { interactionId } = {}) {
  const extra = interactionId ? { "x-interaction-id": interactionId } : {};
  const response = await fetch(`${GATEWAY}/graphql`, {
    method: "POST",
    headers: headers(session, extra),
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new HttpError(response.status, body);
  return body;
}
