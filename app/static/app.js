// Page behaviour that used to sit in inline scripts and on* attributes: the
// Content-Security-Policy allows scripts from this site only, so every page
// loads this file and marks what it wants with data-* attributes.
(function () {
  "use strict";

  // <form data-confirm="Delete this entry?">: ask before posting.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);

  // <select data-autosubmit>: a filter that applies as soon as it changes.
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-autosubmit") && event.target.form) {
      event.target.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print], [data-copy]");
    if (!button) { return; }
    if (button.hasAttribute("data-print")) { window.print(); return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.value);
      button.textContent = "Copied";
    }
  });

  // <input data-select-on-focus>: a value to copy (a new API token) is selected whole.
  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) { event.target.select(); }
  });

  // The running timer ticks from the server's elapsed seconds, so a wrong client clock cannot skew it.
  // The top bar's clock (data-title-clock) also leads the tab title: "▶ 0:12:34 · Invoices · TimeHub".
  var pageTitle = document.title;
  function startClock(clock) {
    var base = parseInt(clock.dataset.elapsed, 10), loaded = Date.now();
    var inTitle = clock.hasAttribute("data-title-clock");
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    function tick() {
      var s = base + Math.floor((Date.now() - loaded) / 1000);
      clock.textContent = Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
      if (inTitle) { document.title = "\u25B6 " + clock.textContent + " \u00B7 " + pageTitle; }
    }
    tick(); setInterval(tick, 1000);
  }

  // Alt+Shift+S starts or stops the timer from any page: it presses the top bar's button.
  // event.code, not event.key: Alt changes the character typed on some keyboards (macOS).
  document.addEventListener("keydown", function (event) {
    if (!(event.altKey && event.shiftKey && event.code === "KeyS") || event.ctrlKey || event.metaKey) { return; }
    var toggle = document.querySelector("#layout-timer [data-timer-toggle]");
    if (!toggle) { return; }
    event.preventDefault();
    toggle.form.requestSubmit(toggle);
  });

  // Entry forms: show only the chosen project's tasks; choosing a task selects its project.
  function linkProjectAndTask(form) {
    var project = form.querySelector("select[name$='project']"), task = form.querySelector("select[name$='task']");
    if (!project || !task) { return; }
    function narrow() {
      Array.prototype.forEach.call(task.options, function (option) {
        option.hidden = !!(project.value && option.dataset.project && option.dataset.project !== project.value);
      });
      if (task.selectedOptions[0] && task.selectedOptions[0].hidden) { task.value = ""; }
    }
    project.addEventListener("change", narrow);
    task.addEventListener("change", function () {
      var chosen = task.selectedOptions[0];
      if (chosen && chosen.dataset.project) { project.value = chosen.dataset.project; narrow(); }
    });
    narrow();
  }

  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll(".clock[data-elapsed]"), startClock);
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      if (form.querySelector("select[name$='project']") && form.querySelector("select[name$='task'] option[data-project]")) {
        linkProjectAndTask(form);
      }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
})();
