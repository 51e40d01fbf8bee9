"""What a report shows, gathered once and laid out as text: the templates' view model.

:func:`build_report` reads the history into :class:`ReportData`; :func:`report_view` turns it
into a :class:`ReportView`, sections of plain text (rows, lines, sentences) in the order a
reader needs them:

1. **the verdict**, per scale (and workload, where a scale has several): one headline
   (:meth:`perfkit.compare.Comparison.headline`: ``medium: REGRESSED ×8.1 batch time; N+1
   in `SELECT …` (1 → 100 calls)``, ``small: passed``), the budgets its newest run exceeded
   (``statements 11 > 1 (budget from ...)``), then every line ``perfkit compare`` prints:
   each metric that moved, each statement change (N+1, new, vanished, buffers, rows, plan);
2. the measurement table, newest run per scale; HTTP load runs' percentiles and throughput;
3. each comparison's table;
4. where the time goes (the statement profile, plans, changed plan shapes side by side) and
   each statement's trend across runs (calls, total time, buffers);
5. steps in the history (:mod:`perfkit.changepoints`) with their commit ranges;
6. every budget of the newest runs, with its source, and the history per scale.

Nothing here is Markdown or HTML: the templates (``perfkit/templates``) escape every text
as their format needs. Over 500 lines: one report's sections share their row builders so
that the Markdown, the HTML and the pull-request comment cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from perfkit.budget import BudgetCheck, record_checks
from perfkit.changepoints import Step, history_steps
from perfkit.compare import COMPARED, METRICS, Comparison
from perfkit.errors import BadFlagError, PerfkitError
from perfkit.history import History, metric_value, timestamp_of
from perfkit.profile import entry_buffers, shape_text, shorten
from perfkit.results import RunRecord
from perfkit.statement_changes import PlanChange
from perfkit.text import human_seconds

#: Statements shown per workload in "where the time goes".
TOP_STATEMENTS = 10
#: Statements whose trend across runs is shown per workload.
TREND_STATEMENTS = 5
#: Runs per (workload, scale) the change-point search reads (the newest ones).
STEP_RUNS = 200
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
#: The run-record budget that applies to a metric (shown next to it and drawn in its chart).
BUDGET_OF = {
    "batch_seconds": "batch",
    "prepare_seconds": "prepare",
    "restore_seconds": "restore",
    "statements": "statements",
    "latency_p50_seconds": "p50",
    "latency_p95_seconds": "p95",
    "latency_p99_seconds": "p99",
}
#: A load run's columns: (metric, heading).
LOAD_COLUMNS = (
    ("latency_p50_seconds", "p50"),
    ("latency_p90_seconds", "p90"),
    ("latency_p95_seconds", "p95"),
    ("latency_p99_seconds", "p99"),
    ("latency_max_seconds", "max"),
    ("throughput", "throughput"),
    ("requests", "requests"),
    ("errors", "errors"),
)


class ReportError(PerfkitError):
    """The report cannot be made: it cannot be written where it was asked to go (exit status
    1), or a flag is bad (:class:`ReportFlagError`)."""


class ReportFlagError(BadFlagError, ReportError):
    """A bad flag of ``perfkit report`` (``--format``, ``--last``, ``--output``, ``--charts``):
    exit status 2, like every bad input."""


# --------------------------------------------------------------------------------------------
# the data


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
    #: The smallest step of each metric the history's steps list (the regression thresholds,
    #: :func:`perfkit.compare.step_sizes`); empty: :data:`perfkit.changepoints.MIN_STEP`.
    step_sizes: Mapping[str, float] = field(default_factory=dict)

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
    step_sizes: Mapping[str, float] | None = None,
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
        step_sizes=dict(step_sizes or {}),
    )


# --------------------------------------------------------------------------------------------
# text of values


def fmt(metric: str, value: float | None) -> str:
    """A metric's value with its unit (seconds as s, ms or µs), or an em dash."""
    known = METRICS.get(metric)
    if known is not None:
        return known.format(value)
    if value is None:
        return "—"
    if metric.endswith("_seconds"):
        return human_seconds(value)
    return f"{value:,.4g}"


def short_commit(record: RunRecord) -> str:
    """The commit's short hash (8 characters, as asv shows them), or an em dash."""
    return (record.commit or "—")[:8]


def when(record: RunRecord) -> str:
    return f"{timestamp_of(record):%Y-%m-%d %H:%M} UTC"


def status(record: RunRecord) -> str:
    """``pass``, or ``FAIL: `` and the run's failures (:func:`run_failures`)."""
    if record.passed:
        return "pass"
    failures = run_failures(record)
    return "FAIL" + (f": {'; '.join(failures)}" if failures else "")


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"×{value:.2f}"


def _change(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.0%} {'worse' if value > 0 else 'better'}" if value else "±0%"


def machine(record: RunRecord) -> str:
    """Where and on what data a run ran, in one line."""
    m, ds = record.machine, record.dataset
    rows = ds.get("rows")
    total = sum(v for v in rows.values() if isinstance(v, int)) if isinstance(rows, dict) else None
    data = f"{ds.get('mode', '?')} data" + (f", {total:,} rows" if total else "")
    data += f", seed {ds.get('seed', '?')}, generator v{ds.get('generator_version', '?')}"
    return (
        f"{data}; {m.get('hostname', '?')}, {m.get('cpus', '?')} CPUs, "
        f"Python {m.get('python', '?')}, PostgreSQL {record.server_version} ({record.backend})"
    )


def checks_of(record: RunRecord) -> list[BudgetCheck]:
    """The record's budgets as checks (true inequalities, each with its source)."""
    medians = {name: v for name in record.samples if (v := metric_value(record, name)) is not None}
    return record_checks(record.metrics, record.budgets, record.budget_sources, medians=medians)


def _budget_suffix(record: RunRecord | None, metric: str) -> str:
    key = BUDGET_OF.get(metric)
    if record is None or key is None or key not in record.budgets:
        return ""
    return " / " + fmt(metric, record.budgets[key])


def workloads_of(records: Iterable[RunRecord]) -> list[str | None]:
    """The workloads of ``records``, in the order they first appear."""
    return list(dict.fromkeys(r.workload for r in records))


def is_load(record: RunRecord) -> bool:
    """An HTTP workload's load run (percentiles, no batch time)."""
    return "latency_p50_seconds" in record.metrics


# --------------------------------------------------------------------------------------------
# the view model

LineKind = Literal["fail", "note"]


@dataclass(frozen=True)
class Line:
    """One line under a verdict: a failure (``fail``) or something to know (``note``). Its
    text is one of perfkit's sentences: statements in backticks."""

    text: str
    kind: LineKind


@dataclass(frozen=True)
class Verdict:
    """One scale's (or workload's) verdict: the headline and the lines under it."""

    headline: str
    #: ``passed``, ``failed`` (a regression or a budget) or ``none`` (nothing to compare).
    state: Literal["passed", "failed", "none"]
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class Table:
    """A table as text: a header and rows; ``code`` the columns that hold SQL."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    code: tuple[int, ...] = ()
    #: The column whose first word is the row's verdict (HTML colours it), or -1.
    verdict: int = -1


@dataclass(frozen=True)
class ComparisonView:
    summary: str
    ok: bool
    note: str | None
    table: Table | None


@dataclass(frozen=True)
class PlanView:
    """A statement's plan, collapsed in the HTML."""

    statement: str
    shape: str
    full: str


@dataclass(frozen=True)
class PlanChangeView:
    line: str
    side_by_side: Table


@dataclass(frozen=True)
class ProfileView:
    """Where the time goes in one workload's newest run."""

    title: str
    split: str
    table: Table
    shares: tuple[float, ...]
    plans: tuple[PlanView, ...]
    changes: tuple[PlanChangeView, ...]
    trend: Table | None


@dataclass(frozen=True)
class LoadView:
    title: str
    table: Table


@dataclass(frozen=True)
class ReportView:
    """Every section's text, in reading order."""

    intro: str
    empty: bool
    verdicts: tuple[Verdict, ...]
    measurements: Table | None
    machines: tuple[tuple[str, str, int], ...]
    loads: tuple[LoadView, ...]
    comparisons: tuple[ComparisonView, ...]
    profiles: tuple[ProfileView, ...]
    steps: tuple[str, ...]
    budgets: tuple[tuple[str, tuple[str, ...]], ...]
    histories: tuple[tuple[str, Table], ...]

    @property
    def failed(self) -> bool:
        return any(v.state == "failed" for v in self.verdicts)


def report_view(data: ReportData) -> ReportView:
    """The view of ``data`` (see the module docstring for the sections)."""
    total = sum(s.runs for s in data.summaries)
    source = str(data.history.source or "memory")
    intro = (
        f"Generated {data.generated:%Y-%m-%d %H:%M} UTC from {total} run record"
        f"{'s' if total != 1 else ''} in `{source}`; scales: {', '.join(data.scales) or 'none'}."
    )
    if not data.summaries:
        return ReportView(intro, True, (), None, (), (), (), (), (), (), ())
    return ReportView(
        intro=intro,
        empty=False,
        verdicts=tuple(verdicts(data)),
        measurements=measurement_table(data),
        machines=tuple((s.scale, machine(s.latest), s.runs) for s in data.summaries),
        loads=tuple(load_views(data)),
        comparisons=tuple(comparison_view(c) for c in data.comparisons),
        profiles=tuple(profile_views(data)),
        steps=tuple(s.sentence() for s in steps_of(data)),
        budgets=tuple(budget_lines(data)),
        histories=tuple((s.scale, history_table(data, s.scale)) for s in data.summaries),
    )


# -- the verdict ------------------------------------------------------------------------------


def verdicts(data: ReportData) -> list[Verdict]:
    """Per scale, each compared workload's verdict (a scale that was not compared says so)."""
    out: list[Verdict] = []
    for s in data.summaries:
        compared = [c for c in data.comparisons if c.scale == s.scale]
        if not compared:
            out.append(Verdict(f"{s.scale}: not compared", "none", tuple(_run_lines(s.latest))))
            continue
        several = len({c.candidate.workload for c in compared}) > 1
        out += [comparison_verdict(c, workload=several) for c in compared]
    return out


def comparison_verdict(c: Comparison, *, workload: bool = False) -> Verdict:
    """One comparison's verdict: the headline (with the budgets its run exceeded), then the
    run's failures, each metric that moved and each statement change."""
    headline = c.headline(workload=workload)
    over = [check for check in checks_of(c.candidate) if not check.ok]
    failed_run = [] if c.candidate.passed else run_failures(c.candidate)
    trouble = (
        f"over budget: {', '.join(check.name for check in over)}"
        if over
        else "the run failed" if failed_run else ""
    )  # fmt: skip
    if trouble:
        headline = (
            headline.split(": passed")[0] + f": FAILED, {trouble}"
            if c.ok and c.has_baseline
            else f"{headline}; {trouble}"
        )
    lines = _run_lines(c.candidate)
    lines += [
        Line(m.sentence(), "fail" if m.fails else "note")
        for m in c.metrics
        if m.verdict not in ("unchanged", "no baseline")
    ]
    lines += [Line(f.describe(), "fail" if f.fails else "note") for f in c.statement_findings]
    if not c.has_baseline:
        lines.append(Line(c.summary(), "note"))
    state: Literal["passed", "failed", "none"] = (
        "failed" if trouble or not c.ok else "passed" if c.has_baseline else "none"
    )
    return Verdict(headline, state, tuple(lines))


def _run_lines(record: RunRecord) -> list[Line]:
    return [Line(text, "fail") for text in run_failures(record)]


def run_failures(record: RunRecord) -> list[str]:
    """The run's failures as a report says them: each budget exceeded read again from the
    record (a true inequality with its source, whatever an older perfkit wrote), then its
    other problems."""
    lines = [check.describe() for check in checks_of(record) if not check.ok]
    for failure in record.failures:
        first = failure.split(" ", 1)[0]
        if first not in record.budgets and not failure.startswith(("prepare (", "restore (")):
            lines.append(failure)
    return lines


# -- tables ------------------------------------------------------------------------------------


def measurement_table(data: ReportData) -> Table:
    """The plan's table: per scale, the newest value of each metric (dated when it comes
    from an older run), with its budget."""
    header = ["scale", "offices", *(METRICS[m].label for m in TABLE_METRICS)]
    header += ["e-mails", "within budgets", "newest run"]
    rows = []
    for s in data.summaries:
        offices = s.latest.metrics.get("offices")
        row = [s.scale, "—" if offices is None else f"{offices:,.0f}"]
        for name in TABLE_METRICS:
            cell = s.cell(name)
            text = fmt(name, cell.value) + _budget_suffix(cell.record, name)
            if cell.record is not None and cell.record is not s.latest:
                text += f" ({timestamp_of(cell.record):%Y-%m-%d})"
            row.append(text)
        emails = s.latest.metrics.get("emails")
        row += [
            "—" if emails is None else f"{emails:,.0f}",
            status(s.latest),
            f"{when(s.latest)}, {short_commit(s.latest)}",
        ]
        rows.append(tuple(row))
    return Table(tuple(header), tuple(rows))


def comparison_rows(c: Comparison) -> tuple[list[str], list[list[str]]]:
    """One scale's comparison as a header and rows of text (the reports and the terminal
    table of :func:`perfkit.views.comparison_table` draw them)."""
    header = ["metric", "baseline", "new", "ratio", "change", "verdict"]
    rows = []
    for m in c.metrics:
        verdict = m.verdict + ("" if m.rule.gate or m.verdict != "regression" else " (not gated)")
        rows.append(
            [
                m.metric.label,
                m.value_text(m.baseline),
                m.value_text(m.new),
                _ratio(m.ratio),
                _change(m.worse_by),
                verdict,
            ]
        )
    return header, rows


def comparison_view(c: Comparison) -> ComparisonView:
    header, rows = comparison_rows(c)
    table = Table(tuple(header), tuple(tuple(r) for r in rows), verdict=5) if rows else None
    workload = f" ({c.candidate.workload})" if c.candidate.workload else ""
    return ComparisonView(c.summary().replace(":", workload + ":", 1), c.ok, c.note, table)


def load_views(data: ReportData) -> list[LoadView]:
    """Per scale and HTTP workload, its last runs' percentiles and throughput, newest first."""
    out = []
    for scale in data.scales:
        loads = [r for r in data.runs(scale) if is_load(r)]
        for workload in workloads_of(loads):
            runs = [r for r in loads if r.workload == workload][-5:]
            header = ["run", "load", *(label for _, label in LOAD_COLUMNS)]
            rows = []
            for r in reversed(runs):
                m = r.metrics
                users = f"{m['users']:g} users" if "users" in m else f"{m.get('rate', 0):g}/s"
                cells = []
                for name, _label in LOAD_COLUMNS:
                    value = m.get(name)
                    text = fmt(name, value) if name.endswith("_seconds") else (
                        "—" if value is None else f"{value:,.4g}"
                    )  # fmt: skip
                    key = name.removeprefix("latency_").removesuffix("_seconds")
                    if key in r.budgets:
                        text += " / " + fmt(name, r.budgets[key])
                    cells.append(text + ("/s" if name == "throughput" and value else ""))
                rows.append((f"{short_commit(r)} {when(r)}", users, *cells))
            out.append(LoadView(f"{scale} · {workload}", Table(tuple(header), tuple(rows))))
    return out


# -- where the time goes -----------------------------------------------------------------------


def split_line(record: RunRecord) -> str:
    """``database 12.0 ms (45 %), application 14.7 ms (55 %)`` of the profiled run."""
    m = record.metrics
    if "db_seconds" not in m:
        return "Statements of one profiled, untimed run after the timed repeats."
    share = float(m.get("db_share", 0.0))
    return (
        f"One profiled, untimed run: database {human_seconds(m['db_seconds'])} ({share:.0%}), "
        f"application {human_seconds(m.get('app_seconds', 0.0))} ({1 - share:.0%})."
    )


def _buffers_text(entry: dict[str, Any]) -> str:
    found = entry_buffers(entry)
    if found is None:
        return "—"
    total, source = found
    return f"{total:,}" + (" (1 call, EXPLAIN)" if source == "explain" else "")


def statement_table(record: RunRecord) -> tuple[Table, tuple[float, ...]]:
    """The newest run's top statements, and each one's share of the database time."""
    header = ("share", "calls", "total", "mean", "rows", "buffers", "statement", "slowest node")
    total = sum(float(e.get("total_ms", 0.0)) for e in record.profile) or 1.0
    rows, shares = [], []
    for e in record.profile[:TOP_STATEMENTS]:
        plan = e.get("plan") or {}
        slowest = (
            f"{plan['slowest_node']} ({human_seconds(plan['slowest_node_ms'] / 1000)})"
            if "slowest_node" in plan
            else shorten(str(plan.get("error", "")), 80)  # "plan not taken: ..." and the like
        )
        share = float(e["total_ms"]) / total
        shares.append(share)
        rows.append(
            (
                f"{share:.0%}",
                f"{e['calls']:,}",
                human_seconds(float(e["total_ms"]) / 1000),
                human_seconds(float(e["mean_ms"]) / 1000),
                f"{e.get('rows', 0):,}",
                _buffers_text(e),
                shorten(str(e["statement"]), 120),
                slowest,
            )
        )
    return Table(header, tuple(rows), code=(6,)), tuple(shares)


def side_by_side(change: PlanChange) -> Table:
    before, after = shape_text(change.before), shape_text(change.after)
    width = max(len(before), len(after))
    before += [""] * (width - len(before))
    after += [""] * (width - len(after))
    return Table(("before", "after"), tuple(zip(before, after, strict=True)), code=(0, 1))


def workload_runs(data: ReportData, scale: str, workload: str | None) -> list[RunRecord]:
    return [r for r in data.runs(scale) if r.workload == workload]


def trend_statements(record: RunRecord) -> list[dict[str, Any]]:
    """The statements whose trend is shown: the newest run's most expensive ones."""
    return list(record.profile[:TREND_STATEMENTS])


def statement_trend(runs: Sequence[RunRecord], newest: RunRecord) -> Table | None:
    """Each top statement of ``newest`` across ``runs``: calls, total time and buffers of the
    first run that profiled it and of the newest (the HTML draws every run)."""
    profiled = [r for r in runs if r.profile]
    if len(profiled) < 2:
        return None
    rows = []
    for e in trend_statements(newest):
        seen = [(r, s) for r in profiled if (s := r.statement(str(e["fingerprint"]))) is not None]
        first_run, first = seen[0]
        buffers = [b[0] for _, s in seen if (b := entry_buffers(s)) is not None]
        rows.append(
            (
                shorten(str(e["statement"]), 90),
                f"{len(seen)} of {len(profiled)}",
                f"{first['calls']:,} → {e['calls']:,}",
                f"{human_seconds(float(first['total_ms']) / 1000)} → "
                f"{human_seconds(float(e['total_ms']) / 1000)}",
                f"{buffers[0]:,} → {buffers[-1]:,}" if len(buffers) >= 1 else "—",
                short_commit(first_run),
            )
        )
    header = ("statement", "runs", "calls", "total", "buffers", "first run")
    return Table(header, tuple(rows), code=(0,))


def profile_views(data: ReportData) -> list[ProfileView]:
    """Per scale and workload, the newest profiled run's statements, plans and trends."""
    out = []
    for scale in data.scales:
        runs = data.runs(scale)
        for workload in workloads_of(runs):
            own = [r for r in runs if r.workload == workload]
            newest = next((r for r in reversed(own) if r.profile), None)
            if newest is None:
                continue
            table, shares = statement_table(newest)
            plans = []
            for e in newest.profile[:TOP_STATEMENTS]:
                plan = e.get("plan") or {}
                if "shape" in plan:
                    plans.append(
                        PlanView(
                            shorten(str(e["statement"]), 100),
                            "\n".join(shape_text(plan["shape"])),
                            json.dumps(plan.get("plan", {}), indent=1),
                        )
                    )
            changes = [
                PlanChangeView("; ".join(p.scan_changes()), side_by_side(p))
                for c in data.comparisons
                if c.scale == scale and c.candidate.workload == workload
                for p in c.plan_changes
            ]
            out.append(
                ProfileView(
                    title=f"{scale} ({workload or 'workload'})",
                    split=split_line(newest),
                    table=table,
                    shares=shares,
                    plans=tuple(plans),
                    changes=tuple(changes),
                    trend=statement_trend(own, newest),
                )
            )
    return out


# -- steps, budgets, history -------------------------------------------------------------------


def steps_of(data: ReportData) -> list[Step]:
    """The steps of every compared metric in the reported scales' history (the newest
    :data:`STEP_RUNS` runs of each workload)."""
    newest: dict[tuple[str | None, str], list[RunRecord]] = {}
    for record in data.history:
        if record.scale in data.scales:
            newest.setdefault((record.workload, record.scale), []).append(record)
    records = [r for runs in newest.values() for r in runs[-STEP_RUNS:]]
    return history_steps(
        records, metrics=tuple(COMPARED), scales=data.scales, min_step=data.step_sizes
    )


def budget_lines(data: ReportData) -> list[tuple[str, tuple[str, ...]]]:
    """Per scale and workload, its newest run's budgets as true inequalities with sources."""
    out = []
    for scale in data.scales:
        runs = data.runs(scale)
        for workload in workloads_of(runs):
            newest = [r for r in runs if r.workload == workload][-1]
            lines = tuple(check.describe() for check in checks_of(newest))
            if lines:
                out.append((f"{scale} · {workload} ({short_commit(newest)})", lines))
    return out


def history_table(data: ReportData, scale: str) -> Table:
    """The last N runs of ``scale``, newest first."""
    header = (
        "when", "commit", "run", "workload", "time (median)", "fastest–slowest",
        "statements", "peak memory", "within budgets",
    )  # fmt: skip
    rows = []
    for r in reversed(data.runs(scale)):
        samples = r.samples.get("batch_seconds") or []
        spread = (
            f"{human_seconds(min(samples))}–{human_seconds(max(samples))} ({len(samples)})"
            if samples
            else "—"
        )
        time = metric_value(r, "batch_seconds")
        shown = fmt("batch_seconds", time)
        if time is None and is_load(r):
            shown = "p50 " + fmt("latency_p50_seconds", r.metrics["latency_p50_seconds"])
        rows.append(
            (
                when(r),
                short_commit(r),
                r.run_id,
                r.workload or "—",
                shown,
                spread,
                fmt("statements", metric_value(r, "statements")),
                fmt("peak_memory_mb", metric_value(r, "peak_memory_mb")),
                status(r),
            )
        )
    return Table(header, tuple(rows))
