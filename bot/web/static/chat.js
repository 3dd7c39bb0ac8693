// The web chat client: no framework, no CDN. The server keeps the conversation id in an
// HttpOnly cookie; this script never sees or sends it.
"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const status = document.getElementById("status");

  // Plain text, with http(s) addresses made into links; nothing is ever parsed as HTML.
  function fill(element, text) {
    const parts = String(text || "").split(/(https?:\/\/[^\s<>"']+)/);
    parts.forEach(function (part, i) {
      if (i % 2 === 1) {
        const link = document.createElement("a");
        link.href = part;
        link.textContent = part;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        element.appendChild(link);
      } else {
        element.appendChild(document.createTextNode(part));
      }
    });
  }

  function render(message) {
    const item = document.createElement("li");
    item.className = message.who === "you" ? "you" : message.who === "staff" ? "staff" : "assistant";
    fill(item, message.text);
    (message.buttons || []).forEach(function (b) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.title;
      button.addEventListener("click", function () { send(b.payload, b.title); });
      item.appendChild(document.createElement("br"));
      item.appendChild(button);
    });
    return item;
  }

  function add(message) {
    const item = render(message);
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
  }

  // Every message the server sends carries its event id. `cursor` is the newest one shown;
  // the page's own turn is shown from /chat/send's answer, which says which id it ends at,
  // and the stream's copy of that turn is skipped.
  let cursor = 0;
  let sending = false;
  let held = [];
  let older = null;
  let polling = null;

  function show(message) {
    if (message.id && message.id <= cursor) return;
    add(message);
    if (message.id) cursor = Math.max(cursor, message.id);
  }

  function arrived(message) {
    if (sending) held.push(message); else show(message);
  }

  async function history(params) {
    const response = await fetch("/chat/history" + (params || ""), { credentials: "same-origin" });
    if (!response.ok) return null;
    return response.json();
  }

  async function earlier() {
    if (older === null) return;
    const page = await history("?before=" + older);
    if (!page) return;
    const first = log.firstChild;
    page.messages.forEach(function (m) { log.insertBefore(render(m), first); });
    older = page.older;
    if (older === null) moreButton.remove();
  }

  const moreButton = document.createElement("button");
  moreButton.type = "button";
  moreButton.className = "older";
  moreButton.textContent = "Show earlier messages";
  moreButton.addEventListener("click", earlier);

  // The fallback where server-sent events are unavailable: ask only for what is new.
  function poll() {
    if (polling) return;
    polling = setInterval(async function () {
      if (sending) return;
      try {
        const page = await history("?after=" + cursor);
        if (page) page.messages.forEach(show);
      } catch (e) { /* offline for a moment: the next poll catches up */ }
    }, 4000);
  }

  function listen() {
    if (!window.EventSource) { poll(); return; }
    const source = new EventSource("/chat/stream?after=" + cursor);
    source.onmessage = function (event) {
      try { arrived(JSON.parse(event.data)); } catch (e) { /* a malformed event is skipped */ }
    };
    // The outage banner comes on the same stream (banner.js shows it, and stops asking for it).
    source.addEventListener("banner", function (event) {
      try {
        document.dispatchEvent(new CustomEvent("outage-banner", { detail: JSON.parse(event.data).banner }));
      } catch (e) { /* a malformed event is skipped */ }
    });
    source.onopen = function () { document.documentElement.dataset.bannerLive = "yes"; };
    source.onerror = function () {
      delete document.documentElement.dataset.bannerLive;
      // The browser reconnects by itself; a stream that was refused outright stays closed.
      if (source.readyState === EventSource.CLOSED) poll();
    };
  }

  async function start() {
    try {
      const page = await history("");
      if (page) {
        page.messages.forEach(show);
        cursor = Math.max(cursor, page.last || 0);
        older = page.older;
        if (older !== null) log.parentNode.insertBefore(moreButton, log);
      }
    } catch (e) { /* offline: the stream or the polls catch up */ }
    listen();
  }

  async function send(text, label) {
    if (!text) return;
    sending = true;
    status.textContent = "Sending…";
    try {
      const response = await fetch("/chat/send", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ message: text }),
      });
      const body = await response.json();
      if (!response.ok) { status.textContent = body.detail || "Something went wrong."; return; }
      add({ who: "you", text: label || text });
      body.replies.forEach(add);
      if (body.last) cursor = Math.max(cursor, body.last);
      status.textContent = "";
    } catch (e) {
      status.textContent = "Can't reach the assistant. Check your connection and try again.";
    } finally {
      sending = false;
      const waiting = held;
      held = [];
      waiting.forEach(show);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    input.value = "";
    send(text);
  });
  start();
})();
