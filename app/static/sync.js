// Live progress on an integration's page, in plain JavaScript (no library):
// while the progress box says a sync is running or queued, fetch the box again
// every 1.5 s and swap it in; when the sync ends, reload the page once so the
// history table and chart include the finished run.
(function () {
  "use strict";

  var INTERVAL_MS = 1500;
  var MAX_QUEUED_POLLS = 80;   // ~2 minutes waiting for a worker, then stop asking
  var MAX_FAILED_FETCHES = 10; // network or server trouble: give up quietly

  function box() {
    return document.querySelector("[data-sync-progress]");
  }

  function isLive(state) {
    return state === "running" || state === "queued";
  }

  function schedule(queuedPolls, failures) {
    var current = box();
    if (!current || !isLive(current.dataset.state)) return;
    if (current.dataset.state === "queued" && queuedPolls >= MAX_QUEUED_POLLS) return;
    if (failures >= MAX_FAILED_FETCHES) return;
    window.setTimeout(function () { poll(queuedPolls, failures); }, INTERVAL_MS);
  }

  function poll(queuedPolls, failures) {
    var current = box();
    var wasQueued = current.dataset.state === "queued";
    fetch(current.dataset.url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("progress answered " + response.status);
        return response.text();
      })
      .then(function (html) {
        current.outerHTML = html;
        var next = box();
        if (next && !isLive(next.dataset.state)) {
          // Finished: show the new run in the history (and drop ?after= from the address).
          window.location.replace(window.location.pathname);
          return;
        }
        schedule(wasQueued ? queuedPolls + 1 : queuedPolls, 0);
      })
      .catch(function () {
        schedule(queuedPolls, failures + 1);
      });
  }

  document.addEventListener("DOMContentLoaded", function () { schedule(0, 0); });
})();
