// Keeps a page current: every second while a job runs (every five
// otherwise) it fetches the page again and swaps in the new content.
(function () {
  "use strict";
  var content = document.getElementById("content");
  if (!content || !window.fetch || !window.DOMParser) return;
  function schedule(live) { setTimeout(refresh, live ? 1000 : 5000); }
  function refresh() {
    if (document.hidden) { schedule(false); return; }
    fetch(location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (resp) { return resp.ok ? resp.text() : Promise.reject(resp.status); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var next = doc.getElementById("content");
        var live = doc.body.getAttribute("data-live") === "true";
        // Keep open error details open across updates.
        var open = Array.prototype.map.call(content.querySelectorAll("details[open]"), function (d) {
          return d.closest("tr") && d.closest("tr").getAttribute("data-partition");
        });
        if (next && next.innerHTML !== content.innerHTML) {
          content.innerHTML = next.innerHTML;
          open.forEach(function (p) {
            var d = content.querySelector('tr[data-partition="' + p + '"] details');
            if (d) d.open = true;
          });
        }
        document.body.setAttribute("data-live", live ? "true" : "false");
        document.getElementById("live").textContent = live ? "running" : "";
        schedule(live);
      })
      .catch(function () { schedule(false); });
  }
  schedule(document.body.getAttribute("data-live") === "true");
})();
