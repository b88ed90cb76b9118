// The wrap-up form: a disposition code and a note, written to the CRM through the gateway's
// idempotent mutation (README "Write-back"). The status shown follows the write to the end:
// APPLIED at once, or PENDING while the CRM is down, then APPLIED (or REJECTED) when the
// gateway's outbox has delivered it.

import { WRAP_UP, WRITE, WRITE_COMPLETED, graphql } from "./graphql.js";
import { backoff, sleep, stream } from "./stream.js";

/**
 * The idempotency key of a wrap-up: a digest of the contact and the form's content. The same
 * contact, code and note always give the same key, so a double click, a retry after a timeout
 * or a reload makes one CRM record; changing the note makes another write. (Keys are scoped
 * per caller by the gateway, so two agents' keys never meet.)
 */
export async function idempotencyKey(contactId, code, note) {
  const text = JSON.stringify(["switchboard-desktop/wrap-up/1", contactId, code, note]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `wrap-up-${hex.slice(0, 40)}`;
}

/**
 * Wire the form (once). `session()` is the signed-in session, `contactId()` the contact on the
 * card. Returns reset(), called when the card moves to another contact or the agent signs
 * out: it clears the form and stops following an earlier write.
 */
export function wireWrapUp(form, { codes, session, contactId }) {
  const select = form.querySelector("#disposition");
  const note = form.querySelector("#note");
  const button = form.querySelector('button[type="submit"]');
  const status = form.querySelector('[data-testid="write-status"]');
  const problem = form.querySelector("#write-error");
  select.replaceChildren(
    ...codes.map((code) => new Option(code.replaceAll("_", " ").toLowerCase(), code)),
  );
  let following = new AbortController();

  const show = (write) => {
    status.textContent =
      write.status === "REJECTED"
        ? `REJECTED — ${write.message ?? write.code ?? "refused by the CRM"}`
        : write.status;
    status.dataset.status = write.status;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const contact = contactId();
    const signedIn = session();
    if (!contact || !signedIn || button.disabled) return;
    button.disabled = true; // one save in flight; the key makes a second one harmless anyway
    problem.textContent = "";
    const input = { interactionId: contact, code: select.value, note: note.value.trim() || null };
    try {
      input.idempotencyKey = await idempotencyKey(contact, input.code, input.note);
      const answer = await graphql(signedIn, WRAP_UP, { input });
      const write = answer.data?.recordDisposition;
      if (!write) {
        // the gateway's own refusal (a card number in the note, a code it does not know...):
        // nothing was written
        const error = answer.errors?.[0];
        problem.textContent = `Not saved: ${error?.message ?? "no answer"}${error?.extensions?.code ? ` (${error.extensions.code})` : ""}`;
        return;
      }
      show(write);
      following.abort();
      following = new AbortController();
      if (write.status === "PENDING") follow(signedIn, write.writeId, show, following.signal);
    } catch (error) {
      problem.textContent = `Not saved: ${error.message}. Try again: it will not make a second record.`;
    } finally {
      button.disabled = false;
    }
  });

  return function reset() {
    following.abort();
    form.reset();
    status.textContent = "";
    delete status.dataset.status;
    problem.textContent = "";
  };
}

/**
 * Wait for a PENDING write to become final: the writeCompleted subscription sends one frame
 * then (at once if it already is). Should the stream fail (the gateway restarting), ask
 * write(id:) and try again with backoff.
 */
async function follow(session, writeId, show, signal) {
  for (let attempt = 0; !signal.aborted; attempt++) {
    let final = null;
    try {
      await stream(
        session,
        WRITE_COMPLETED,
        { id: writeId },
        (event) => {
          if (event.event !== "next") return event.event !== "complete";
          final = JSON.parse(event.data).data?.writeCompleted ?? null;
          return !final;
        },
        { signal },
      );
      if (!final) final = (await graphql(session, WRITE, { id: writeId })).data?.write ?? null;
    } catch {
      // the stream or the query failed: try again below
    }
    if (signal.aborted) return;
    if (final && final.status !== "PENDING") return show(final);
    await sleep(backoff(attempt), signal);
  }
}
