// The calendar page's small enhancements; everything works without them (forms post,
// the "Show" button submits; app.js applies the whose-week filter on change). Loaded as a file so a CSP can forbid inline scripts.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // A suggestion's form is submitted once: a second click (or Enter) while the first
  // request runs would only be refused by the server anyway.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.suggestion")) { return; }
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    var button = form.querySelector("button[type=submit]");
    if (button) { button.setAttribute("aria-busy", "true"); }
  });
}());
