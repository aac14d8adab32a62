// Entry forms: choosing a project sets the billable box to that project's default
// (<option data-billable="0|1">); the box can still be changed by hand afterwards.
(function () {
  "use strict";
  function link(form) {
    var project = form.querySelector("select[name$='project']"), billable = form.querySelector("input[name$='billable']");
    if (!project || !billable) { return; }
    project.addEventListener("change", function () {
      var chosen = project.selectedOptions[0];
      billable.checked = !(chosen && chosen.dataset.billable === "0");
    });
  }
  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll("form"), link);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
})();
