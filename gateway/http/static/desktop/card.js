// The screen-pop card: the contact and its customer, built from a ScreenPop frame (or from the
// "Retry" query's answer) with createElement and textContent only. No back-end value ever
// becomes markup, and the page's CSP (Trusted Types) would refuse it if one tried.
//
// Each render builds a fresh tree and morphs the card into it: elements that stay keep their
// identity, so a value unmasked at VERIFIED changes in place, keyboard focus stays where it
// was, and a screen reader hears only what changed.

const STATES = { OFFERED: "ringing", CONNECTED: "connected", VERIFIED: "verified", ENDED: "ended" };
const SYSTEMS = {
  crm: "CRM",
  core: "core banking",
  ccaas: "contact platform",
  knowledge: "knowledge base",
};
// extensions.sources statuses and error codes -> what the agent needs to know (README "When a
// system is down": retry for the passing ones, the fallback procedure for the others)
const DEGRADED = new Set(
  `stale timeout rate_limited overloaded
  SOURCE_TIMEOUT RATE_LIMITED SOURCE_OVERLOADED`.split(/\s+/),
);
const UNAVAILABLE = new Set(
  `unavailable bad_response circuit_open
  SOURCE_UNAVAILABLE SOURCE_BAD_RESPONSE CIRCUIT_OPEN`.split(/\s+/),
);
// extensions.verification.reason (README "Why a value is missing")
const NOT_VERIFIED = {
  not_live: "the call is not connected yet",
  idv_not_passed: "ID&V not passed yet",
  not_yours: "the call is assigned to someone else",
  unknown: "no such call",
  unconfirmed: "the contact platform could not confirm the call",
  malformed: "no valid call id",
  not_checked: "not checked",
  not_needed: "your role has no verified view",
  no_profile: "the caller is not linked to a customer yet: verify, then choose",
};

/** A card with nothing on it (signed in, no call yet). */
export const emptyView = () => ({
  contact: null,
  event: null,
  customers: [],
  chosen: null,
  sources: null,
  verification: null,
});

/** The view after a ScreenPop frame: its contact, its customers and how each system did. */
export function fromPop(view, pop, payload) {
  const same = view.contact?.id === pop.interaction.id;
  const customers = pop.customers.map((data, i) => ({
    data,
    issues: issuesUnder(payload.errors, ["screenPops", "customers", i]),
  }));
  const chosen = customers.length === 1 ? customers[0].data.id : same ? view.chosen : null;
  return {
    contact: pop.interaction,
    event: pop.event,
    customers,
    chosen,
    sources: sourcesOf(payload),
    verification: payload.extensions?.verification ?? null,
  };
}

/** The view after re-reading the chosen customer by query (`customer(id:)`, the Retry button). */
export function fromCustomerAnswer(view, answer) {
  const data = answer.data?.customer;
  if (!data) return view;
  const customers = view.customers.map((c) =>
    c.data.id === data.id ? { data, issues: issuesUnder(answer.errors, ["customer"]) } : c,
  );
  return {
    ...view,
    customers,
    sources: sourcesOf(answer),
    verification: answer.extensions?.verification ?? view.verification,
  };
}

/** Errors under `prefix` (a customer's path), keyed by the rest of their path: "cards.0.pan". */
function issuesUnder(errors = [], prefix) {
  const issues = new Map();
  for (const error of errors ?? []) {
    const path = error.path ?? [];
    if (prefix.every((part, i) => path[i] === part))
      issues.set(path.slice(prefix.length).join("."), error);
  }
  return issues;
}

/**
 * Each system's status: a query's answer says it in `extensions.sources`; a subscription frame
 * does not (it has no per-request report), so there the errors' `extensions.source` and code
 * say it. A system no error names answered.
 */
export function sourcesOf(payload) {
  const status = Object.fromEntries(Object.keys(SYSTEMS).map((s) => [s, "ok"]));
  const worse = (system, value) => {
    if (!(system in status)) return;
    if (UNAVAILABLE.has(value)) status[system] = "unavailable";
    else if (DEGRADED.has(value) && status[system] === "ok") status[system] = "degraded";
  };
  for (const [system, report] of Object.entries(payload.extensions?.sources ?? {}))
    worse(system, report.status);
  for (const error of payload.errors ?? []) worse(error.extensions?.source, error.extensions?.code);
  return status;
}

// --- rendering ---

/** h("p", {class: "x"}, "text", child...): an element; attributes set, children appended. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "checked") element.checked = value;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    // an absent child leaves an empty comment in its place, so the children that follow keep
    // their positions and morph() matches them with themselves
    const absent = child === null || child === undefined || child === false;
    element.append(
      absent ? document.createComment("") : child instanceof Node ? child : String(child),
    );
  }
  return element;
}

/** Make `from` look like `to`, reusing the nodes that stay (matched by position and tag). */
function morph(from, to) {
  if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName) return from.replaceWith(to);
  if (from.nodeType !== Node.ELEMENT_NODE) {
    // text, or the comment of an absent child
    if (from.data !== to.data) from.data = to.data;
    return;
  }
  for (const { name } of [...from.attributes])
    if (!to.hasAttribute(name)) from.removeAttribute(name);
  for (const { name, value } of [...to.attributes])
    if (from.getAttribute(name) !== value) from.setAttribute(name, value);
  if (from instanceof HTMLInputElement && from.checked !== to.checked) from.checked = to.checked;
  // snapshots: replaceWith() and append() move nodes out of `to` as we go
  const old = [...from.childNodes];
  const fresh = [...to.childNodes];
  fresh.forEach((child, i) => (old[i] ? morph(old[i], child) : from.append(child)));
  old.slice(fresh.length).forEach((child) => child.remove());
}

/** Render `view` into the card section (DESKTOP-CONTRACT.md names its attributes). */
export function renderCard(section, view) {
  section.dataset.state = view.contact ? (STATES[view.event] ?? "connected") : "idle";
  if (view.contact) section.dataset.contactId = view.contact.id;
  else delete section.dataset.contactId;
  const fresh = h("div", {}, ...cardContent(view));
  const holder = section.firstElementChild ?? section.appendChild(h("div"));
  morph(holder, fresh);
}

function cardContent(view) {
  if (!view.contact)
    return [h("p", { class: "card-state", "aria-live": "polite" }, "Waiting for a call…")];
  const { contact } = view;
  const customer = view.customers.find((c) => c.data.id === view.chosen);
  const who =
    customer?.data.fullName ??
    (view.customers.length > 1 ? `${view.customers.length} possible customers` : "unknown caller");
  const state = {
    ringing: "Ringing",
    connected: "Connected",
    verified: "Verified",
    ended: "Ended",
  }[STATES[view.event]];
  const notOk = Object.entries(view.sources ?? {}).filter(([, s]) => s !== "ok");
  return [
    h("p", { class: "card-state", "aria-live": "polite" }, `${state}: ${who}`),
    h(
      "p",
      { class: "contact" },
      [
        contact.channel,
        contact.intent?.replaceAll("_", " "),
        `ID&V ${contact.idvResult.replaceAll("_", " ").toLowerCase()}`,
      ]
        .filter(Boolean)
        .join(" · "),
    ),
    h(
      "ul",
      { class: "systems", "aria-label": "Systems" },
      ...Object.keys(SYSTEMS).map((s) => systemStatus(s, view.sources?.[s] ?? "ok")),
    ),
    notOk.length > 0 && customer
      ? h("button", { type: "button", "data-action": "retry" }, "Retry")
      : null,
    view.customers.length > 1 ? chooser(view) : null,
    view.customers.length === 0 ? h("p", {}, "No customer matches this caller.") : null,
    customer ? customerDetails(customer, view.verification) : null,
  ];
}

function systemStatus(system, status) {
  const name = SYSTEMS[system];
  const text = {
    ok: `${name}: ok`,
    degraded:
      system === "knowledge"
        ? `${name} degraded — articles may be out of date`
        : `${name} slow — retry shortly`,
    unavailable: `${name} unavailable — use the fallback procedure`,
  }[status];
  // only a system in trouble is announced (role=status is a polite live region)
  return h(
    "li",
    { "data-source": system, "data-status": status, role: status === "ok" ? null : "status" },
    text,
  );
}

/** Household: several customers share the number. Native radios: arrow keys move the choice. */
function chooser(view) {
  return h(
    "div",
    { role: "radiogroup", "aria-label": "Which customer?", class: "chooser" },
    h("p", { id: "chooser-hint" }, "Several customers share this number: which one is calling?"),
    ...view.customers.map(({ data }) =>
      h(
        "label",
        {},
        h("input", {
          type: "radio",
          name: "customer",
          value: data.id,
          checked: data.id === view.chosen,
          "aria-describedby": "chooser-hint",
        }),
        ` ${data.fullName} (${data.segment.toLowerCase()})`,
      ),
    ),
  );
}

/**
 * A value that may be masked: `data-field` names it, `data-masked` says whether the agent sees
 * it. Masked means withheld (null with FORBIDDEN_FIELD, or the data budget) or fully redacted
 * ("***-**-****"); a partial mask the policy grants (the last 4 of a card) is the value to show.
 */
function field(name, value, issue, verification, format = (v) => v) {
  const code = issue?.extensions?.code;
  const withheld = code === "FORBIDDEN_FIELD" || code === "DATA_BUDGET_EXCEEDED";
  const redacted =
    typeof value === "string" && (value === "[redacted]" || !/[\p{L}\p{N}]/u.test(value));
  const masked = withheld || redacted;
  const shown = withheld ? "hidden" : value === null || value === undefined ? "—" : format(value);
  return [
    h(
      "span",
      { "data-field": name, "data-masked": String(masked), class: masked ? "masked" : null },
      shown,
    ),
    masked && withheld
      ? h("span", { "data-mask-reason": "", class: "reason" }, ` (${reason(issue, verification)})`)
      : null,
  ];
}

function reason(issue, verification) {
  if (issue.extensions.code === "DATA_BUDGET_EXCEEDED") return "data budget reached";
  if (issue.extensions.unlock !== "VERIFIED_INTERACTION") return "not shown to your role";
  const why = verification?.status === "not_verified" ? NOT_VERIFIED[verification.reason] : null;
  return why ? `shown after ID&V: ${why}` : "shown after ID&V";
}

/**
 * A section whose list comes from one system: its rows, "none", or why it is missing. `gaps`:
 * the systems a list merged from several did not hear from (`Journey.missing`), each said in
 * the fallback wording, above what the others answered.
 */
function part(label, items, issue, render, gaps = []) {
  const body =
    items === null || items === undefined
      ? h(
          "p",
          { class: "missing" },
          issue
            ? `Not available: ${SYSTEMS[issue.extensions?.source] ?? "a system"} did not answer.`
            : "Not available.",
        )
      : items.length === 0
        ? h("p", {}, gaps.length > 0 ? "None from the systems that answered." : "None.")
        : render(items);
  const notes = gaps.map((s) =>
    h(
      "p",
      { class: "missing", "data-missing": s },
      `${SYSTEMS[s] ?? s} unavailable — use the fallback procedure`,
    ),
  );
  return h("section", { "aria-label": label }, h("h3", {}, label), ...notes, body);
}

const time = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const words = (s) => (s ? s.replaceAll("_", " ").toLowerCase() : "");

/** A list (`ul` or `ol`) with an item per entry; `render` gives the item's children. */
const list = (tag, entries, render) =>
  h(tag, {}, ...entries.map((entry, i) => h("li", {}, render(entry, i))));

/** Label-value pairs as a description list (a null pair is left out). */
const facts = (pairs) =>
  h(
    "dl",
    { class: "facts" },
    ...pairs.filter(Boolean).map(([t, d]) => [h("dt", {}, t), h("dd", {}, d)]),
  );

function table(headings, rows) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c) => h("td", {}, c))))),
  );
}

function customerDetails({ data, issues }, verification) {
  const f = (name, path, value, format) =>
    field(name, value, issues.get(path), verification, format);
  const journey = data.journey;
  return h(
    "div",
    { class: "customer" },
    h("h2", {}, data.fullName),
    facts([
      ["Segment", words(data.segment)],
      ["Language", data.preferredLanguage ?? "—"],
      ["Date of birth", f("dateOfBirth", "dateOfBirth", data.dateOfBirth)],
      [
        "Phones",
        (data.phones ?? []).map((p, i) => [
          f("phones.number", `phones.${i}.number`, p.number),
          ` ${words(p.type)} `,
        ]),
      ],
      data.risk?.needsSpecialist
        ? ["Routing", h("strong", { class: "flag" }, "Needs a specialist")]
        : null,
    ]),
    h(
      "div",
      { class: "parts" },
      // a partial journey (a system down): what the others answered, the missing ones named,
      // and a stage only when the systems that answered decide it
      part(
        "Journey",
        journey?.events,
        issues.get("journey"),
        (events) => [
          h(
            "p",
            {},
            `Stage: ${journey.stage ? words(journey.stage) : "not available"}`,
            journey.repeatContact ? ` · repeat contact (${words(journey.repeatIntent)})` : "",
          ),
          list("ol", events, (e, i) => [
            h("time", { datetime: e.at }, time(e.at)),
            ` ${e.system} · ${words(e.kind)}`,
            e.summary !== null
              ? [": ", f("journey.events.summary", `journey.events.${i}.summary`, e.summary)]
              : "",
          ]),
        ],
        journey?.missing,
      ),
      part(
        "Open items",
        journey?.openItems,
        issues.get("journey"),
        (items) =>
          list("ul", items, (item) => [
            `${words(item.kind)}: ${item.summary ?? "—"}`,
            item.since ? ` (since ${time(item.since)})` : "",
          ]),
        journey?.missing,
      ),
      part("Accounts", data.accounts, issues.get("accounts"), (accounts) =>
        table(
          ["Product", "Type", "Status", "Number", "Balance"],
          accounts.map((a, i) => [
            a.productName,
            words(a.type),
            words(a.status),
            f("accounts.accountNumber", `accounts.${i}.accountNumber`, a.accountNumber),
            f("accounts.balance", `accounts.${i}.balance`, a.balance, (v) => `${v} ${a.currency}`),
          ]),
        ),
      ),
      part("Cards", data.cards, issues.get("cards"), (cards) =>
        table(
          ["Brand", "Status", "Number", "Expiry"],
          cards.map((c, i) => [
            words(c.brand),
            words(c.status),
            f("cards.pan", `cards.${i}.pan`, c.pan),
            f("cards.expiry", `cards.${i}.expiry`, c.expiry),
          ]),
        ),
      ),
      part("Cases", data.cases, issues.get("cases"), (cases) =>
        table(
          ["Number", "Subject", "Status", "Priority"],
          cases.map((c) => [c.number, c.subject, words(c.status), words(c.priority)]),
        ),
      ),
      part("Suggested articles", data.suggestedArticles, issues.get("suggestedArticles"), (all) =>
        list("ul", all, (a) => [
          h("a", { href: safeUrl(a.url), target: "_blank", rel: "noopener noreferrer" }, a.title),
        ]),
      ),
    ),
  );
}

/** Only http(s) links: a javascript: URL from a knowledge base must not become a link. */
function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : "#";
  } catch {
    return "#";
  }
}
