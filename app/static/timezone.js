// Preselects the browser's time zone in a <select data-browser-timezone> (the first-run form).
// A separate file, not an inline script, so a Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  var select = document.querySelector("select[data-browser-timezone]");
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!select || !zone) return;

  function offered(name) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === name) return name;
    }
    return null;
  }
  // Browsers may report an old alias (Asia/Calcutta): pick the offered zone that the
  // browser resolves to the same name.
  function sameZone() {
    for (var i = 0; i < select.options.length; i++) {
      var value = select.options[i].value;
      try {
        if (new Intl.DateTimeFormat("en", { timeZone: value }).resolvedOptions().timeZone === zone) return value;
      } catch (e) { /* a zone this browser does not know */ }
    }
    return null;
  }
  var match = offered(zone) || sameZone();
  if (match) select.value = match;
})();
