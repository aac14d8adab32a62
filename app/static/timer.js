// The running timer's clock on the time page, ticking from the server's elapsed seconds
// (data-elapsed), so a wrong client clock cannot skew it. A file, not an inline script,
// so a Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  var clock = document.querySelector("#running-timer .clock");
  if (!clock) return;
  var base = parseInt(clock.dataset.elapsed, 10), loaded = Date.now();
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var s = base + Math.floor((Date.now() - loaded) / 1000);
    clock.textContent = Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
  }
  tick();
  setInterval(tick, 1000);
})();
