// Injected by the tests before the page's own scripts (Playwright init script, never served).
// Watches the screen-pop card and keeps, in window.__desktest:
// - shown[contactId]: wall-clock ms (Date.now(), the machine's clock, as the test's time.time())
//   of the first frame painted after the card showed that contact in a non-idle state;
// - history: the card's successive states, each {state, contactId, masked: {field: bool}};
// - each [data-field] element seen masked gets an expando (never an attribute: the DOM under
//   test stays the page's), so a test can tell the element that unmasks is the same element.
(() => {
  const seen = { shown: {}, history: [] };
  window.__desktest = seen;
  let last = "";
  const look = () => {
    const card = document.querySelector('section[aria-label="Screen pop"]');
    if (!card) return;
    const id = card.getAttribute("data-contact-id") || "";
    const state = card.getAttribute("data-state") || "";
    if (id && state && state !== "idle" && !(id in seen.shown)) {
      seen.shown[id] = -1;
      requestAnimationFrame(() => {
        seen.shown[id] = Date.now();
      });
    }
    const masked = {};
    for (const el of card.querySelectorAll("[data-field][data-masked]")) {
      const isMasked = el.getAttribute("data-masked") === "true";
      const name = el.getAttribute("data-field");
      if (isMasked) el.__desktestMasked = id;
      if (!(name in masked)) masked[name] = isMasked;
    }
    const entry = { state, contactId: id, masked };
    const key = JSON.stringify(entry);
    if (key !== last) {
      last = key;
      seen.history.push(entry);
    }
  };
  new MutationObserver(look).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    characterData: true,
  });
})();
