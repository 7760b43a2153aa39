// Follows a background import: polls the job's progress and reloads the page when its state changes.
(function () {
  "use strict";
  var root = document.querySelector(".import-job");
  if (!root || root.dataset.running !== "1") { return; }
  var url = root.dataset.progressUrl;
  var bar = document.getElementById("job-bar");
  var processed = document.getElementById("job-processed");
  var status = document.getElementById("job-status");
  var first = null;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (first === null) { first = data.status; }
        bar.style.width = data.percent + "%";
        processed.textContent = data.processed;
        status.textContent = data.status_display;
        if (data.status !== first || data.finished || data.waiting_for_confirmation) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
