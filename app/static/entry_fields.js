// In every entry form (timer, manual, edit): show only the chosen project's tasks, and
// choosing a task selects its project. A file, not an inline script, so a
// Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  document.querySelectorAll("[data-entry-fields]").forEach(function (row) {
    var project = row.querySelector("select[name$='project']"), task = row.querySelector("select[name$='task']");
    if (!project || !task) return;
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
  });
})();
