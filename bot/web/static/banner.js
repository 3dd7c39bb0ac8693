// Keeps the outage banner current while the page stays open: every data-refresh seconds it
// reads /chat/banner and rewrites the banner's text (as text, never as HTML).
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

  setInterval(refresh, seconds * 1000);
})();
