// The dashboard's charts, on the vendored uPlot: the performance card's profile plot and the servers' live
// figures. htmx.onLoad runs for the first page and for each page htmx swaps in (hx-boost).
(function () {
  "use strict";
  var COLOURS = ["#2f5fb3", "#e0662f", "#2e7d32", "#8e44ad", "#b00020", "#00838f", "#9a6700", "#5d6d7e"];
  var KEEP = 150; // readings per chart: five minutes at one every two seconds

  function colour(i) { return COLOURS[i % COLOURS.length]; }

  function profilePlot(el) {
    var data = JSON.parse(el.querySelector("script").textContent);
    var tables = data.curves.map(function (c) {
      var pts = c.points.slice().sort(function (a, b) { return a[1] - b[1]; });
      return [pts.map(function (p) { return p[1]; }), pts.map(function (p) { return p[2]; })];
    });
    var chosen = data.chosen[0] != null ? [[data.chosen[0]], [data.chosen[1]]] : [[], []];
    var joined = uPlot.join(tables.concat([chosen]));
    var series = [{ label: "req/s" }].concat(data.curves.map(function (c, i) {
      return { label: c.config, stroke: colour(i), spanGaps: true, points: { show: true, size: 6 } };
    }));
    series.push({ label: "recommended", stroke: "#000", width: 0, points: { show: true, size: 14, width: 2, fill: "transparent" } });
    var budget = data.budget;
    el.plot = new uPlot({
      width: Math.min(900, el.parentElement.clientWidth - 20), height: 320, series: series,
      scales: { x: { time: false } },
      axes: [{ label: "throughput (req/s)" }, { label: "p99 (ms)" }],
      hooks: budget ? { draw: [function (u) {
        var y = u.valToPos(budget, "y", true), ctx = u.ctx;
        ctx.save(); ctx.setLineDash([6, 4]); ctx.strokeStyle = "#b00020";
        ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke(); ctx.restore();
      }] } : {},
    }, joined, el);
    el.dataset.points = String(data.curves.reduce(function (n, c) { return n + c.points.length; }, 0));
  }

  // Tick labels with the digits that tell ticks apart: 0.0004 and 0.0008, not 0 and 0.001.
  function ticks(u, splits) {
    return splits.map(function (v) { return v === 0 ? "0" : (Math.abs(v) >= 1000 ? v.toLocaleString() : String(+v.toPrecision(2))); });
  }

  function fmt(v) { return v == null ? "-" : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)); }

  function liveServer(section) {
    var url = section.dataset.live, status = section.querySelector("[data-status]");
    var times = [], byKey = {}, charts = {}, readings = 0;

    function seriesFor(figure, keys) {
      var out = [{}];
      keys.forEach(function (k, i) {
        if (figure === "latency") {
          out.push({ label: k + " p50", stroke: colour(i), dash: [4, 3] });
          out.push({ label: k + " p99", stroke: colour(i) });
        } else {
          out.push({ label: k, stroke: colour(i) });
        }
      });
      return out;
    }

    function draw() {
      var keys = Object.keys(byKey).sort();
      section.querySelectorAll("[data-chart=live]").forEach(function (el) {
        var figure = el.dataset.figure, data = [times.slice()];
        keys.forEach(function (k) {
          if (figure === "latency") { data.push(byKey[k].p50_ms.slice()); data.push(byKey[k].p99_ms.slice()); }
          else { data.push(byKey[k][figure].slice()); }
        });
        var chart = charts[figure];
        if (!chart || chart.series.length !== data.length) {
          if (chart) { chart.destroy(); }
          el.innerHTML = "";
          chart = charts[figure] = new uPlot({ title: el.dataset.title, width: 420, height: 200,
            series: seriesFor(figure, keys), axes: [{}, { values: ticks, size: 56 }],
            scales: { y: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; } } } }, data, el);
        } else {
          chart.setData(data);
        }
        el.dataset.readings = String(times.length);
      });
    }

    function poll() {
      if (!document.body.contains(section)) { return false; }
      fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
        if (!r.ok) {
          return r.json().then(function (e) { throw new Error(e.error); }, function () { throw new Error("HTTP " + r.status); });
        }
        return r.json();
      }).then(function (reading) {
        var keys = Object.keys(reading.versions);
        if (!keys.length || reading.at === times[times.length - 1]) { return; } // nothing served, or seen already
        readings += 1;
        times.push(reading.at);
        keys.forEach(function (k) {
          var p = reading.versions[k];
          if (!byKey[k]) {
            byKey[k] = { rps: [], p50_ms: [], p99_ms: [], queue_ms: [], batch: [], errors_s: [] };
            Object.keys(byKey[k]).forEach(function (f) { for (var i = 0; i < times.length - 1; i++) { byKey[k][f].push(null); } });
          }
          Object.keys(byKey[k]).forEach(function (f) { byKey[k][f].push(p[f]); });
          var row = section.querySelector('tr[data-key="' + CSS.escape(k) + '"]');
          if (row) { row.querySelectorAll("[data-metric]").forEach(function (td) { td.textContent = fmt(p[td.dataset.metric]); }); }
        });
        Object.keys(byKey).forEach(function (k) {
          if (keys.indexOf(k) < 0) { Object.keys(byKey[k]).forEach(function (f) { byKey[k][f].push(null); }); }
          Object.keys(byKey[k]).forEach(function (f) { if (byKey[k][f].length > KEEP) { byKey[k][f].shift(); } });
        });
        if (times.length > KEEP) { times.shift(); }
        draw();
        section.dataset.readings = String(readings);
        status.textContent = "read " + new Date(reading.at * 1000).toLocaleTimeString() + " · every 2 s";
      }).catch(function (e) { status.textContent = "no reading: " + e.message; });
      return true;
    }

    if (poll()) {
      var timer = setInterval(function () { if (!poll()) { clearInterval(timer); } }, 2000);
    }
  }

  htmx.onLoad(function (root) {
    root.querySelectorAll("[data-chart=profile]").forEach(profilePlot);
    root.querySelectorAll("section.server[data-live]").forEach(liveServer);
  });
})();
