// The web chat client: no framework, no CDN. The server keeps the conversation id in an
// HttpOnly cookie; this script never sees or sends it.
"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const status = document.getElementById("status");
  let shown = 0;
  let busy = false;

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

  function add(message) {
    const item = document.createElement("li");
    item.className = message.who === "you" ? "you" : "assistant";
    fill(item, message.text);
    (message.buttons || []).forEach(function (b) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.title;
      button.addEventListener("click", function () { send(b.payload, b.title); });
      item.appendChild(document.createElement("br"));
      item.appendChild(button);
    });
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
  }

  async function history() {
    if (busy) return;
    try {
      const response = await fetch("/chat/history", { credentials: "same-origin" });
      if (!response.ok) return;
      const messages = await response.json();
      messages.slice(shown).forEach(add);
      shown = Math.max(shown, messages.length);
    } catch (e) { /* offline for a moment: the next poll catches up */ }
  }

  async function send(text, label) {
    if (!text) return;
    busy = true;
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
      body.forEach(add);
      shown += 1 + body.length;
      status.textContent = "";
    } catch (e) {
      status.textContent = "Can't reach the assistant. Check your connection and try again.";
    } finally {
      busy = false;
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    input.value = "";
    send(text);
  });
  history();
  setInterval(history, 4000);  // staff replies and "it's fixed" notices arrive this way
})();
