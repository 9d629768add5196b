// The live page: polls /live.json every two seconds and draws its series.
"use strict";
(function () {
  var NS = "http://www.w3.org/2000/svg";
  function line(svg, pts, key, cls, max) {
    var w = 600, h = 120, n = pts.length, d = "";
    for (var i = 0; i < n; i++) {
      var v = pts[i][key];
      if (v === null || v === undefined) continue;
      var x = n > 1 ? (i / (n - 1)) * w : w, y = h - 4 - (max > 0 ? (v / max) * (h - 8) : 0);
      d += (d ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    }
    var p = document.createElementNS(NS, "path");
    p.setAttribute("d", d || "M0 " + (h - 4));
    p.setAttribute("class", cls);
    svg.appendChild(p);
  }
  function draw(id, pts, keys) {
    var svg = document.getElementById(id), max = 0;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    pts.forEach(function (p) { keys.forEach(function (k) { if (p[k] > max) max = p[k]; }); });
    keys.forEach(function (k, i) { line(svg, pts, k, "s" + i, max); });
    var t = document.createElementNS(NS, "text");
    t.setAttribute("x", "4"); t.setAttribute("y", "12"); t.setAttribute("class", "max");
    t.textContent = "max " + (Math.round(max * 10) / 10);
    svg.appendChild(t);
  }
  function show(pts) {
    var last = pts[pts.length - 1] || {};
    document.querySelectorAll("#now [data-key]").forEach(function (dd) {
      var v = last[dd.getAttribute("data-key")];
      dd.textContent = v === null || v === undefined ? "—" : (Math.round(v * 10) / 10).toString();
    });
    draw("rate", pts, ["commits_per_sec", "aborts_per_sec"]);
    draw("latency", pts, ["commit_p50_ms", "commit_p99_ms"]);
    draw("doubt", pts, ["in_doubt", "stuck"]);
  }
  function poll() {
    fetch("/live.json", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) { show(j.points || []); })
      .catch(function () {})
      .finally(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
