// Entry forms: choosing a project (or a task, which chooses its project: app.js) sets the
// billable box to that project's default (<option data-billable="0|1">); the box can still be
// changed by hand afterwards.
(function () {
  "use strict";
  function link(form) {
    var project = form.querySelector("select[name$='project']"), billable = form.querySelector("input[name$='billable']");
    if (!project || !billable) { return; }
    function apply() {
      var chosen = project.selectedOptions[0];
      billable.checked = !(chosen && chosen.dataset.billable === "0");
    }
    project.addEventListener("change", apply);
    var task = form.querySelector("select[name$='task']");
    // Runs after app.js's own change handler (added earlier), which has set the project by then.
    if (task) { task.addEventListener("change", apply); }
  }
  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll("form"), link);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", ready); } else { ready(); }
})();
