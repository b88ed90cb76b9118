// The reference agent desktop: sign in, follow the agent's screen pops, show the card, wrap up.
// Served by the gateway at /desktop (development profile); docs/desktop.md explains how to
// copy it. The modules: graphql.js (operations, POST /graphql), stream.js (SSE, reconnect and
// resume), card.js (the card), wrapup.js (the wrap-up form).

import { CONTACT_STATE, CUSTOMER, graphql, HttpError } from "./graphql.js";
import { emptyView, fromCustomerAnswer, fromPop, renderCard } from "./card.js";
import { followPops } from "./stream.js";
import { wireWrapUp } from "./wrapup.js";

const $ = (selector) => document.querySelector(selector);
const page = {
  signIn: $("#sign-in"),
  role: $("#role"),
  token: $("#token"),
  signInError: $("#sign-in-error"),
  signedIn: $('[data-testid="signed-in"]'),
  signOut: $("#sign-out"),
  banner: $('[data-testid="connection"]'),
  desk: $("#desk"),
  card: $("#card"),
  wrapUp: $("#wrap-up"),
};
const codes = document.body.dataset.dispositionCodes.split(" ").filter(Boolean);

// The session: the token (in memory only: never in storage, never in the URL), who it says
// the agent is (for display: the gateway checks the token, the page does not), and how to
// stop what it started.
let session = null;
let view = emptyView();
const resetWrapUp = wireWrapUp(page.wrapUp, {
  codes,
  session: () => session,
  contactId: () => view.contact?.id,
});

// --- signing in ---

/** The JWT's claims, decoded for display only. */
function claims(token) {
  try {
    const part = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

/** The demo's role picker: /desktop/demo-tokens.json exists only inside `switchboard demo`. */
async function demoRoles() {
  if (document.body.dataset.demo !== "true") return [];
  const response = await fetch("/desktop/demo-tokens.json", { cache: "no-store" });
  return response.ok ? (await response.json()).roles : [];
}

async function offerRoles() {
  const roles = await demoRoles();
  if (!roles.length) return;
  page.role.replaceChildren(...roles.map((r) => new Option(`${r.label} (${r.subject})`, r.role)));
  page.signIn.querySelector(".demo-only").hidden = false;
  page.token.placeholder = "Or paste a token: it is used instead of the role's";
}

/** The picked role's token, fetched afresh: a restarted demo signs with a new key. */
async function roleToken(role) {
  const found = (await demoRoles()).find((r) => r.role === role);
  return found?.token ?? null;
}

async function signIn(token, role = null) {
  page.signInError.textContent = "";
  try {
    await graphql({ token }, "{ __typename }", {}); // a refused token is a 401 here, at once
  } catch (error) {
    page.signInError.textContent =
      error instanceof HttpError && error.status === 401
        ? "The gateway refused this token (invalid or expired)."
        : `Could not reach the gateway: ${error.message}`;
    return;
  }
  const { sub = "?", roles = [] } = claims(token);
  session = { token, role };
  page.signedIn.textContent = `Signed in as ${sub}${roles.length ? ` (${[].concat(roles).join(", ")})` : ""}`;
  page.signedIn.hidden = page.signOut.hidden = false;
  page.signIn.hidden = true;
  page.desk.hidden = false;
  view = emptyView();
  renderCard(page.card, view);
  session.stop = followPops(session, {
    onPop: (pop, payload) => showPop(pop, payload),
    onBanner: banner,
    onSignedOut: (message) => signOut(message),
    // demo: the same role's token from a restarted demo; a real deployment would ask its
    // identity provider for a fresh one here (silent refresh)
    renewToken: async () => {
      const fresh = session?.role ? await roleToken(session.role).catch(() => null) : null;
      if (!fresh || fresh === session.token) return false;
      session.token = fresh;
      return true;
    },
  });
  page.card.focus();
}

function signOut(message = "") {
  session?.stop?.();
  resetWrapUp();
  session = null;
  page.signedIn.hidden = page.signOut.hidden = true;
  page.desk.hidden = true;
  page.wrapUp.hidden = true;
  page.signIn.hidden = false;
  page.signInError.textContent = message;
  banner("connecting", { signedOut: true });
  page.token.focus();
}

page.signIn.addEventListener("submit", async (event) => {
  event.preventDefault();
  const pasted = page.token.value.trim();
  const role = pasted || page.role.closest(".demo-only").hidden ? null : page.role.value;
  const token = pasted || (role ? await roleToken(role) : null);
  page.token.value = "";
  if (token) await signIn(token, role);
  else page.signInError.textContent = "Paste a token first.";
});
page.signOut.addEventListener("click", () => signOut());

// --- the card ---

function showPop(pop, payload) {
  const sameContact = view.contact?.id === pop.interaction.id;
  view = fromPop(view, pop, payload);
  if (!sameContact) resetWrapUp();
  renderCard(page.card, view);
  page.wrapUp.hidden = false;
  // `missed`: events before this one are gone (the replay window moved on): re-read the
  // contact on the card, which may have ended meanwhile
  if (pop.missed) refreshContact();
}

async function refreshContact() {
  const id = view.contact?.id;
  const answer = await graphql(session, CONTACT_STATE, { id }).catch(() => null);
  const contact = answer?.data?.interaction;
  if (!contact || view.contact?.id !== id) return;
  if (contact.state === "ENDED") view = { ...view, event: "ENDED" };
  renderCard(page.card, view);
}

// One listener for the card's controls (the card is re-rendered; its listeners would not be).
page.card.addEventListener("change", (event) => {
  if (event.target.name !== "customer") return;
  view = { ...view, chosen: event.target.value };
  renderCard(page.card, view);
});
page.card.addEventListener("click", async (event) => {
  if (event.target.dataset.action !== "retry" || !view.chosen) return;
  event.target.disabled = true;
  // A query answer carries extensions.sources; X-Interaction-Id asks for the verified view of
  // the customer on this call (the gateway checks the call is the agent's and ID&V passed).
  const answer = await graphql(
    session,
    CUSTOMER,
    { id: view.chosen },
    { interactionId: view.contact.id },
  ).catch(() => null);
  if (answer) view = fromCustomerAnswer(view, answer);
  renderCard(page.card, view);
});

// --- the connection banner ---

function banner(state, detail) {
  const text = {
    connecting: detail.signedOut ? "Not signed in" : "Connecting…",
    live: "Live: screen pops arrive as calls ring",
    resumed: `Reconnected — ${detail.replayed ?? 0} missed event${detail.replayed === 1 ? "" : "s"} replayed${detail.missed ? " (some earlier events could not be replayed: the card was re-read)" : ""}`,
  }[state];
  page.banner.dataset.state = state;
  if (state === "reconnecting") {
    const next = detail.fatal
      ? ""
      : ` Next try in ${Math.ceil((detail.retryInMs ?? 0) / 1000)} s (attempt ${detail.attempt}).`;
    const alert = document.createElement("span");
    alert.setAttribute("role", "alert");
    alert.textContent = detail.fatal
      ? `No screen pops for this sign-in: ${detail.message}`
      : `Reconnecting… the stream to the gateway is down (${detail.message}).${next}`;
    page.banner.replaceChildren(alert);
  } else {
    page.banner.textContent = text;
  }
}

// --- start ---

await offerRoles().catch(() => {});
// A real deployment opens /desktop#token=<jwt>: the fragment never reaches a server; it is
// read once and removed from the address bar and history.
const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromFragment) {
  history.replaceState(null, "", location.pathname + location.search);
  await signIn(fromFragment);
}
