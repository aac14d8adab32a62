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

  // Dragging a suggestion onto the week grid does what its "Add as time" button does: the
  // same form is submitted, with the project or task picked in it (the keyboard path is the
  // button). The entry takes the event's own start and end, wherever it is dropped.
  var dragged = null;
  function closest(node, selector) {
    return node && node.closest ? node.closest(selector) : null;
  }
  function clearTargets() {
    document.querySelectorAll(".day-grid.drop-target").forEach(function (grid) {
      grid.classList.remove("drop-target");
    });
  }
  document.querySelectorAll("form.suggestion").forEach(function (form) {
    form.setAttribute("draggable", "true");
    form.title = "Drag onto the week grid, or press “Add as time”";
  });
  document.addEventListener("dragstart", function (event) {
    var form = closest(event.target, "form.suggestion");
    if (!form || form.dataset.sent) { return; }
    dragged = form;
    event.dataTransfer.effectAllowed = "copy";
    event.dataTransfer.setData("text/plain", form.dataset.event || "");
    form.classList.add("dragging");
  });
  document.addEventListener("dragover", function (event) {
    var grid = dragged && closest(event.target, ".day-grid");
    if (!grid) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    if (!grid.classList.contains("drop-target")) { clearTargets(); grid.classList.add("drop-target"); }
  });
  document.addEventListener("drop", function (event) {
    var grid = dragged && closest(event.target, ".day-grid");
    if (!grid) { return; }
    event.preventDefault();
    var form = dragged;
    dragged = null;
    clearTargets();
    form.classList.remove("dragging");
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  });
  document.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    clearTargets();
  });
}());
