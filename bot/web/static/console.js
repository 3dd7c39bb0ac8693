// The live console. The queue page asks /console/queue/changes every few seconds: four index
// lookups on the server, and one on Rasa's store for the customers of the rows on show. Only
// when its token changes does it fetch the table (with the current
// filter and page) and swap it in, keeping the rows ticked for a bulk action. A safety case that
// was not waiting when the page loaded is announced in an alert region. An open escalation does
// the same with its own token and swaps in its main block. Polling, not server-sent events: a
// console open all day must survive proxies and restarts, and staff consoles are few.
(function () {
  "use strict";
  var INTERVAL = 3000;

  // url: a string, or a function that gives the URL to ask at each tick.
  function poll(url, onChange) {
    var last = null;
    function tick() {
      fetch(typeof url === "function" ? url() : url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && last !== null && data.version !== last.version) onChange(data, last);
          if (data) last = data;
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { setTimeout(tick, INTERVAL); });
    }
    tick();
  }

  function fetchHtml(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.text() : Promise.reject(new Error(String(r.status)));
    });
  }

  function tickAllToggle(root) {
    var all = root.querySelector("#all-rows");
    if (!all) return;
    all.addEventListener("change", function () {
      root.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  }

  var live = document.getElementById("live");
  if (live) {
    tickAllToggle(live);
    var announce = document.getElementById("announce");
    var query = live.getAttribute("data-query") || "";
    var pageNo = live.getAttribute("data-page") || "1";
    var rowsUrl = "/console/queue/rows?" + query + (query ? "&" : "") + "page=" + encodeURIComponent(pageNo);
    // The rows on show, so that a customer writing in one of them redraws the table (its "new reply" mark).
    function changesUrl() {
      var ids = [];
      live.querySelectorAll("tr[data-id]").forEach(function (row) { ids.push(row.getAttribute("data-id")); });
      return "/console/queue/changes?ids=" + encodeURIComponent(ids.join(","));
    }
    poll(changesUrl, function (data, before) {
      var ticked = {};
      live.querySelectorAll('input[name="ids"]:checked').forEach(function (box) { ticked[box.value] = true; });
      fetchHtml(rowsUrl).then(function (html) {
        live.innerHTML = html;
        live.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = !!ticked[box.value]; });
        tickAllToggle(live);
      }).catch(function () {});
      var newest = data.newest_safety;
      var was = before.newest_safety;
      if (newest && (!was || newest.id > was.id)) {
        announce.textContent = "New safety case: " + newest.reference + ". " + data.safety_waiting + " safety case(s) waiting.";
        announce.hidden = false;
        document.title = "(!) " + document.title.replace(/^\(!\) /, "");
      }
    });
  }

  var escalation = document.getElementById("escalation-live");
  if (escalation) {
    var id = escalation.getAttribute("data-id");
    poll("/console/escalations/" + id + "/changes", function () {
      fetchHtml("/console/escalations/" + id).then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("escalation-live");
        var typing = escalation.querySelector("textarea:focus");
        if (fresh && !typing) escalation.innerHTML = fresh.innerHTML;
      }).catch(function () {});
    });
  }
})();
