/* perfkit's report charts: draws the charts described in #perfkit-charts with uPlot.
   x by run (evenly spaced, labelled by commit), units chosen by perfkit, log axes labelled
   by decades only, each chart as wide as its box (redrawn when the window resizes). */
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("perfkit-charts").textContent);
  var plots = [];

  function number(v) {
    var a = Math.abs(v);
    if (a >= 1000) return Math.round(v).toLocaleString("en-US");
    if (a === 0) return "0";
    return String(Number(v.toPrecision(3)));
  }

  function withUnit(v, unit) {
    if (v === null || v === undefined) return "—";
    return unit ? number(v) + " " + unit : number(v);
  }

  function decades(min, max) {
    var out = [];
    if (!(min > 0) || !(max > 0)) return out;
    for (var e = Math.ceil(Math.log10(min) - 1e-9); Math.pow(10, e) <= max * (1 + 1e-9); e++) {
      out.push(Math.pow(10, e));
    }
    return out;
  }

  function positiveRange(spec) {
    var lo = Infinity, hi = 0;
    spec.series.forEach(function (s) {
      s.values.forEach(function (v) {
        if (v !== null && v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      });
    });
    return [Math.pow(10, Math.floor(Math.log10(lo))), Math.pow(10, Math.ceil(Math.log10(hi)))];
  }

  function categorical(spec) {
    var labels = spec.x.labels;
    return {
      scale: { time: false, range: [-0.5, labels.length - 0.5] },
      xs: labels.map(function (_, i) { return i; }),
      axis: {
        splits: function (u) {
          var room = Math.max(1, Math.floor(u.bbox.width / devicePixelRatio / 80));
          var step = Math.max(1, Math.ceil(labels.length / room));
          var out = [];
          for (var i = 0; i < labels.length; i += step) out.push(i);
          return out;
        },
        values: function (u, splits) { return splits.map(function (i) { return labels[i] || ""; }); },
      },
      hover: function (i) { return spec.x.hover[i]; },
    };
  }

  function numeric(spec) {
    var x = spec.x;
    return {
      scale: { time: false, range: [x.values[0], x.values[x.values.length - 1]] },
      xs: x.values,
      axis: {
        splits: function () { return x.ticks; },
        values: function () { return x.tick_labels; },
      },
      hover: function (i) { return x.labels[i]; },
    };
  }

  function draw(spec) {
    var box = document.getElementById(spec.id);
    if (!box) return;
    if (typeof uPlot === "undefined") {
      box.textContent = "(this chart needs uPlot, which did not load: the page was made with " +
        "--charts cdn and the network is not reachable)";
      return;
    }
    var x = spec.xnumeric ? numeric(spec) : categorical(spec);
    var data = [x.xs];
    var series = [{
      label: spec.xnumeric ? "percentile" : "run",
      value: function (u, v, si, i) { return i === null || i === undefined ? "" : x.hover(i); },
    }];
    var bands = [];
    spec.series.forEach(function (s, j) {
      data.push(s.values);
      var line = s.kind === "line" || s.kind === "budget";
      series.push({
        label: s.label,
        stroke: line ? s.colour : s.colour + "66",
        width: line ? 2 : 1,
        dash: s.dash ? [6, 4] : undefined,
        spanGaps: true,
        points: { show: s.kind === "line", size: 5 },
        value: function (u, v) { return withUnit(v, spec.unit); },
      });
      if (s.kind === "high" && j > 0 && spec.series[j - 1].kind === "low") {
        bands.push({ series: [j + 1, j], fill: s.colour + "22" });
      }
    });
    var y = { auto: true };
    var yAxis = {
      label: spec.unit, size: 64,
      values: function (u, splits) { return splits.map(function (v) { return number(v); }); },
    };
    if (spec.log) {
      var range = positiveRange(spec);
      y = { distr: 3, log: 10, range: function () { return range; } };
      yAxis.splits = function (u) { return decades(u.scales.y.min, u.scales.y.max); };
    }
    var opts = {
      title: spec.title,
      width: Math.max(240, box.clientWidth || 600),
      height: spec.small ? 200 : 260,
      series: series,
      bands: bands,
      scales: { x: x.scale, y: y },
      axes: [
        { splits: x.axis.splits, values: x.axis.values, size: 36 },
        yAxis,
      ],
      legend: { live: true },
    };
    plots.push([new uPlot(opts, data, box), box]);
  }

  ["metrics", "percentiles", "statements"].forEach(function (group) {
    (specs[group] || []).forEach(draw);
  });
  // the drawn charts, for a reader's console and the browser test (their axes' ticks)
  window.perfkitPlots = plots.map(function (p) { return p[0]; });
  window.addEventListener("resize", function () {
    plots.forEach(function (p) {
      p[0].setSize({ width: Math.max(240, p[1].clientWidth), height: p[0].height });
    });
  });
})();
