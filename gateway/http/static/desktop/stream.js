// Subscriptions over Server-Sent Events: POST /graphql/stream (graphql-sse, "distinct
// connections": one subscription per request). The browser's EventSource can neither POST nor
// send an Authorization header, so this reads the stream with fetch and a ReadableStream.
//
// followPops() keeps the agent's screenPops stream open for the whole session: after any
// disconnect (a network blip, the gateway restarting, the token expiring, falling behind) it
// reconnects with backoff and resumes after the last cursor it saw, so the pops that came
// meanwhile arrive once (README "Events out over SSE").

import { GATEWAY, POPS, headers } from "./graphql.js";

const STREAM = `${GATEWAY}/graphql/stream`;
// The gateway sends a comment every [events] keepalive_seconds (15 by default): a stream that
// says nothing for this long is dead even if no error reached us (a sleeping laptop, a proxy).
const SILENCE_MS = 45_000;
// A resumed stream replays what was missed at once, then goes quiet until something new
// happens. The frames are not marked as replayed, so the page counts as replayed those that
// arrive within REPLAY_FIRST_MS of the stream opening, or within REPLAY_QUIET_MS of the
// previous one so counted (a burst). A call that rings in that window is counted too.
const REPLAY_FIRST_MS = 1_500;
const REPLAY_QUIET_MS = 1_000;

// Codes that end a subscription for good (a role without screen pops, an IVR token held to
// registered operations, limits a copy's bigger selection exceeds); any other end is retried.
const REFUSED = new Set(
  "FORBIDDEN PERSISTED_QUERY_NOT_FOUND GRAPHQL_PARSE_FAILED GRAPHQL_VALIDATION_FAILED DOCUMENT_TOO_LARGE DEPTH_LIMIT COST_LIMIT ALIAS_LIMIT FIELD_REPEAT_LIMIT".split(
    " ",
  ),
);

export const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Exponential backoff with jitter: about 0.5, 1, 2, 4, 8 s, then 10 s at most. */
export const backoff = (attempt) =>
  Math.min(10_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);

/**
 * POST a subscription and call onEvent({event, id, data}) per SSE event until the stream ends
 * or onEvent returns false. Throws on a non-200 answer (error.status) or a broken connection.
 */
export async function stream(
  session,
  query,
  variables,
  onEvent,
  { signal, lastEventId, onOpen } = {},
) {
  const controller = new AbortController();
  signal?.addEventListener("abort", () => controller.abort(), { once: true });
  const extra = {
    accept: "text/event-stream",
    ...(lastEventId ? { "last-event-id": lastEventId } : {}),
  };
  const response = await fetch(STREAM, {
    method: "POST",
    headers: headers(session, extra),
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  if (!response.ok) {
    const error = new Error(`HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parse(block);
        if (event && onEvent(event) === false) return;
      }
    }
  } finally {
    clearTimeout(watchdog);
    controller.abort(); // ends the request when we stopped reading first
  }
}

/** One SSE block ("event: next\nid: ...\ndata: {...}"); null for a comment (keep-alive). */
function parse(block) {
  const event = { event: "message", id: null, data: [] };
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") event.data.push(value);
    else if (field === "event") event.event = value;
    else if (field === "id") event.id = value;
  }
  return event.data.length || event.event !== "message"
    ? { ...event, data: event.data.join("\n") }
    : null;
}

/**
 * Follow the signed-in agent's screen pops until the returned function is called.
 *   onPop(pop, payload)       a ScreenPop and its whole GraphQL payload (errors, extensions)
 *   onBanner(state, detail)   connecting | live | reconnecting | resumed (DESKTOP-CONTRACT.md)
 *   onSignedOut(message)      the token was refused and no fresh one could be had
 *   renewToken()              async: true when session.token was replaced (the demo re-reads
 *                             its role picker); false: the agent must sign in again
 */
export function followPops(session, { onPop, onBanner, onSignedOut, renewToken }) {
  const stop = new AbortController();
  let cursor = null; // the last pop's cursor: where a reconnect resumes
  let attempt = 0; // failures in a row
  let resuming = false; // a stream was live before: the next one resumes

  async function once() {
    let ended = null; // the error the subscription ended with, if any
    let replay = null; // { count, until }: frames of a resumed stream that came at once
    const onOpen = () => {
      attempt = 0;
      if (resuming) replay = { count: 0, missed: false, until: Date.now() + REPLAY_FIRST_MS };
      onBanner(resuming ? "resumed" : "live", { replayed: 0 });
      resuming = true;
    };
    const onEvent = (event) => {
      if (event.event === "complete") return false;
      if (event.event !== "next") return true;
      const payload = JSON.parse(event.data);
      const pop = payload.data?.screenPops;
      if (!pop) {
        ended = payload.errors?.[0] ?? { message: "no data" }; // `complete` follows
        return true;
      }
      if (event.id) cursor = event.id;
      if (replay && Date.now() < replay.until) {
        replay.count += 1;
        replay.missed ||= pop.missed; // the first replayed frame says whether some were lost
        replay.until = Date.now() + REPLAY_QUIET_MS;
        onBanner("resumed", { replayed: replay.count, missed: replay.missed });
      }
      onPop(pop, payload);
      return true;
    };
    try {
      await stream(session, POPS, { after: cursor }, onEvent, {
        signal: stop.signal,
        lastEventId: cursor,
        onOpen,
      });
    } catch (error) {
      if (error.status === 401) return { code: "UNAUTHENTICATED", message: error.message };
      // fetch says only "Failed to fetch" (or "network error") for a refused or broken connection
      return { code: "DISCONNECTED", message: error.status ? error.message : "connection lost" };
    }
    return { code: ended?.extensions?.code, message: ended?.message ?? "the stream ended", ended };
  }

  async function run() {
    onBanner("connecting", {});
    let refusals = 0; // 401s in a row with no fresh token
    while (!stop.signal.aborted) {
      const { code, message, ended } = await once();
      if (stop.signal.aborted) return;
      if (code === "UNAUTHENTICATED" || code === "TOKEN_EXPIRED") {
        if (await renewToken()) continue;
        // a gateway that has just started may refuse every token until it has fetched its
        // identity provider's keys: a few tries before giving up on this one
        if (code === "TOKEN_EXPIRED" || ++refusals > 3) {
          onSignedOut(
            code === "TOKEN_EXPIRED"
              ? "The token expired: sign in again."
              : "The gateway refused the token: sign in again.",
          );
          return;
        }
      } else {
        refusals = 0;
      }
      if (REFUSED.has(code)) {
        onBanner("reconnecting", { message, fatal: true });
        return; // retrying cannot help: this token may not run this subscription
      }
      if (code === "EVENTS_DROPPED") cursor = ended.extensions.resumeFrom ?? cursor;
      else if (code === "BAD_USER_INPUT") cursor = null; // a cursor this gateway cannot read
      const wait = backoff(attempt++);
      onBanner("reconnecting", { message, attempt, retryInMs: wait });
      await sleep(wait, stop.signal);
    }
  }

  run();
  return () => stop.abort();
}
