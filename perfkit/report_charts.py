"""The HTML report's charts, as data: what ``perfkit/templates/report.js`` draws with uPlot.

Each chart is a JSON-ready dict (:class:`Chart`): a title, its x positions and their labels,
its series, and how to draw its y axis. The rules every chart follows:

- **x by run, evenly spaced, labelled by commit** (as asv does): every run of the reported
  scales gets one position, in time order; the axis shows the commit's short hash, hovering
  shows the hash, the date and the run id;
- **units scaled**: a chart of seconds is drawn in s, ms or µs, whichever its largest value
  reads best in;
- **log axes label decades only**: a series spanning more than ×30 is drawn on a log axis
  whose ticks are 1, 10, 100... of its unit, never 2 or 5 in between;
- one series per scale and workload, the same colour in every chart; a timing with repeats
  shows its fastest and slowest repeat as a band, a budget as a dashed line of the same
  colour.

Charts: one per metric over the runs; per HTTP workload, its latency at each percentile of
its last runs (an HDR percentile plot: x is the percentile on a log scale of 1 / (1 - p));
per workload, its top statements' calls, total time and buffers over the runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from perfkit.history import metric_value, timestamp_of
from perfkit.profile import entry_buffers, shorten
from perfkit.report_view import (
    BUDGET_OF,
    ReportData,
    is_load,
    short_commit,
    trend_statements,
    workloads_of,
)
from perfkit.results import LADDER, RunRecord

Chart = dict[str, Any]

#: Colours of the series (Okabe-Ito, readable by colour-blind readers), by series index.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: A series whose largest value is over this many times its smallest is drawn on a log axis.
LOG_SPAN = 30.0
#: Runs per HTTP workload drawn in its percentile plot (the newest).
PERCENTILE_RUNS = 5


def time_unit(values: Sequence[float]) -> tuple[str, float]:
    """The unit seconds are best read in for ``values`` (by the largest), and its scale."""
    top = max((abs(v) for v in values), default=0.0)
    if top >= 1:
        return "s", 1.0
    if top >= 1e-3:
        return "ms", 1e-3
    return "µs", 1e-6


def scaled(
    values: Sequence[float | None], unit: str, *, seconds: bool
) -> tuple[list[float | None], str]:
    """``values`` in the unit they read best in (seconds only), and the unit's name."""
    if not seconds:
        return list(values), unit
    name, factor = time_unit([v for v in values if v is not None])
    return [None if v is None else v / factor for v in values], name


def log_axis(values: Sequence[float | None]) -> bool:
    """Whether ``values`` span enough (all positive, ×30 or more) for a log axis."""
    seen = [v for v in values if v is not None]
    return bool(seen) and min(seen) > 0 and max(seen) / min(seen) > LOG_SPAN


class Positions:
    """The x positions of a set of runs: one per run id, in time order."""

    def __init__(self, records: Sequence[RunRecord]) -> None:
        ordered = sorted(records, key=lambda r: (timestamp_of(r), r.run_id))
        self.ids: list[str] = list(dict.fromkeys(r.run_id for r in ordered))
        first = {r.run_id: r for r in reversed(ordered)}
        self.index = {run_id: i for i, run_id in enumerate(self.ids)}
        self.labels = [short_commit(first[i]) for i in self.ids]
        self.hover = [
            f"{short_commit(first[i])} · {timestamp_of(first[i]):%Y-%m-%d %H:%M} UTC · run {i}"
            for i in self.ids
        ]

    def axis(self) -> dict[str, Any]:
        return {"labels": self.labels, "hover": self.hover}

    def column(self, pairs: Sequence[tuple[RunRecord, float | None]]) -> list[float | None]:
        out: list[float | None] = [None] * len(self.ids)
        for record, value in pairs:
            out[self.index[record.run_id]] = value
        return out


def _series_keys(data: ReportData) -> list[tuple[str, str | None]]:
    return [(scale, w) for scale in data.scales for w in workloads_of(data.runs(scale))]


def _colour(keys: Sequence[tuple[str, str | None]], key: tuple[str, str | None]) -> str:
    return PALETTE[keys.index(key) % len(PALETTE)]


def metric_charts(data: ReportData) -> list[Chart]:
    """One chart per metric over the runs, a series per scale and workload."""
    from perfkit.compare import METRICS

    records = [r for scale in data.scales for r in data.runs(scale)]
    keys = _series_keys(data)
    charts: list[Chart] = []
    for metric in METRICS.values():
        measured = [r for r in records if metric_value(r, metric.name) is not None]
        if not measured:
            continue
        x = Positions(measured)
        raw: list[tuple[str, str, list[float | None], str, bool]] = []
        for key in keys:
            runs = [r for r in measured if (r.scale, r.workload) == key]
            if not runs:
                continue
            name = f"{key[0]} · {key[1]}" if key[1] else key[0]
            colour = _colour(keys, key)
            raw.append((name, colour, x.column([(r, metric_value(r, metric.name)) for r in runs]),
                        "line", False))  # fmt: skip
            samples = [(r, r.samples.get(metric.name) or []) for r in runs]
            if any(len(s) > 1 for _, s in samples):
                fastest = x.column([(r, min(s) if s else None) for r, s in samples])
                slowest = x.column([(r, max(s) if s else None) for r, s in samples])
                raw.append((f"{name} fastest", colour, fastest, "low", False))
                raw.append((f"{name} slowest", colour, slowest, "high", False))
            budget = BUDGET_OF.get(metric.name)
            limits = [(r, r.budgets.get(budget)) for r in runs] if budget else []
            if limits and any(v is not None for _, v in limits):
                raw.append((f"{name} budget", colour, x.column(limits), "budget", True))
        # the unit the measured values read best in (a budget far above them reads in it too)
        lines = [values for *_, values, kind, _dash in raw if kind == "line"]
        every = [v for values in lines for v in values if v is not None]
        seconds = metric.unit == "s"
        unit, factor = time_unit(every) if seconds else (metric.unit or "count", 1.0)
        series: list[dict[str, Any]] = [
            {"label": label, "colour": colour, "kind": kind, "dash": dash,
             "values": [None if v is None else v / factor for v in values]}
            for label, colour, values, kind, dash in raw
        ]  # fmt: skip
        better = "lower" if metric.direction == "lower" else "higher"
        charts.append(
            {
                "id": f"chart-{metric.name}",
                "title": f"{metric.label} ({better} is better)",
                "unit": unit,
                "log": log_axis([v for s in series if s["kind"] == "line" for v in s["values"]]),
                "x": x.axis(),
                "series": series,
            }
        )
    return charts


def _percentile_position(q: float) -> float:
    """Where percentile ``q`` sits on an HDR percentile plot's x axis: log10(1 / (1 - q)),
    the maximum one decade past 99.99 %."""
    return 5.0 if q >= 100 else -math.log10(1 - q / 100)


def percentile_charts(data: ReportData) -> list[Chart]:
    """Per scale and HTTP workload, the latency at each percentile of its newest runs."""
    charts: list[Chart] = []
    for scale in data.scales:
        loads = [r for r in data.runs(scale) if is_load(r)]
        for workload in workloads_of(loads):
            runs = [
                r
                for r in loads
                if r.workload == workload
                and len(r.samples.get("latency_ladder_seconds") or []) == len(LADDER)
            ][-PERCENTILE_RUNS:]
            if not runs:
                continue
            every = [v for r in runs for v in r.samples["latency_ladder_seconds"]]
            unit, factor = time_unit(every)
            series = [
                {
                    "label": f"{short_commit(r)} {timestamp_of(r):%m-%d %H:%M}",
                    "colour": PALETTE[i % len(PALETTE)],
                    "kind": "line",
                    "dash": False,
                    "values": [v / factor for v in r.samples["latency_ladder_seconds"]],
                }
                for i, r in enumerate(runs)
            ]
            charts.append(
                {
                    "id": f"chart-percentiles-{len(charts)}",
                    "title": f"{scale} · {workload}: latency by percentile (HDR)",
                    "unit": unit,
                    "log": log_axis(every),
                    "xnumeric": True,
                    "x": {
                        "values": [_percentile_position(q) for q in LADDER],
                        "labels": ["max" if q >= 100 else f"{q:g}%" for q in LADDER],
                        "ticks": [0.0, math.log10(2), 1.0, 2.0, 3.0, 4.0, 5.0],
                        "tick_labels": ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "max"],
                    },
                    "series": series,
                }
            )
    return charts


def statement_charts(data: ReportData) -> list[Chart]:
    """Per scale and workload, its newest run's top statements over the runs: calls, total
    time and shared buffers (the newest profiled run names the statements)."""
    charts: list[Chart] = []
    for scale in data.scales:
        runs = data.runs(scale)
        for workload in workloads_of(runs):
            own = [r for r in runs if r.workload == workload and r.profile]
            if len(own) < 2:
                continue
            top = trend_statements(own[-1])
            x = Positions(own)
            for field, title in (("calls", "calls"), ("total_ms", "total time"),
                                 ("buffers", "shared buffers")):  # fmt: skip
                series: list[dict[str, Any]] = []
                for i, e in enumerate(top):
                    pairs: list[tuple[RunRecord, float | None]] = []
                    for r in own:
                        s = r.statement(str(e["fingerprint"]))
                        pairs.append((r, None if s is None else _statement_value(s, field)))
                    series.append(
                        {"label": shorten(str(e["statement"]), 48), "kind": "line",
                         "colour": PALETTE[i % len(PALETTE)], "dash": False,
                         "values": x.column(pairs)}
                    )  # fmt: skip
                values = [v for s in series for v in s["values"] if v is not None]
                if not values:
                    continue
                unit = {"calls": "calls", "buffers": "blocks"}.get(field, "")
                if field == "total_ms":
                    unit, factor = time_unit(values)
                    for s in series:
                        s["values"] = [None if v is None else v / factor for v in s["values"]]
                charts.append(
                    {
                        "id": f"chart-statements-{len(charts)}",
                        "title": f"{scale} · {workload}: {title} per statement",
                        "unit": unit,
                        "log": log_axis(values),
                        "x": x.axis(),
                        "series": series,
                        "small": True,
                    }
                )
    return charts


def _statement_value(entry: dict[str, Any], field: str) -> float | None:
    if field == "buffers":
        found = entry_buffers(entry)
        return None if found is None else float(found[0])
    if field == "total_ms":
        return float(entry["total_ms"]) / 1000  # seconds, scaled with the chart
    return float(entry[field])


def all_charts(data: ReportData) -> dict[str, list[Chart]]:
    """Every chart of the report, by section."""
    return {
        "metrics": metric_charts(data),
        "percentiles": percentile_charts(data),
        "statements": statement_charts(data),
    }
