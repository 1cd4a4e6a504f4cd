// The overview's charts: per-minute throughput and run time of the last hour (uPlot),
// fetched from /api/activity every two seconds.
(function () {
  "use strict";
  var throughputEl = document.getElementById("chart-throughput");
  var latencyEl = document.getElementById("chart-latency");
  if (!throughputEl || !latencyEl || typeof uPlot === "undefined") { return; }
  var charts = null;

  function width(el) { return Math.max(280, el.clientWidth - 4); }

  function make(data) {
    var axes = [{ stroke: "#6b7280" }, { stroke: "#6b7280", size: 50 }];
    var throughput = new uPlot({
      width: width(throughputEl), height: 200, axes: axes,
      scales: { x: { time: true } },
      series: [
        {},
        { label: "completed", stroke: "#1f8a4c", fill: "rgba(31,138,76,0.12)", width: 2 },
        { label: "failed", stroke: "#c0392b", fill: "rgba(192,57,43,0.10)", width: 2 }
      ]
    }, [data.minutes, data.completed, data.failed], throughputEl);
    var latency = new uPlot({
      width: width(latencyEl), height: 200, axes: axes,
      scales: { x: { time: true } },
      series: [
        {},
        { label: "p50 ms", stroke: "#2f5fd0", width: 2, spanGaps: true, points: { show: true, size: 5 } },
        { label: "p99 ms", stroke: "#b7791f", width: 2, spanGaps: true, points: { show: true, size: 5 } }
      ]
    }, [data.minutes, data.p50, data.p99], latencyEl);
    return { throughput: throughput, latency: latency };
  }

  function update() {
    fetch("/api/activity", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (charts === null) {
          charts = make(data);
        } else {
          charts.throughput.setData([data.minutes, data.completed, data.failed]);
          charts.latency.setData([data.minutes, data.p50, data.p99]);
        }
        document.body.dataset.eventsSeen = String(data.events_seen);
      })
      .catch(function () { /* the next poll tries again */ });
  }

  window.addEventListener("resize", function () {
    if (charts === null) { return; }
    charts.throughput.setSize({ width: width(throughputEl), height: 200 });
    charts.latency.setSize({ width: width(latencyEl), height: 200 });
  });
  update();
  setInterval(update, 2000);
})();
