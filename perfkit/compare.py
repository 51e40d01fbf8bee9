"""Regression detection: compare a run with a baseline, metric by metric.

The **candidate** is a scale's newest run (or the run named by ``run_id``). The **baseline**
is one of (``--baseline``, else ``regression.baseline`` in scales.yaml):

``median:N``
    the median, metric by metric, of the last N earlier runs of the same scale and dataset;
``git:REF``
    the runs recorded at the commit ``REF`` resolves to (a branch, tag or hash; the median
    when there are several), same scale and dataset;
``run:ID`` (or a bare ``ID``)
    that stored run's record for the scale (a unique prefix of the id is enough).

A **timing** (batch time, data-ready and restore time, seeding speed) is judged by the
statistical gate (:mod:`perfkit.gate`): the candidate's timed samples against the pooled
samples of the baseline runs (a Mann-Whitney U test, a bootstrap confidence interval of the
ratio of medians, the configured threshold, and a noise floor derived from the clock's
resolution and the history's own run-to-run spread, never a constant in seconds); a timing
measured once per run against the earlier runs' spread (an HTTP workload's p50, p95 and p99
latency: each run's percentile is one value). **Counts** (SQL statements) are exact:
worse by more than the threshold is a regression. Peak memory keeps an absolute floor in MB.
Direction is per metric: lower is better for seconds, statements and memory, higher for rows
per second. The thresholds come from the ``regression:`` section of scales.yaml (built-in
defaults in :data:`METRICS`); ``threshold=`` (``perfkit compare --threshold``) replaces every
metric's threshold for one comparison. A ``noise_floor`` set on a timing in scales.yaml (the
old absolute floor) is ignored, and :func:`deprecated_settings` says so.

A scale with no earlier comparable run has **no baseline yet**: that is reported, and is not
a failure. :func:`check` raises :class:`RegressionError` (exit status 6) when a gated metric
regressed.

Beside the metrics, the runs' statement profiles (:mod:`perfkit.profile`) are compared
fingerprint by fingerprint: a statement whose calls multiplied (at least
:data:`GROWTH_FACTOR` times, and :data:`GROWTH_MIN_CALLS` more calls) fails the gate, named
with its text ("N+1: ``SELECT … WHERE office_id = ?`` went 1 → 100 calls"); a new or vanished
statement is listed. A statement whose plan shape changed is listed with the scans that
changed ("support_plan_cycles: Index Scan using ix → Seq Scan"); it fails the gate only with
``regression.plan_change: fail`` in scales.yaml (default ``warn``). The statements'
**deterministic figures** are compared too (:func:`figure_changes`): shared buffers (hit +
read) that more than doubled and grew by 100 blocks or more fail the gate, named with the
statement ("buffers of ``SELECT … FROM support_plan_cycles …`` went 120 → 9,400 (×78.3)"),
whatever the time did (``regression.buffers``: ``threshold``, ``min_blocks``, ``gate``); a
changed number of rows returned is listed, and fails with ``regression.rows.gate: true``.

:meth:`Comparison.headline` is the verdict a report leads with: ``medium: REGRESSED ×8.1
batch time; N+1 in `SELECT …` (1 → 100 calls)``, or ``small: passed``.

Over 500 lines: the regression gate's rules (baselines, thresholds, per-metric overrides) and
their verdicts (fields and one sentence each, the headline), kept together because each rule
explains itself; the statistics live in :mod:`perfkit.gate`, the statement checks in
:mod:`perfkit.statement_changes`.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from perfkit.changepoints import Step, history_steps
from perfkit.config import Config, RegressionConfig
from perfkit.errors import PerfkitError
from perfkit.gate import ALPHA, Evidence, compare_samples, compare_values
from perfkit.history import (
    History,
    HistoryError,
    dataset_key,
    history_for,
    metric_value,
    resolve_git_ref,
    same_work,
)
from perfkit.results import RunRecord
from perfkit.statement_changes import (
    FigureChange,
    FigureRules,
    PlanChange,
    StatementChange,
    figure_changes,
    figure_rules_from_config,
    plan_changes,
    statement_changes,
)
from perfkit.text import human_seconds, quoted

Direction = Literal["lower", "higher"]
Verdict = Literal["regression", "improvement", "unchanged", "within noise", "no baseline"]


@dataclass(frozen=True)
class Metric:
    """A metric of the run record: how to show it and which direction is better."""

    name: str
    label: str
    unit: str
    direction: Direction
    #: Built-in noise floor (absolute, in ``unit``) of a metric that is not a timing;
    #: scales.yaml may override it.
    noise_floor: float = 0.0
    #: Read from a clock (seconds, or rows per second): judged by the statistical gate
    #: (:mod:`perfkit.gate`), whose noise floor is derived, not configured.
    timing: bool = False
    #: Built-in: whether a regression in it fails the gate.
    gate: bool = True
    #: Decimal places when shown.
    digits: int = 3
    #: Whether ``compare`` judges it at all (``seconds_per_office`` is only the batch time
    #: divided by a fixed office count: judging both would count one change twice).
    compared: bool = True

    @property
    def short_label(self) -> str:
        """The label without its qualifier: ``batch time`` for ``batch time (median)``."""
        return self.label.split(" (")[0]

    def format(self, value: float | None) -> str:
        """``value`` with its unit (seconds scaled to s, ms or µs), or an em dash when there is
        none."""
        if value is None:
            return "—"
        if self.unit == "s":
            return human_seconds(value)
        if self.digits == 0:
            return f"{value:,.0f}{' ' + self.unit if self.unit else ''}"
        return f"{value:,.{self.digits}f}{' ' + self.unit if self.unit else ''}"


#: Every gated-or-shown metric, in the order reports list them.
METRICS: Mapping[str, Metric] = {
    m.name: m
    for m in (
        Metric("batch_seconds", "batch time (median)", "s", "lower", timing=True),
        Metric(
            "seconds_per_office", "batch time per office", "s", "lower", digits=5, compared=False
        ),
        Metric("statements", "SQL statements", "", "lower", digits=0),
        Metric("peak_memory_mb", "peak memory", "MB", "lower", noise_floor=5.0, digits=1),
        Metric(
            "restore_seconds",
            "snapshot restore",
            "s",
            "lower",
            timing=True,
            gate=False,
            digits=2,
        ),
        Metric(
            "seed_rows_per_second",
            "bulk insert speed",
            "rows/s",
            "higher",
            timing=True,
            digits=0,
        ),
        Metric("prepare_seconds", "data ready", "s", "lower", timing=True, gate=False, digits=2),
        # an HTTP workload's load run (perfkit.loadrun): one value per run, judged against the
        # earlier runs' spread like the other once-per-run timings
        Metric("latency_p50_seconds", "p50 latency", "s", "lower", timing=True),
        Metric("latency_p95_seconds", "p95 latency", "s", "lower", timing=True),
        Metric("latency_p99_seconds", "p99 latency", "s", "lower", timing=True),
        Metric("throughput", "throughput", "it/s", "higher", timing=True, gate=False, digits=1),
    )
}

#: The metrics ``compare`` judges (scales.yaml's ``regression.metrics`` may name these).
COMPARED: Mapping[str, Metric] = {n: m for n, m in METRICS.items() if m.compared}


class BaselineSpecError(PerfkitError):
    """``--baseline`` (or ``regression.baseline``) is not ``median:N``, ``git:REF`` or a run."""

    exit_code = 2

    def __init__(self, spec: str) -> None:
        super().__init__(
            f"not a baseline: {quoted(spec)}",
            hint="use median:N (last N runs), git:REF (a branch, tag or commit) or run:ID",
        )
        self.spec = spec


class RegressionError(PerfkitError):
    """At least one gated metric regressed past its threshold and noise floor."""

    exit_code = 6

    def __init__(self, comparisons: Sequence[Comparison]) -> None:
        worst = [c for c in comparisons if not c.ok]
        parts = [f"{c.scale}: " + ", ".join(c.failures) for c in worst]
        super().__init__(
            "performance regression: " + "; ".join(parts),
            hint="see the table above; if the slowdown is intended, compare against a newer "
            "baseline (--baseline run:ID) or raise regression.metrics.<metric>.threshold "
            "in scales.yaml",
        )
        self.comparisons = tuple(comparisons)


@dataclass(frozen=True)
class Rule:
    """The regression rule in force for one metric (``noise_floor``: the absolute floor of a
    metric that is not a timing; a timing's floor is derived by :mod:`perfkit.gate`)."""

    threshold: float
    noise_floor: float
    gate: bool


class ThresholdError(PerfkitError):
    """``--threshold`` is not a fraction >= 0."""

    exit_code = 2

    def __init__(self, given: object) -> None:
        super().__init__(
            f"--threshold must be a fraction >= 0, got {quoted(given)}",
            hint="0.2 means 20 % worse than the baseline",
        )


def parse_threshold(text: str | float | None) -> float | None:
    """``--threshold`` as a float (``None`` stays ``None``: use scales.yaml's)."""
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ThresholdError(text) from None
    if value < 0 or not math.isfinite(value):
        raise ThresholdError(text)
    return value


#: The threshold of a timing compared with earlier runs, unless scales.yaml sets the metric's
#: own (1.0: twice as slow). Runs of unchanged code on a shared 2-core machine swung by up to
#: ×1.84 between one run and the next (docs/regression-and-report.md), so a lower one fails
#: builds for the machine's sake. An A/B job (:mod:`perfkit.ab`), whose pairs share the
#: machine's state, uses ``regression.threshold`` instead.
TIMING_THRESHOLD = 1.0


def rules_from_config(reg: RegressionConfig, *, threshold: float | None = None) -> dict[str, Rule]:
    """Each metric's rule: built-in defaults (a timing's threshold :data:`TIMING_THRESHOLD`,
    any other metric's ``regression.threshold``), then the metric's own keys in scales.yaml,
    then ``threshold`` for all."""
    if threshold is not None and (threshold < 0 or not math.isfinite(threshold)):
        raise ThresholdError(threshold)
    rules: dict[str, Rule] = {}
    for name, metric in COMPARED.items():
        given = reg.metrics.get(name)
        default = TIMING_THRESHOLD if metric.timing else reg.threshold
        t = given.threshold if given and given.threshold is not None else default
        floor = given.noise_floor if given and given.noise_floor is not None else None
        gate = given.gate if given and given.gate is not None else metric.gate
        rules[name] = Rule(
            threshold=threshold if threshold is not None else t,
            noise_floor=metric.noise_floor if floor is None or metric.timing else floor,
            gate=gate,
        )
    return rules


def deprecated_settings(reg: RegressionConfig) -> list[str]:
    """One line per scales.yaml setting that is accepted but no longer used: an absolute
    ``noise_floor`` on a timing (the gate derives a timing's floor from the clock and the
    history's spread)."""
    return [
        f"regression.metrics.{name}.noise_floor in scales.yaml is no longer used: a timing's "
        "noise floor is derived from the clock's resolution and the runs' own spread "
        "(docs/regression-and-report.md); remove it"
        for name, rule in reg.metrics.items()
        if rule.noise_floor is not None and name in COMPARED and COMPARED[name].timing
    ]


# --------------------------------------------------------------------------------------------
# baselines

BaselineKind = Literal["median", "git", "run"]


@dataclass(frozen=True)
class BaselineSpec:
    """A parsed ``--baseline``: its kind and argument."""

    kind: BaselineKind
    value: str

    @property
    def runs(self) -> int:
        """N of ``median:N``."""
        return int(self.value) if self.kind == "median" else 1

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_baseline(spec: str) -> BaselineSpec:
    """``median:5`` / ``git:main`` / ``run:20260209T...`` / a bare run id, parsed."""
    spec = spec.strip()
    m = re.fullmatch(r"median:([0-9]+)", spec)
    if m:
        if int(m.group(1)) < 1:
            raise BaselineSpecError(spec)
        return BaselineSpec("median", str(int(m.group(1))))
    for kind in ("git", "run"):
        prefix = kind + ":"
        if spec.startswith(prefix) and spec[len(prefix) :].strip():
            return BaselineSpec(kind, spec[len(prefix) :].strip())
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", spec) and ":" not in spec:
        return BaselineSpec("run", spec)
    raise BaselineSpecError(spec)


@dataclass(frozen=True)
class Baseline:
    """The runs a candidate is compared with, and the per-metric medians over them."""

    spec: BaselineSpec
    records: tuple[RunRecord, ...]
    #: Why there are no records, when there are none.
    missing_reason: str | None = None
    #: For ``git:``, the commit the ref resolved to.
    commit: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.records)

    def value(self, metric: str) -> float | None:
        """The median over the baseline runs that measured ``metric``."""
        values = [v for r in self.records if (v := metric_value(r, metric)) is not None]
        return float(statistics.median(values)) if values else None

    def describe(self) -> str:
        """One phrase: what this baseline is, for tables and messages."""
        n = len(self.records)
        if self.spec.kind == "median":
            asked = self.spec.runs
            of = f"{n} earlier run{'s' if n != 1 else ''}"
            return f"median of the last {of}" + (f" (asked for {asked})" if n < asked else "")
        if self.spec.kind == "git":
            short = (self.commit or "")[:10]
            runs = f"{n} run{'s' if n != 1 else ''}"
            return f"git {self.spec.value} ({short}, median of {runs})"
        return f"run {self.records[0].run_id}" if self.records else f"run {self.spec.value}"


def select_baseline(
    history: History, candidate: RunRecord, spec: BaselineSpec, *, repo: Path | None = None
) -> Baseline:
    """The baseline runs for ``candidate`` under ``spec``, from ``history``.

    ``median`` and ``git`` use only earlier runs of the same scale and dataset; an explicit
    ``run`` is taken as given (a different dataset is reported by the comparison's note).
    ``repo`` is the git checkout a ``git:`` ref is resolved in.
    """
    if spec.kind == "median":
        pool = history.comparable(candidate)
        if not pool:
            return Baseline(spec, (), missing_reason=_no_earlier(history, candidate))
        return Baseline(spec, pool[-spec.runs :])
    if spec.kind == "git":
        if repo is None:
            raise HistoryError("a git: baseline needs the project's git checkout")
        commit = resolve_git_ref(spec.value, repo=repo)
        pool = tuple(
            r
            for r in history.by_commit(commit, scale=candidate.scale)
            if r is not candidate and r != candidate and same_work(r, candidate)
        )
        if not pool:
            reason = (
                f"no {candidate.scale} run with this dataset was recorded at {spec.value} "
                f"({commit[:10]})"
            )
            return Baseline(spec, (), missing_reason=reason, commit=commit)
        return Baseline(spec, pool, commit=commit)
    records = [r for r in history.run(spec.value) if r.scale == candidate.scale]
    if not records:
        return Baseline(
            spec, (), missing_reason=f"run {spec.value} did not measure scale {candidate.scale}"
        )
    return Baseline(spec, (records[-1],))


def _no_earlier(history: History, candidate: RunRecord) -> str:
    same_scale = [r for r in history.before(candidate) if r.scale == candidate.scale]
    if same_scale:
        return (
            f"no earlier {candidate.scale} run with the same workload and dataset "
            f"({len(same_scale)} earlier run(s) measured something else)"
        )
    return f"no earlier {candidate.scale} run"


# --------------------------------------------------------------------------------------------
# comparing


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one scale: baseline, new value, ratio, verdict, and the gate's evidence.

    ``baseline`` and ``new`` are medians (of a timing's pooled samples where the runs have
    them). ``evidence`` holds the statistical gate's numbers for a timing (interval,
    p-value, effect size, noise floor), ``None`` for an exact count. :meth:`sentence` says it
    in one line; :meth:`to_dict` gives every field, for reports and ``--json``.
    """

    metric: Metric
    rule: Rule
    baseline: float | None
    new: float | None
    verdict: Verdict
    evidence: Evidence | None = None
    scale: str = ""

    @property
    def ratio(self) -> float | None:
        """new / baseline (``None`` when either is missing or the baseline is 0); for a
        timing, the gate's ratio (of medians, or the pairs' median ratio in an A/B job)."""
        if self.evidence is not None and self.evidence.ratio is not None:
            return self.evidence.ratio
        if self.baseline is None or self.new is None or self.baseline == 0:
            return None
        return self.new / self.baseline

    @property
    def worse_by(self) -> float | None:
        """How much worse, as a fraction of the baseline (negative: better)."""
        return _worse_by(self.metric, self.baseline, self.new)

    @property
    def fails(self) -> bool:
        """A regression in a gated metric."""
        return self.verdict == "regression" and self.rule.gate

    @property
    def reason(self) -> str:
        """Why the verdict, in a few words."""
        if self.evidence is not None:
            return self.evidence.reason
        if self.baseline is None or self.new is None:
            return "nothing to compare with"
        change = self.worse_by or 0.0
        way = "no change" if change == 0 else "worse" if change > 0 else "better"
        exact = (
            "exact count"
            if self.rule.noise_floor == 0
            else (f"noise floor {self.metric.format(self.rule.noise_floor)}")
        )
        size = "" if change == 0 else f"{abs(change):.0%} "
        return f"{size}{way}; threshold {self.rule.threshold:.0%}, {exact}".replace("%", " %")

    def value_text(self, value: float | None) -> str:
        """``value`` in the metric's unit, seconds scaled to ms or µs."""
        if value is not None and self.metric.unit == "s":
            return human_seconds(value)
        return self.metric.format(value)

    def short(self) -> str:
        """``batch_seconds 31.0 ms -> 236 ms (x7.61)``."""
        ratio = f" (x{self.ratio:.2f})" if self.ratio is not None else ""
        return (
            f"{self.metric.name} {self.value_text(self.baseline)} -> "
            f"{self.value_text(self.new)}{ratio}"
        )

    def sentence(self) -> str:
        """One line a person reads first, e.g. ``small: batch time (median) REGRESSED ×3.02,
        4.90 ms → 14.8 ms (99 % CI ×2.81–×3.25, p < 0.001, Cliff's δ +1.00): 202 % worse:
        past the 20 % threshold ...``."""
        where = f"{self.scale}: " if self.scale else ""
        word = {"regression": "REGRESSED", "improvement": "improved"}.get(
            self.verdict, self.verdict
        )
        ratio = f" ×{self.ratio:.2f}" if self.ratio is not None else ""
        values = f"{self.value_text(self.baseline)} → {self.value_text(self.new)}"
        ev = self.evidence
        stats: list[str] = []
        if ev is not None:
            if ev.ci is not None:
                stats.append(f"{1 - ALPHA:.0%} CI ×{ev.ci[0]:.2f}–×{ev.ci[1]:.2f}".replace(
                    "%", " %"))  # fmt: skip
            if ev.p_value is not None:
                stats.append("p < 0.001" if ev.p_value < 0.001 else f"p = {ev.p_value:.3f}")
            if ev.effect is not None:
                name = "δ of the pairs" if ev.paired else "Cliff's δ"
                stats.append(f"{name} {ev.effect:+.2f}")
        detail = f" ({', '.join(stats)})" if stats else ""
        gated = "" if self.rule.gate or self.verdict != "regression" else " [not gated]"
        return f"{where}{self.metric.label} {word}{ratio}, {values}{detail}: {self.reason}{gated}"

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready data: metric, scale, decision, values, ratio, interval,
        p-value, effect, threshold, floor, reason and the one-line sentence."""
        ev = self.evidence
        return {
            "metric": self.metric.name,
            "label": self.metric.label,
            "scale": self.scale,
            "unit": self.metric.unit,
            "decision": self.verdict,
            "gated": self.rule.gate,
            "fails": self.fails,
            "baseline": self.baseline,
            "new": self.new,
            "ratio": self.ratio,
            "ci": list(ev.ci) if ev is not None and ev.ci is not None else None,
            "confidence": 1 - ALPHA if ev is not None and ev.ci is not None else None,
            "p_value": ev.p_value if ev is not None else None,
            "effect": ev.effect if ev is not None else None,
            "threshold": self.rule.threshold,
            "floor": ev.floor if ev is not None else None,
            "floor_source": ev.floor_source if ev is not None else None,
            "absolute_floor": None if ev is not None else self.rule.noise_floor,
            "method": ev.method
            if ev is not None
            else "exact"
            if self.rule.noise_floor == 0
            else "threshold and absolute floor",
            "samples": [ev.n_baseline, ev.n_candidate] if ev is not None else None,
            "reason": self.reason,
            "sentence": self.sentence(),
        }


def _worse_by(metric: Metric, baseline: float | None, new: float | None) -> float | None:
    if baseline is None or new is None:
        return None
    delta = new - baseline if metric.direction == "lower" else baseline - new
    if baseline == 0:
        return 0.0 if delta == 0 else math.copysign(math.inf, delta)
    return delta / abs(baseline)


def judge(metric: Metric, rule: Rule, *, baseline: float | None, new: float | None) -> Verdict:
    """The verdict for one metric (see the module docstring for the rule)."""
    if baseline is None or new is None:
        return "no baseline"
    delta = new - baseline if metric.direction == "lower" else baseline - new
    change = _worse_by(metric, baseline, new)
    assert change is not None
    if change > rule.threshold:
        return "regression" if delta > rule.noise_floor else "within noise"
    if change < -rule.threshold:
        return "improvement" if -delta > rule.noise_floor else "within noise"
    return "unchanged"


@dataclass(frozen=True)
class Comparison:
    """One scale's candidate run against its baseline."""

    scale: str
    candidate: RunRecord
    baseline: Baseline
    metrics: tuple[MetricComparison, ...]
    #: Something a reader should know (a different machine or dataset), or ``None``.
    note: str | None = None
    #: Statements multiplied, new or vanished since the baseline.
    statements: tuple[StatementChange, ...] = ()
    #: Statements whose plan shape changed since the baseline.
    plan_changes: tuple[PlanChange, ...] = ()
    #: Statements whose shared buffers jumped (or fell), or whose rows returned changed.
    figures: tuple[FigureChange, ...] = ()

    @property
    def has_baseline(self) -> bool:
        return self.baseline.found

    @property
    def regressions(self) -> tuple[MetricComparison, ...]:
        """Gated metrics that regressed."""
        return tuple(m for m in self.metrics if m.fails)

    @property
    def failures(self) -> list[str]:
        """Everything that fails the gate, one phrase each: metrics, multiplied statements,
        buffer jumps (and changed rows, with ``regression.rows.gate``), plan changes when
        ``regression.plan_change`` is ``fail``."""
        return [m.short() for m in self.regressions] + [
            c.describe() for c in self.statement_findings if c.fails
        ]

    @property
    def statement_findings(self) -> list[StatementChange | FigureChange | PlanChange]:
        """Every change named down to a statement, in the order they are listed: calls
        (N+1, new, vanished), buffers and rows, plan shapes."""
        return [*self.statements, *self.figures, *self.plan_changes]

    @property
    def changes(self) -> list[str]:
        """Every statement change, one line each, failing ones marked ``FAIL``, the others
        ``note``: what ``perfkit compare`` prints and the reports list under the verdict."""
        return [("FAIL " if c.fails else "note ") + c.describe() for c in self.statement_findings]

    def headline(self, *, workload: bool = False) -> str:
        """The verdict in one line, first in every report: ``medium: REGRESSED ×8.1 batch
        time; N+1 in `SELECT …` (1 → 100 calls)``, ``small: passed``, or ``small: no baseline
        yet``. ``workload``: name the workload after the scale (``small · dashboard``), for a
        scale with several."""
        where = f"{self.scale} · {self.candidate.workload}" if workload else self.scale
        if not self.has_baseline:
            return f"{where}: no baseline yet"
        if self.ok:
            notes = len(self.changes)
            return f"{where}: passed" + (
                f" ({notes} note{'s' if notes != 1 else ''} below)" if notes else ""
            )
        parts = [
            (f"×{m.ratio:.1f} " if m.ratio is not None else "") + m.metric.short_label
            for m in self.regressions
        ]
        parts += [c.headline() for c in self.statement_findings if c.fails]
        return f"{where}: REGRESSED " + "; ".join(parts)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """One line: the scale, the outcome and the baseline."""
        run = f"run {self.candidate.run_id}"
        if not self.has_baseline:
            return (
                f"{self.scale}: no baseline yet ({self.baseline.missing_reason}); {run} is "
                "recorded and later runs will compare with it"
            )
        against = self.baseline.describe()
        if self.failures:
            n = len(self.failures)
            return (
                f"{self.scale}: {n} regression{'s' if n != 1 else ''} in {run} against "
                f"{against}: " + ", ".join(self.failures)
            )
        better = [m for m in self.metrics if m.verdict == "improvement"]
        extra = f"; improved: {', '.join(m.metric.name for m in better)}" if better else ""
        return f"{self.scale}: no regression in {run} against {against}{extra}"


def compare_record(
    candidate: RunRecord,
    baseline: Baseline,
    rules: Mapping[str, Rule],
    *,
    plan_change: str = "warn",
    earlier: Sequence[RunRecord] | None = None,
    figure_rules: FigureRules | None = None,
) -> Comparison:
    """Compare ``candidate`` with ``baseline`` metric by metric, then statement by statement
    (``plan_change``: ``warn`` or ``fail``, what a changed plan shape does; ``figure_rules``:
    what buffers and rows may do). ``earlier``: the comparable runs before the candidate,
    oldest first, whose run-to-run spread sets a timing's noise floor (default: the
    baseline's runs)."""
    rows: list[MetricComparison] = []
    if baseline.found:
        spread_runs = tuple(earlier) if earlier else baseline.records
        for name, metric in COMPARED.items():
            if metric_value(candidate, name) is None:  # not measured this time (no restore)
                continue
            rows.append(
                judge_metric(
                    metric, rules[name], candidate=candidate, baseline=baseline.records,
                    earlier=spread_runs,
                )
            )  # fmt: skip
    return Comparison(
        scale=candidate.scale,
        candidate=candidate,
        baseline=baseline,
        metrics=tuple(rows),
        note=_note(candidate, baseline),
        statements=(found := statement_changes(candidate, baseline.records)),
        plan_changes=plan_changes(candidate, baseline.records, fails=plan_change == "fail"),
        figures=figure_changes(
            candidate,
            baseline.records,
            figure_rules or FigureRules(),
            skip={c.fingerprint for c in found},
        ),
    )


def run_samples(record: RunRecord, name: str) -> list[float]:
    """A run's samples of metric ``name`` (its timed repeats), else its one value, else none."""
    samples = record.samples.get(name)
    if samples:
        return [float(x) for x in samples]
    value = record.metrics.get(name)
    return [] if value is None else [float(value)]


def judge_metric(
    metric: Metric,
    rule: Rule,
    *,
    candidate: RunRecord,
    baseline: Sequence[RunRecord],
    earlier: Sequence[RunRecord],
) -> MetricComparison:
    """One metric of ``candidate`` against the ``baseline`` runs: a timing through the
    statistical gate (samples when both sides have several, else one value per run, the
    spread read from ``earlier``), any other metric by :func:`judge`."""
    new = metric_value(candidate, metric.name)
    if not metric.timing:
        base = _median([v for r in baseline if (v := metric_value(r, metric.name)) is not None])
        verdict = judge(metric, rule, baseline=base, new=new)
        return MetricComparison(metric, rule, base, new, verdict, scale=candidate.scale)
    runs = [s for r in baseline if (s := run_samples(r, metric.name))]
    history = [s for r in earlier if (s := run_samples(r, metric.name))]
    if not runs or new is None:
        return MetricComparison(metric, rule, None, new, "no baseline", scale=candidate.scale)
    own = run_samples(candidate, metric.name)
    if len(own) > 1 and all(len(s) > 1 for s in runs):
        evidence = compare_samples(
            runs, own, threshold=rule.threshold, history=history, direction=metric.direction
        )
        base = _median([x for s in runs for x in s])
        new = _median(own)
    else:  # one value per run: no samples to test
        values = [float(statistics.median(s)) for s in runs]
        evidence = compare_values(
            values, new, threshold=rule.threshold,
            history=[float(statistics.median(s)) for s in history], direction=metric.direction,
        )  # fmt: skip
        base = _median(values)
    return MetricComparison(
        metric, rule, base, new, evidence.decision, evidence=evidence, scale=candidate.scale
    )


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _note(candidate: RunRecord, baseline: Baseline) -> str | None:
    notes: list[str] = []
    if any(dataset_key(r) != dataset_key(candidate) for r in baseline.records):
        notes.append("the baseline measured a different dataset")
    if any(r.workload != candidate.workload for r in baseline.records):
        notes.append("the baseline measured a different workload")
    cpus = {r.machine.get("cpus") for r in baseline.records}
    if baseline.records and cpus != {candidate.machine.get("cpus")}:
        notes.append("the baseline ran on a machine with a different CPU count")
    return "; ".join(notes) or None


def compare_history(
    history: History,
    *,
    baseline: str,
    rules: Mapping[str, Rule],
    scales: Sequence[str] = (),
    run_id: str | None = None,
    repo: Path | None = None,
    plan_change: str = "warn",
    figure_rules: FigureRules | None = None,
    per_workload: bool = False,
) -> list[Comparison]:
    """Compare the candidate runs with ``baseline`` (a spec such as ``median:5``).

    The candidates: the records of run ``run_id`` when given, else the newest run's records;
    with ``scales``, each named scale's newest record instead (or its record in ``run_id``;
    ``per_workload``: the newest record of each workload the scale measured, as a report
    shows them). A scale without runs yields no comparison. An empty history yields an
    empty list.
    """
    spec = parse_baseline(baseline)
    candidates: list[RunRecord]
    if run_id is not None:
        candidates = list(history.run(run_id))
        if scales:
            candidates = [r for r in candidates if r.scale in scales]
    elif scales and per_workload:
        candidates = [
            next(r for r in reversed(runs) if r.workload == workload)
            for s in scales
            for runs in [history.for_scale(s)]
            for workload in dict.fromkeys(r.workload for r in runs)
        ]
    elif scales:
        candidates = [r for s in scales if (r := history.latest(s)) is not None]
    else:
        newest = history.latest_run_id()
        candidates = [r for r in history if r.run_id == newest] if newest else []
    return [
        compare_record(
            c,
            select_baseline(history, c, spec, repo=repo),
            rules,
            plan_change=plan_change,
            earlier=history.comparable(c),
            figure_rules=figure_rules,
        )
        for c in candidates
    ]


def check(comparisons: Sequence[Comparison]) -> None:
    """Raise :class:`RegressionError` when any comparison has a gated regression."""
    if any(not c.ok for c in comparisons):
        raise RegressionError(comparisons)


# --------------------------------------------------------------------------------------------
# the `perfkit compare` command


def compare_command(
    cfg: Config,
    *,
    scales: Sequence[str] = (),
    baseline: str | None = None,
    threshold: float | None = None,
    run_id: str | None = None,
) -> tuple[History, list[Comparison]]:
    """What ``perfkit compare`` does before printing: load the configured history and compare
    the newest run (or ``run_id``; or each of ``scales``' newest runs) with ``baseline``
    (default ``regression.baseline``). Unknown scales are a ConfigError; an empty history
    gives no comparisons. Call :func:`check` afterwards to turn regressions into exit 6."""
    for name in scales:
        cfg.scale(name)
    spec = baseline or cfg.regression.baseline
    parse_baseline(spec)  # a bad spec fails before anything is read
    rules = rules_from_config(cfg.regression, threshold=threshold)
    history = history_for(cfg)
    comparisons = compare_history(
        history, baseline=spec, rules=rules, scales=scales, run_id=run_id, repo=cfg.root,
        plan_change=cfg.regression.plan_change,
        figure_rules=figure_rules_from_config(cfg.regression),
    )  # fmt: skip
    return history, comparisons


def steps_command(cfg: Config, *, scales: Sequence[str] = ()) -> tuple[History, list[Step]]:
    """What ``perfkit compare --history`` does before printing: the configured history and the
    steps (:mod:`perfkit.changepoints`) of every compared metric, per workload and scale
    (``scales``: only these; an unknown one is a ConfigError)."""
    for name in scales:
        cfg.scale(name)
    history = history_for(cfg)
    steps = history_steps(
        history, metrics=tuple(COMPARED), scales=scales, min_step=step_sizes(cfg.regression)
    )
    return history, steps


def step_sizes(reg: RegressionConfig) -> dict[str, float]:
    """The smallest step of each metric that ``compare --history`` and the report list: its
    regression threshold (a timing's steps within its threshold are the machine's drift,
    which the gate does not act on either)."""
    return {name: rule.threshold for name, rule in rules_from_config(reg).items()}
