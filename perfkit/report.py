"""The performance report: Markdown for a pull request or a terminal, and one HTML page.

Both show, from the results history (:mod:`perfkit.history`):

1. **the plan's measurement table**: per scale, the newest bulk-insert speed, restore time,
   data-ready time, batch time (median of the repeats, with its budget), time per office, SQL
   statements, peak memory and e-mails. Restore and bulk insert happen only in runs that
   restored or seeded, so each cell shows the newest run that measured it;
2. **the regression check**: each scale's newest run against its baseline (see
   :mod:`perfkit.compare`): metric, baseline, new value, ratio, verdict;
3. **where the time goes**: per scale, the newest run's statement profile (the share of the
   database time each statement took, its calls, mean time and rows, the slowest node of its
   plan) and its database/application split; plan shapes that changed against the baseline
   are shown before and after, side by side (the HTML page adds a statement-share chart and
   each plan, collapsed);
4. **the history**: the last N runs of each scale, newest first.

The HTML page adds a chart per metric over time, one line per scale (plotly; the batch chart
shows each run's fastest and slowest repeat as error bars and the budget as a dashed line).
It is self-contained: plotly.js is embedded once in the page, so the file opens offline, as a
CI artifact or an e-mail attachment, with nothing fetched from the network.

Over 400 lines: the Markdown and HTML renderings of one report share its tables and charts
line for line; they stay together so the two formats cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from perfkit.compare import (
    METRICS,
    Comparison,
    Metric,
    PlanChange,
    compare_history,
    rules_from_config,
)
from perfkit.config import Config
from perfkit.errors import BadFlagError, PerfkitError
from perfkit.history import History, history_for, metric_value, timestamp_of
from perfkit.profile import shape_text, shorten
from perfkit.results import RunRecord
from perfkit.text import clipped, quoted

Format = Literal["md", "html"]
FORMATS: dict[str, tuple[Format, ...]] = {"md": ("md",), "html": ("html",), "both": ("md", "html")}
FILE_NAMES: dict[Format, str] = {"md": "report.md", "html": "report.html"}
#: The run-record budget that applies to a metric (shown next to it and drawn in its chart).
BUDGET_OF = {
    "batch_seconds": "batch",
    "prepare_seconds": "prepare",
    "restore_seconds": "restore",
    "statements": "statements",
}
#: Statements shown per workload in "where the time goes".
TOP_STATEMENTS = 10
#: Columns of the measurement table, in the plan's order.
TABLE_METRICS = (
    "seed_rows_per_second",
    "restore_seconds",
    "prepare_seconds",
    "batch_seconds",
    "seconds_per_office",
    "statements",
    "peak_memory_mb",
)


class ReportError(PerfkitError):
    """The report cannot be made: it cannot be written where it was asked to go (exit status
    1), or a flag is bad (:class:`ReportFlagError`)."""


class ReportFlagError(BadFlagError, ReportError):
    """A bad flag of ``perfkit report`` (``--format``, ``--last``, ``--output``): exit status 2,
    like every bad input."""


@dataclass(frozen=True)
class Cell:
    """One value of the measurement table and the run it came from."""

    value: float | None
    record: RunRecord | None


@dataclass(frozen=True)
class ScaleSummary:
    """What the measurement table says about one scale."""

    scale: str
    latest: RunRecord
    runs: int
    cells: dict[str, Cell] = field(default_factory=dict)

    def cell(self, metric: str) -> Cell:
        return self.cells.get(metric, Cell(None, None))


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, gathered once, rendered as Markdown or HTML."""

    history: History
    scales: tuple[str, ...]
    last: int
    comparisons: tuple[Comparison, ...]
    generated: dt.datetime
    summaries: tuple[ScaleSummary, ...]

    def runs(self, scale: str) -> tuple[RunRecord, ...]:
        """The last N runs of ``scale``, oldest first."""
        return self.history.last(scale, self.last)


def build_report(
    history: History,
    *,
    scale_order: Sequence[str] = (),
    scales: Sequence[str] = (),
    last: int = 20,
    comparisons: Iterable[Comparison] = (),
    now: dt.datetime | None = None,
) -> ReportData:
    """Gather the report's content: ``scales`` (default: every scale with runs, in
    ``scale_order``), the last ``last`` runs of each, and the given comparisons."""
    if last < 1:
        raise ReportFlagError("--last", f"expected 1 or more, got {last}", value=str(last))
    chosen = tuple(scales) or history.scales(scale_order)
    summaries: list[ScaleSummary] = []
    for scale in chosen:
        runs = history.for_scale(scale)
        if not runs:
            continue
        cells: dict[str, Cell] = {}
        for metric in METRICS:
            measured = next(
                (r for r in reversed(runs) if metric_value(r, metric) is not None), None
            )
            cells[metric] = Cell(metric_value(measured, metric) if measured else None, measured)
        summaries.append(ScaleSummary(scale=scale, latest=runs[-1], runs=len(runs), cells=cells))
    return ReportData(
        history=history,
        scales=tuple(s.scale for s in summaries),
        last=last,
        comparisons=tuple(c for c in comparisons if c.scale in chosen),
        generated=now or dt.datetime.now(dt.UTC),
        summaries=tuple(summaries),
    )


# --------------------------------------------------------------------------------------------
# shared formatting


def _when(record: RunRecord) -> str:
    return f"{timestamp_of(record):%Y-%m-%d %H:%M} UTC"


def _commit(record: RunRecord) -> str:
    return (record.commit or "—")[:10]


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"x{value:.2f}"


def _change(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.0%} {'worse' if value > 0 else 'better'}" if value else "±0%"


def _budget(record: RunRecord | None, metric: str) -> str:
    key = BUDGET_OF.get(metric)
    if record is None or key is None or key not in record.budgets:
        return ""
    unit = METRICS[metric].unit
    return f" / {record.budgets[key]:g}" + (f" {unit}" if unit else "")


def _emails(record: RunRecord) -> str:
    emails = record.metrics.get("emails")
    return "—" if emails is None else f"{emails:,.0f}"


def _status(record: RunRecord) -> str:
    if record.passed:
        return "pass"
    return "FAIL" + (f": {'; '.join(record.failures)}" if record.failures else "")


def _machine(record: RunRecord) -> str:
    m, ds = record.machine, record.dataset
    rows = ds.get("rows")
    total = sum(v for v in rows.values() if isinstance(v, int)) if isinstance(rows, dict) else None
    data = f"{ds.get('mode', '?')} data" + (f", {total:,} rows" if total else "")
    data += f", seed {ds.get('seed', '?')}, generator v{ds.get('generator_version', '?')}"
    return (
        f"{data}; {m.get('hostname', '?')}, {m.get('cpus', '?')} CPUs, "
        f"Python {m.get('python', '?')}, PostgreSQL {record.server_version} ({record.backend})"
    )


def _measurement_rows(data: ReportData) -> tuple[list[str], list[list[str]]]:
    header = ["scale", "offices"] + [METRICS[m].label for m in TABLE_METRICS] + ["e-mails"]
    header += ["within budgets", "newest run"]
    rows: list[list[str]] = []
    for s in data.summaries:
        offices = s.latest.metrics.get("offices")
        row = [s.scale, "—" if offices is None else f"{offices:,.0f}"]
        for name in TABLE_METRICS:
            cell = s.cell(name)
            text = METRICS[name].format(cell.value) + _budget(cell.record, name)
            if cell.record is not None and cell.record is not s.latest:
                text += f" ({timestamp_of(cell.record):%Y-%m-%d})"
            row.append(text)
        row += [_emails(s.latest), _status(s.latest), f"{_when(s.latest)}, {_commit(s.latest)}"]
        rows.append(row)
    return header, rows


def comparison_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    """One scale's comparison as a header and rows of text (Markdown, HTML and the terminal
    table of :func:`perfkit.views.comparison_table` draw them)."""
    header = ["metric", "baseline", "new", "ratio", "change", "verdict"]
    rows = []
    for m in c.metrics:
        verdict = m.verdict + ("" if m.rule.gate or m.verdict != "regression" else " (not gated)")
        rows.append(
            [
                m.metric.label,
                m.metric.format(m.baseline),
                m.metric.format(m.new),
                _ratio(m.ratio),
                _change(m.worse_by),
                verdict,
            ]
        )
    return header, rows


def _history_rows(data: ReportData, scale: str) -> tuple[list[str], list[list[str]]]:
    header = ["when", "commit", "run", "batch (median)", "fastest–slowest", "statements"]
    header += ["peak memory", "e-mails", "within budgets"]
    batch, statements, memory = (
        METRICS[n] for n in ("batch_seconds", "statements", "peak_memory_mb")
    )
    rows = []
    for r in reversed(data.runs(scale)):
        samples = r.samples.get("batch_seconds") or []
        spread = f"{min(samples):.3f}–{max(samples):.3f} s ({len(samples)})" if samples else "—"
        rows.append(
            [
                _when(r),
                _commit(r),
                r.run_id,
                batch.format(metric_value(r, "batch_seconds")),
                spread,
                statements.format(metric_value(r, "statements")),
                memory.format(metric_value(r, "peak_memory_mb")),
                _emails(r),
                _status(r),
            ]
        )
    return header, rows


def _intro(data: ReportData, *, markdown: bool = False) -> str:
    """The report's first line; ``markdown`` makes its path a code span and its scale names
    escaped text."""
    total = sum(s.runs for s in data.summaries)
    source = str(data.history.source or "memory")
    scales = ", ".join(data.scales) or "none"
    where, scales = (md_code(source), md_text(scales)) if markdown else (f"`{source}`", scales)
    return (
        f"Generated {data.generated:%Y-%m-%d %H:%M} UTC from {total} run record"
        f"{'s' if total != 1 else ''} in {where}; scales: {scales}."
    )


# --------------------------------------------------------------------------------------------
# Markdown


#: What could start markup (or raw HTML) inside a line of text: emphasis, code, links and
#: images, table cells, strike-through, heading closers; ``<`` before a tag or autolink; ``&``
#: before an entity; ``_`` that is not inside a word (inside one it never makes emphasis).
_MD_MARKUP = re.compile(
    r"[\\`*\[\]|~#]|<(?=[A-Za-z/!?])|&(?=[#A-Za-z0-9])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"
)
_LINE_BREAKS = str.maketrans({c: " " for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def md_text(text: str) -> str:
    """Free text (a workload, host or scale name, a failure) as Markdown that shows it
    literally on one line: every character that could start markup or raw HTML is
    backslash-escaped (CommonMark allows that for any ASCII punctuation), so ``<script>``
    stays text, in a table cell as anywhere else; ``a <= b`` and ``batch_seconds`` stay as
    they are."""
    return _MD_MARKUP.sub(lambda m: "\\" + m.group(), text.translate(_LINE_BREAKS))


def md_code(text: str, *, cell: bool = False) -> str:
    """``text`` as a code span on one line: fenced by more backticks than any run inside it
    (padded with a space when it starts or ends with one, or with a backtick). In a table
    ``cell`` its ``|`` is escaped (GitHub and CommonMark tables unescape it before the span
    is read; elsewhere a backslash in a code span is shown as it is)."""
    text = text.translate(_LINE_BREAKS)
    if not text.strip():
        return md_text(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    body = text.replace("|", "\\|") if cell else text
    return f"{fence}{pad}{body}{pad}{fence}"


def _md_table(
    header: list[str], rows: list[list[str]], *, code: frozenset[int] = frozenset()
) -> str:
    """A GitHub table; every cell is free text (:func:`md_text`), the columns in ``code``
    code spans (:func:`md_code`)."""

    def cell(i: int, text: str) -> str:
        return md_code(text, cell=True) if i in code and text else md_text(text)

    lines = ["| " + " | ".join(md_text(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(i, c) for i, c in enumerate(row)) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData) -> str:
    """The report as GitHub-flavoured Markdown. Everything that comes from the records (scale,
    workload and host names, statements, failures, plans) is escaped or a code span: the
    page carries no raw HTML and no markup of theirs."""
    out = ["# perfkit performance report", "", _intro(data, markdown=True), ""]
    if not data.summaries:
        out += ["No runs recorded yet: run `nox -s perf-small` (or another scale) first.", ""]
        return "\n".join(out)
    out += ["## Measurements (newest run per scale)", ""]
    out += [_md_table(*_measurement_rows(data)), ""]
    out += [
        "Batch time is the median of the timed repeats; a value dated in brackets comes from "
        "the newest run that measured it (restore and bulk insert happen only when a run "
        "restored or seeded its data). Budgets are the scale's, from scales.yaml.",
        "",
    ]
    for s in data.summaries:
        out.append(
            f"- **{md_text(s.scale)}**: {md_text(_machine(s.latest))}; {s.runs} run(s) recorded"
        )
    out.append("")
    if data.comparisons:
        out += ["## Regression check", ""]
        for c in data.comparisons:
            mark = "✅" if c.ok else "❌"
            out += [f"{mark} {md_text(c.summary())}", ""]
            if c.note:
                out += [f"> note: {md_text(c.note)}", ""]
            if c.metrics:
                out += [_md_table(*comparison_rows(c)), ""]
    for s in data.summaries:
        if not s.latest.profile:
            continue
        workload = md_text(s.latest.workload or "workload")
        out += [f"## Where the time goes: {md_text(s.scale)} ({workload})", ""]
        out += [_split_line(s.latest), ""]
        out += [_md_table(*_statement_rows(s.latest), code=_STATEMENT_COLUMNS), ""]
        for change in _plan_changes(data, s.scale):
            out += [f"Plan changed: {md_text('; '.join(change.scan_changes()))}", ""]
            out += [_md_table(["before", "after"], [list(p) for p in _side_by_side(change)],
                              code=frozenset({0, 1}))]  # fmt: skip
            out.append("")
    for s in data.summaries:
        shown = min(s.runs, data.last)
        out += [
            f"## History: {md_text(s.scale)} (last {shown} of {s.runs} runs, newest first)",
            "",
        ]
        out += [_md_table(*_history_rows(data, s.scale)), ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1f2328; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .88rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .55rem; text-align: right; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
.muted { color: #656d76; font-size: .9rem; }
.regression { color: #b3261e; font-weight: 600; } .improvement { color: #1a7f37; }
.ok { color: #1a7f37; } .bad { color: #b3261e; }
.chart { margin: 1rem 0 2rem; }
"""


def _html_table(header: list[str], rows: list[list[str]], *, verdict_col: int = -1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, text in enumerate(row):
            cls = ""
            if i == verdict_col:
                cls = f' class="{text.split()[0]}"' if text else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure_html(data: ReportData, metric: Metric) -> str | None:
    import plotly.graph_objects as go
    import plotly.io as pio
    from plotly.colors import qualitative

    fig = go.Figure()
    values: list[float] = []
    palette = qualitative.Plotly
    for index, scale in enumerate(data.scales):
        # one colour per scale, the same in every chart; its budget is the same colour, dashed
        colour = palette[index % len(palette)]
        runs = [r for r in data.runs(scale) if metric_value(r, metric.name) is not None]
        if not runs:
            continue
        ys = [metric_value(r, metric.name) or 0.0 for r in runs]
        values += ys
        error: dict[str, object] | None = None
        samples = [r.samples.get(metric.name) or [] for r in runs]
        if any(samples):
            error = {
                "type": "data",
                "symmetric": False,
                "array": [max(s) - y if s else 0.0 for s, y in zip(samples, ys, strict=True)],
                "arrayminus": [y - min(s) if s else 0.0 for s, y in zip(samples, ys, strict=True)],
                "thickness": 1,
            }
        fig.add_trace(
            go.Scatter(
                x=[timestamp_of(r) for r in runs],
                y=ys,
                mode="lines+markers",
                name=scale,
                line={"color": colour},
                error_y=error,
                customdata=[[r.run_id, _commit(r), _status(r)] for r in runs],
                hovertemplate=(
                    f"{scale}: %{{y:.4g}} {metric.unit}<br>%{{x}}<br>run %{{customdata[0]}}"
                    "<br>commit %{customdata[1]}<br>%{customdata[2]}<extra></extra>"
                ),
            )
        )
        budget_key = BUDGET_OF.get(metric.name)
        budgets = [r.budgets.get(budget_key) for r in runs] if budget_key else []
        if budgets and all(b is not None for b in budgets):
            fig.add_trace(
                go.Scatter(
                    x=[timestamp_of(r) for r in runs],
                    y=budgets,
                    mode="lines",
                    name=f"{scale} budget",
                    line={"dash": "dash", "width": 1, "color": colour},
                    hovertemplate=f"{scale} budget: %{{y}} {metric.unit}<extra></extra>",
                )
            )
    if not values:
        return None
    better = "lower" if metric.direction == "lower" else "higher"
    positive = [v for v in values if v > 0]
    log = bool(positive) and len(positive) == len(values) and max(positive) / min(positive) > 30
    fig.update_layout(
        title=f"{metric.label} ({better} is better)",
        xaxis_title="run time (UTC)",
        yaxis_title=metric.unit or "count",
        yaxis_type="log" if log else "linear",
        template="plotly_white",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.25},
    )
    div: str = pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        config={"displaylogo": False, "responsive": True},
    )
    return div


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page (plotly.js embedded, no network needed)."""
    from plotly.offline import get_plotlyjs

    parts = [f"<h1>perfkit performance report</h1><p class='muted'>{html.escape(_intro(data))}</p>"]
    if not data.summaries:
        parts.append("<p>No runs recorded yet: run <code>nox -s perf-small</code> first.</p>")
    else:
        parts.append("<h2>Measurements (newest run per scale)</h2>")
        parts.append(_html_table(*_measurement_rows(data)))
        parts.append(
            "<p class='muted'>Batch time is the median of the timed repeats; a value dated in "
            "brackets comes from the newest run that measured it. Budgets come from "
            "scales.yaml.</p><ul>"
            + "".join(
                f"<li><b>{html.escape(s.scale)}</b>: {html.escape(_machine(s.latest))}; "
                f"{s.runs} run(s) recorded</li>"
                for s in data.summaries
            )
            + "</ul>"
        )
        if data.comparisons:
            parts.append("<h2>Regression check</h2>")
            for c in data.comparisons:
                cls = "ok" if c.ok else "bad"
                parts.append(f"<p class='{cls}'>{html.escape(c.summary())}</p>")
                if c.note:
                    parts.append(f"<p class='muted'>note: {html.escape(c.note)}</p>")
                if c.metrics:
                    parts.append(_html_table(*comparison_rows(c), verdict_col=5))
        parts.append("<h2>Charts</h2>")
        for metric in METRICS.values():
            div = _figure_html(data, metric)
            if div is not None:
                parts.append(f"<div class='chart'>{div}</div>")
        for s in data.summaries:
            if s.latest.profile:
                parts.append(_time_goes_html(data, s.scale, s.latest))
        for s in data.summaries:
            shown = min(s.runs, data.last)
            parts.append(
                f"<h2>History: {html.escape(s.scale)} (last {shown} of {s.runs} runs)</h2>"
            )
            parts.append(_html_table(*_history_rows(data, s.scale)))
    plotly_js = get_plotlyjs()
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>perfkit performance report</title>"
        f"<style>{_CSS}</style>"
        f'<script type="text/javascript">{plotly_js}</script>'
        "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


# --------------------------------------------------------------------------------------------
# where the time goes


def _split_line(record: RunRecord) -> str:
    """``database 12.0 ms (45 %), application 14.7 ms (55 %)`` of the profiled run."""
    m = record.metrics
    if "db_seconds" not in m:
        return "Statements of one profiled, untimed run after the timed repeats."
    share = float(m.get("db_share", 0.0))
    return (
        f"One profiled, untimed run: database {m['db_seconds'] * 1000:.1f} ms ({share:.0%}), "
        f"application {m.get('app_seconds', 0.0) * 1000:.1f} ms ({1 - share:.0%})."
    )


#: The statement profile's columns that hold SQL (shown as code in Markdown).
_STATEMENT_COLUMNS = frozenset({5})


def _statement_rows(record: RunRecord) -> tuple[list[str], list[list[str]]]:
    header = ["share", "calls", "total ms", "mean ms", "rows", "statement", "slowest plan node"]
    total = sum(float(e.get("total_ms", 0.0)) for e in record.profile) or 1.0
    rows = []
    for e in record.profile[:TOP_STATEMENTS]:
        plan = e.get("plan") or {}
        slowest = (
            f"{plan['slowest_node']} ({plan['slowest_node_ms']:.2f} ms)"
            if "slowest_node" in plan
            else shorten(str(plan.get("error", "")), 80)  # "plan not taken: ..." and the like
        )
        rows.append(
            [
                f"{float(e['total_ms']) / total:.0%}",
                f"{e['calls']:,}",
                f"{float(e['total_ms']):.2f}",
                f"{float(e['mean_ms']):.3f}",
                f"{e.get('rows', 0):,}",
                shorten(str(e["statement"]), 120),
                slowest,
            ]
        )
    return header, rows


def _plan_changes(data: ReportData, scale: str) -> list[PlanChange]:
    return [p for c in data.comparisons if c.scale == scale for p in c.plan_changes]


def _side_by_side(change: PlanChange) -> list[tuple[str, str]]:
    before, after = shape_text(change.before), shape_text(change.after)
    width = max(len(before), len(after))
    before += [""] * (width - len(before))
    after += [""] * (width - len(after))
    return list(zip(before, after, strict=True))


def _share_chart(record: RunRecord) -> str:
    import plotly.graph_objects as go
    import plotly.io as pio

    top = record.profile[:TOP_STATEMENTS]
    total = sum(float(e.get("total_ms", 0.0)) for e in record.profile) or 1.0
    fig = go.Figure(
        go.Bar(
            x=[float(e["total_ms"]) / total * 100 for e in reversed(top)],
            y=[shorten(str(e["statement"]), 60) for e in reversed(top)],
            orientation="h",
            hovertemplate="%{x:.1f} % of database time<br>%{y}<extra></extra>",
        )
    )
    fig.update_layout(
        title="share of the database time, per statement",
        xaxis_title="%",
        template="plotly_white",
        height=120 + 28 * len(top),
        margin={"l": 420, "r": 20, "t": 50, "b": 40},
    )
    div: str = pio.to_html(
        fig, include_plotlyjs=False, full_html=False, config={"displaylogo": False}
    )
    return div


def _time_goes_html(data: ReportData, scale: str, record: RunRecord) -> str:
    parts = [
        f"<h2>Where the time goes: {html.escape(scale)} "
        f"({html.escape(record.workload or 'workload')})</h2>",
        f"<p class='muted'>{html.escape(_split_line(record))}</p>",
        f"<div class='chart'>{_share_chart(record)}</div>",
        _html_table(*_statement_rows(record)),
    ]
    for e in record.profile[:TOP_STATEMENTS]:
        plan = e.get("plan") or {}
        if "shape" not in plan:
            continue
        body = "\n".join(shape_text(plan["shape"]))
        full = json.dumps(plan.get("plan", {}), indent=1)
        parts.append(
            f"<details><summary>plan of <code>{html.escape(shorten(str(e['statement']), 100))}"
            f"</code></summary><pre>{html.escape(body)}</pre>"
            f"<details><summary>EXPLAIN (ANALYZE, BUFFERS) JSON</summary>"
            f"<pre>{html.escape(full)}</pre></details></details>"
        )
    for change in _plan_changes(data, scale):
        rows = "".join(
            f"<tr><td><pre>{html.escape(b)}</pre></td><td><pre>{html.escape(a)}</pre></td></tr>"
            for b, a in _side_by_side(change)
        )
        parts.append(
            f"<p class='regression'>plan changed: {html.escape('; '.join(change.scan_changes()))}"
            f"</p><table class='plan-change'><thead><tr><th>before</th><th>after</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# writing


def report_paths(output: Path, formats: Sequence[Format]) -> dict[Format, Path]:
    """Where each format goes: ``output`` itself when it names a file of the only format
    (``report.html``), else ``report.md`` / ``report.html`` inside the folder ``output``."""
    suffix = output.suffix.lower()
    if suffix in {".md", ".html", ".htm"}:
        named: Format = "md" if suffix == ".md" else "html"
        if tuple(formats) != (named,):
            wanted = " and ".join(formats)
            raise ReportFlagError(
                "--output",
                f"{clipped(str(output))} names a {suffix} file, but the report is {wanted}",
                value=clipped(str(output)),
                hint="name a folder (report.md and report.html go inside it), "
                f"or pass --format {named}",
            )
        return {named: output}
    return {fmt: output / FILE_NAMES[fmt] for fmt in formats}


def write_report(data: ReportData, *, output: Path, formats: Sequence[Format]) -> list[Path]:
    """Render ``formats`` and write them under ``output`` (see :func:`report_paths`)."""
    written: list[Path] = []
    for fmt, path in report_paths(output, formats).items():
        text = render_markdown(data) if fmt == "md" else render_html(data)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ReportError(
                f"cannot write the report to {path}: {exc.strerror or exc}",
                hint="choose another --output",
            ) from None
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# the `perfkit report` and `perfkit compare` front ends


@dataclass(frozen=True)
class ReportOutcome:
    """What ``perfkit report`` produced: Markdown to print, and/or the files written."""

    markdown: str | None
    written: tuple[Path, ...]
    data: ReportData


def parse_formats(fmt: str) -> tuple[Format, ...]:
    """``md``, ``html`` or ``both``."""
    try:
        return FORMATS[fmt]
    except (KeyError, TypeError):
        raise ReportFlagError(
            "--format",
            f"unknown report format {quoted(fmt)}",
            value=clipped(str(fmt)),
            hint="use --format md, html or both",
        ) from None


def split_scales(text: str | None) -> tuple[str, ...]:
    """``"small,medium"`` (or spaces) -> ``("small", "medium")``."""
    return tuple(name for name in (text or "").replace(",", " ").split() if name)


def report_command(
    cfg: Config,
    *,
    fmt: str = "md",
    output: str | Path | None = None,
    scales: Sequence[str] = (),
    last: int = 20,
    baseline: str | None = None,
) -> ReportOutcome:
    """What ``perfkit report`` does: read the history, compare each scale's newest run with
    ``baseline`` (default ``regression.baseline``), and render.

    Markdown alone with no ``output`` is returned for printing on stdout; otherwise the
    files go to ``output`` (default ``<results dir>/report/``)."""
    formats = parse_formats(fmt)
    for name in scales:
        cfg.scale(name)
    history = history_for(cfg)
    comparisons = compare_history(
        history,
        baseline=baseline or cfg.regression.baseline,
        rules=rules_from_config(cfg.regression),
        scales=scales or history.scales(cfg.scale_names),  # every scale's newest run
        repo=cfg.root,
    )
    data = build_report(
        history, scale_order=cfg.scale_names, scales=scales, last=last, comparisons=comparisons
    )
    if output is None and formats == ("md",):
        return ReportOutcome(markdown=render_markdown(data), written=(), data=data)
    target = Path(output) if output is not None else cfg.results_dir / "report"
    written = write_report(data, output=target, formats=formats)
    return ReportOutcome(markdown=None, written=tuple(written), data=data)
