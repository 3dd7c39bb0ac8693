// Keeps the outage banner current while the page stays open, rewriting its text (as text, never
// as HTML). On the chat page the banner comes on the chat's own stream (chat.js passes it on as
// an "outage-banner" event), so the page asks for nothing. The banner a status page embeds has no
// stream: every data-refresh seconds, while the tab is in view, it reads /chat/banner (about 2 ms
// of the web app's time, served from the cached incident state).
(function () {
  "use strict";
  const section = document.getElementById("banner");
  if (!section) return;
  const seconds = Number(section.dataset.refresh) || 20;
  const part = function (name) { return section.querySelector('[data-part="' + name + '"]'); };

  function show(banner) {
    if (!banner) { section.hidden = true; return; }
    part("title").textContent = banner.title;
    part("affected").textContent = banner.affected ? ": affecting " + banner.affected : "";
    const updated = part("updated");
    updated.textContent = banner.updated;
    updated.setAttribute("datetime", banner.updated_at);
    section.hidden = false;
  }

  function refresh() {
    fetch("/chat/banner", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) { if (body) show(body.banner); })
      .catch(function () { /* offline for a moment: keep what is shown, try again next time */ });
  }

  function asking() { return !document.hidden && !document.documentElement.dataset.bannerLive; }

  document.addEventListener("outage-banner", function (event) { show(event.detail); });
  // A tab in the background asks nothing (on an outage day most open tabs are), and catches
  // up the moment it is looked at again.
  setInterval(function () { if (asking()) refresh(); }, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (asking()) refresh(); });
})();
