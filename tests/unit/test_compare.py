"""Regression rules: directions, thresholds, noise floors, every baseline kind, no baseline;
timings through the statistical gate (:mod:`perfkit.gate`, tested on its own in test_gate.py)."""

from __future__ import annotations

import math
import random
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perfkit.compare import (
    COMPARED,
    METRICS,
    TIMING_THRESHOLD,
    BaselineSpec,
    BaselineSpecError,
    RegressionError,
    Rule,
    ThresholdError,
    check,
    compare_history,
    deprecated_settings,
    judge,
    parse_baseline,
    parse_threshold,
    rules_from_config,
)
from perfkit.config import (
    REGRESSION_METRICS,
    BuffersRule,
    RegressionConfig,
    RowsRule,
    load_config,
)
from perfkit.errors import ConfigError
from perfkit.history import History, HistoryError
from perfkit.profile import shorten
from perfkit.results import RunRecord
from perfkit.statement_changes import figure_rules_from_config
from perfkit.testing import run_record

RULES = rules_from_config(RegressionConfig())


def record(n: int, *, batch: float = 0.5, noise: float = 0.03, **changes: Any) -> RunRecord:
    """Run ``n`` (``n`` hours in), batch median about ``batch`` s: 30 timed samples with
    lognormal noise ``noise`` (seeded by ``n``, so every test sees the same numbers), with the
    short id ``run00n`` the baseline specs below name."""
    rng = random.Random(n)
    samples = [batch * math.exp(rng.gauss(0.0, noise)) for _ in range(30)]
    return run_record(
        n, batch=batch, **{"run_id": f"run{n:03d}", "samples": {"batch_seconds": samples},
                           **changes}
    )  # fmt: skip


def compare(history: History, baseline: str = "median:5", **kw: Any) -> list[Any]:
    return compare_history(history, baseline=baseline, rules=RULES, **kw)


def verdicts(history: History, baseline: str = "median:5") -> dict[str, str]:
    (comparison,) = compare(history, baseline)
    return {m.metric.name: m.verdict for m in comparison.metrics}


# --------------------------------------------------------------------------------------------
# the rule for one metric


LOWER, HIGHER = METRICS["batch_seconds"], METRICS["seed_rows_per_second"]
RULE = Rule(threshold=0.2, noise_floor=0.02, gate=True)


@pytest.mark.parametrize(
    ("baseline", "new", "verdict"),
    [
        (1.0, 1.0, "unchanged"),
        (1.0, 1.19, "unchanged"),  # worse, but within the threshold
        (1.0, 1.25, "regression"),
        (1.0, 0.7, "improvement"),
        (0.010, 0.025, "within noise"),  # 150 % slower, but only 15 ms: under the floor
        (0.010, 0.035, "regression"),  # 25 ms: above the floor
        (0.0, 0.0, "unchanged"),
        (0.0, 0.5, "regression"),
    ],
)
def test_lower_is_better_metrics(baseline: float, new: float, verdict: str) -> None:
    assert judge(LOWER, RULE, baseline=baseline, new=new) == verdict


@pytest.mark.parametrize(
    ("baseline", "new", "verdict"),
    [
        (500_000.0, 520_000.0, "unchanged"),
        (500_000.0, 300_000.0, "regression"),  # fewer rows per second is worse
        (500_000.0, 700_000.0, "improvement"),
    ],
)
def test_higher_is_better_metrics(baseline: float, new: float, verdict: str) -> None:
    rule = Rule(threshold=0.2, noise_floor=20_000, gate=True)
    assert judge(HIGHER, rule, baseline=baseline, new=new) == verdict


def test_a_metric_missing_on_one_side_has_no_baseline() -> None:
    assert judge(LOWER, RULE, baseline=None, new=1.0) == "no baseline"
    assert judge(LOWER, RULE, baseline=1.0, new=None) == "no baseline"


def test_metrics_the_new_run_did_not_measure_are_left_out() -> None:
    seeded = record(1, metrics={"seed_rows_per_second": 300_000.0})
    restored = record(2, metrics={"restore_seconds": 0.8})
    (comparison,) = compare(History.of([seeded, restored]))
    by_name = {m.metric.name: m.verdict for m in comparison.metrics}
    assert "seed_rows_per_second" not in by_name
    assert by_name["restore_seconds"] == "no baseline"


# --------------------------------------------------------------------------------------------
# rules from scales.yaml


def test_every_metric_has_a_rule_and_config_knows_the_same_metrics() -> None:
    assert set(COMPARED) == set(REGRESSION_METRICS)
    assert set(RULES) == set(COMPARED)
    assert set(METRICS) - set(COMPARED) == {"seconds_per_office"}  # batch / offices: shown only
    # a timing's threshold against earlier runs is x2; its floor is the gate's, not configured
    assert RULES["batch_seconds"] == Rule(threshold=TIMING_THRESHOLD, noise_floor=0.0, gate=True)
    assert RULES["statements"] == Rule(threshold=0.2, noise_floor=0.0, gate=True)
    assert RULES["prepare_seconds"].gate is False
    assert {n for n, m in COMPARED.items() if m.timing} == {
        "batch_seconds", "prepare_seconds", "restore_seconds", "seed_rows_per_second",
        "latency_p50_seconds", "latency_p95_seconds", "latency_p99_seconds", "throughput",
    }  # fmt: skip


def test_the_project_file_sets_the_regression_section(config_file: Path) -> None:
    reg = load_config(config_file, env={}).regression
    assert reg.threshold == 0.2 and reg.baseline == "median:5"
    rules = rules_from_config(reg)
    assert rules["batch_seconds"].threshold == TIMING_THRESHOLD
    assert rules["restore_seconds"] == Rule(threshold=TIMING_THRESHOLD, noise_floor=0.0, gate=False)
    assert rules["peak_memory_mb"] == Rule(threshold=0.2, noise_floor=5.0, gate=True)
    assert deprecated_settings(reg) == []  # the shipped file sets no floor on a timing


def write(tmp_path: Path, regression: str) -> Path:
    path = tmp_path / "scales.yaml"
    body = "scales:\n  small: {offices: 10}\nregression:\n" + textwrap.indent(
        textwrap.dedent(regression), "  "
    )
    path.write_text(body, encoding="utf-8")
    return path


def test_per_metric_overrides_and_the_command_line_threshold(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
            threshold: 0.1
            metrics:
              batch_seconds: {threshold: 0.5}
              statements: {gate: false}
              peak_memory_mb: {noise_floor: 50}
            """,
        ),
        env={},
    )
    rules = rules_from_config(cfg.regression)
    assert rules["batch_seconds"] == Rule(threshold=0.5, noise_floor=0.0, gate=True)
    assert rules["statements"] == Rule(threshold=0.1, noise_floor=0.0, gate=False)
    assert rules["peak_memory_mb"].noise_floor == 50
    assert rules["restore_seconds"].threshold == TIMING_THRESHOLD  # a timing: x2 unless its own
    flagged = rules_from_config(cfg.regression, threshold=0.3)
    assert {r.threshold for r in flagged.values()} == {0.3}
    assert flagged["statements"].gate is False


@pytest.mark.parametrize(
    ("body", "key_path", "suggestion"),
    [
        ("metrics: {batch_second: {threshold: 0.1}}", "regression.metrics.batch_second",
         "batch_seconds"),
        ("metrics: {batch_seconds: {treshold: 0.1}}", "regression.metrics.batch_seconds.treshold",
         "threshold"),
        ("threshold: -0.1", "regression.threshold", None),
        ("baseline: last-week", "regression.baseline", None),
        ("metrics: {statements: {noise_floor: -1}}", "regression.metrics.statements.noise_floor",
         None),
    ],
)  # fmt: skip
def test_bad_regression_settings_name_the_key(
    tmp_path: Path, body: str, key_path: str, suggestion: str | None
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, body), env={})
    assert info.value.key_path == key_path
    assert info.value.suggestion == suggestion


def test_an_absolute_floor_on_a_timing_is_accepted_ignored_and_named(tmp_path: Path) -> None:
    reg = load_config(
        write(
            tmp_path,
            """
            metrics:
              batch_seconds: {noise_floor: 0.05}
              statements: {noise_floor: 1}
            """,
        ),
        env={},
    ).regression
    rules = rules_from_config(reg)
    assert rules["batch_seconds"].noise_floor == 0.0  # not 0.05 s: the gate derives it
    assert rules["statements"].noise_floor == 1  # a count keeps its floor
    (line,) = deprecated_settings(reg)
    assert line.startswith("regression.metrics.batch_seconds.noise_floor in scales.yaml is no")


def test_threshold_flag_parsing() -> None:
    assert parse_threshold(None) is None
    assert parse_threshold("0.35") == 0.35
    for bad in ("lots", "-0.1", "nan"):
        with pytest.raises(ThresholdError) as info:
            parse_threshold(bad)
        assert info.value.exit_code == 2


# --------------------------------------------------------------------------------------------
# baselines


def test_baseline_specs() -> None:
    assert parse_baseline("median:5") == BaselineSpec("median", "5")
    assert parse_baseline("git:origin/main") == BaselineSpec("git", "origin/main")
    assert parse_baseline("run:20260209T030000Z-1a") == BaselineSpec("run", "20260209T030000Z-1a")
    assert parse_baseline("20260209T030000Z-1a") == BaselineSpec("run", "20260209T030000Z-1a")
    for bad in ("median:0", "median:x", "git:", "last week", "svn:trunk"):
        with pytest.raises(BaselineSpecError) as info:
            parse_baseline(bad)
        assert info.value.exit_code == 2


def test_no_baseline_yet_is_reported_and_is_not_a_failure() -> None:
    (comparison,) = compare(History.of([record(1)]))
    assert not comparison.has_baseline and comparison.ok and comparison.metrics == ()
    assert "no baseline yet" in comparison.summary()
    check([comparison])  # does not raise


def test_a_different_dataset_is_no_baseline() -> None:
    other = {**record(0).dataset, "rows": {"offices": 20}}
    (comparison,) = compare(History.of([record(1, batch=0.1, dataset=other), record(2)]))
    assert not comparison.has_baseline
    assert "measured something else" in (comparison.baseline.missing_reason or "")


def test_an_unchanged_rerun_is_not_flagged() -> None:
    history = History.of([record(1), record(2, batch=0.52), record(3, batch=0.49)])
    (comparison,) = compare(history)
    assert comparison.ok and comparison.has_baseline
    assert {m.verdict for m in comparison.metrics} <= {"unchanged", "within noise"}


def test_a_slower_batch_is_a_regression_with_exit_status_6() -> None:
    history = History.of([*(record(n) for n in range(1, 7)), record(7, batch=1.5)])
    (comparison,) = compare(history)
    (reg,) = comparison.regressions
    assert reg.metric.name == "batch_seconds"
    assert reg.baseline == pytest.approx(0.5, rel=0.02) and reg.new == pytest.approx(1.5, rel=0.02)
    assert reg.ratio == pytest.approx(3.0, rel=0.03)
    assert reg.worse_by == pytest.approx(2.0, rel=0.03)
    ev = reg.evidence
    assert ev is not None and ev.ci is not None and ev.p_value is not None
    assert ev.ci[0] > 1 + TIMING_THRESHOLD and ev.p_value < 0.01 and ev.effect == 1.0
    data = reg.to_dict()  # what a report leads with: the fields and one sentence
    assert {k: data[k] for k in ("metric", "scale", "decision", "gated", "fails", "unit")} == {
        "metric": "batch_seconds", "scale": "small", "decision": "regression", "gated": True,
        "fails": True, "unit": "s",
    }  # fmt: skip
    assert data["ci"] == list(ev.ci) and data["p_value"] == ev.p_value and data["effect"] == 1.0
    assert data["threshold"] == TIMING_THRESHOLD and data["floor"] == ev.floor
    assert data["sentence"] == reg.sentence()
    assert reg.sentence().startswith("small: batch time (median) REGRESSED ×3.0")
    assert " ms → 1.5" in reg.sentence() and " s (99 % CI ×" in reg.sentence()
    statements = next(m for m in comparison.metrics if m.metric.name == "statements")
    assert statements.to_dict()["method"] == "exact" and statements.evidence is None
    assert statements.sentence() == (
        "small: SQL statements unchanged ×1.00, 1 → 1: no change; threshold 20 %, exact count"
    )
    with pytest.raises(RegressionError) as info:
        check([comparison])
    assert info.value.exit_code == 6
    assert "batch_seconds" in info.value.message and "x3.0" in info.value.message
    # batch time per office is the same change: shown in reports, not judged twice
    assert "seconds_per_office" not in {m.metric.name for m in comparison.metrics}


def test_a_regression_in_an_ungated_metric_does_not_fail() -> None:
    history = History.of([record(1, metrics={"restore_seconds": 0.5}),
                          record(2, metrics={"restore_seconds": 4.0})])  # fmt: skip
    (comparison,) = compare(history)
    restore = next(m for m in comparison.metrics if m.metric.name == "restore_seconds")
    assert restore.verdict == "regression" and not restore.fails
    assert comparison.ok
    check([comparison])


def test_a_faster_batch_is_an_improvement() -> None:
    v = verdicts(History.of([*(record(n) for n in range(1, 7)), record(7, batch=0.1)]))
    assert v["batch_seconds"] == "improvement"


def test_a_slower_batch_inside_the_runs_own_spread_is_within_noise() -> None:
    """Earlier runs that swing by ±40 % from one to the next make a x2.5 run noise, not a
    regression: the floor comes from the history's spread, not from a number of seconds."""
    swings = [0.5, 0.8, 0.45, 0.9, 0.4, 0.85, 0.5, 0.95, 0.45, 0.8]
    runs = [record(n, batch=b) for n, b in enumerate(swings, start=1)]
    (comparison,) = compare(History.of([*runs, record(11, batch=2.6)]))
    batch = next(m for m in comparison.metrics if m.metric.name == "batch_seconds")
    assert batch.verdict == "within noise" and comparison.ok
    assert batch.evidence is not None and batch.evidence.floor > 2.0
    assert "noise floor" in batch.reason and "run-to-run spread of 10 runs" in batch.reason


def test_more_statements_is_a_regression_even_by_one_when_small() -> None:
    history = History.of(
        [record(1, metrics={"statements": 3}), record(2, metrics={"statements": 4})]
    )
    assert verdicts(history)["statements"] == "regression"


def test_median_of_last_n_ignores_one_slow_outlier_and_old_runs() -> None:
    runs = [record(1, batch=5.0)]  # too old for median:3
    runs += [record(2), record(3, batch=3.0), record(4, batch=0.52), record(5, batch=0.55)]
    (comparison,) = compare(History.of(runs), "median:3")
    assert [r.run_id for r in comparison.baseline.records] == ["run002", "run003", "run004"]
    batch = next(m for m in comparison.metrics if m.metric.name == "batch_seconds")
    # the median of the pooled samples: the slow run counts as a third of them, not as a mean
    assert batch.baseline == pytest.approx(0.52, rel=0.03)
    assert batch.verdict == "unchanged"
    assert "median of the last 3 earlier runs" in comparison.summary()


def test_median_with_fewer_runs_than_asked_says_so() -> None:
    (comparison,) = compare(History.of([record(1), record(2)]), "median:5")
    assert comparison.baseline.describe() == "median of the last 1 earlier run (asked for 5)"


def test_a_stored_run_as_baseline() -> None:
    history = History.of([record(1, batch=0.1), record(2), record(3)])
    (comparison,) = compare(history, "run:run001")
    batch = next(m for m in comparison.metrics if m.metric.name == "batch_seconds")
    assert batch.baseline == pytest.approx(0.1, rel=0.03) and batch.verdict == "regression"
    assert verdicts(history, "run002")["batch_seconds"] == "unchanged"
    with pytest.raises(HistoryError):
        compare(history, "run:run999")


def test_a_stored_run_of_another_scale_is_no_baseline() -> None:
    history = History.of([record(1, scale="medium"), record(2)])
    (comparison,) = compare(history, "run:run001")
    assert not comparison.has_baseline
    assert "did not measure scale small" in comparison.summary()


def test_a_git_ref_as_baseline(tmp_path: Path, git: Callable[..., str]) -> None:
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    git(tmp_path, "commit", "--quiet", "--allow-empty", "-m", "base")
    base = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "branch", "release")
    git(tmp_path, "commit", "--quiet", "--allow-empty", "-m", "change")
    head = git(tmp_path, "rev-parse", "HEAD")
    history = History.of(
        [
            record(1, batch=0.50, commit=base),
            record(2, batch=0.52, commit=base),
            record(3, batch=0.30, commit=head),  # a run at HEAD, not on the release branch
            record(4, batch=2.00, commit=head),
        ]
    )
    (comparison,) = compare(history, "git:release", repo=tmp_path)
    assert {r.run_id for r in comparison.baseline.records} == {"run001", "run002"}
    assert comparison.baseline.commit == base
    batch = next(m for m in comparison.metrics if m.metric.name == "batch_seconds")
    assert batch.baseline == pytest.approx(0.51, rel=0.03) and batch.verdict == "regression"
    # the candidate's own commit: the other runs at HEAD, not the candidate itself
    (same, *_) = compare(history, "git:HEAD", repo=tmp_path)
    assert [r.run_id for r in same.baseline.records] == ["run003"]


def test_a_git_ref_without_runs_is_no_baseline(tmp_path: Path, git: Callable[..., str]) -> None:
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    git(tmp_path, "commit", "--quiet", "--allow-empty", "-m", "base")
    (comparison,) = compare(History.of([record(1)]), "git:main", repo=tmp_path)
    assert not comparison.has_baseline
    assert "no small run with this dataset was recorded at main" in comparison.summary()


# --------------------------------------------------------------------------------------------
# which runs are compared


def test_the_newest_run_is_compared_for_every_scale_it_measured() -> None:
    history = History.of(
        [
            record(1), record(1, scale="medium", run_id="run001"),
            record(2, run_id="run002"), record(2, scale="medium", run_id="run002"),
            record(3, scale="large"),
        ]
    )  # fmt: skip
    assert [(c.scale, c.candidate.run_id) for c in compare(history)] == [("large", "run003")]
    by_scale = compare(history, scales=("small", "medium"))
    assert [(c.scale, c.candidate.run_id) for c in by_scale] == [
        ("small", "run002"),
        ("medium", "run002"),
    ]
    by_run = compare(history, run_id="run001")
    assert [c.scale for c in by_run] == ["small", "medium"]
    assert all(not c.has_baseline for c in by_run)


def test_an_empty_history_compares_nothing() -> None:
    assert compare(History.of([])) == []
    check([])


def test_a_baseline_from_another_machine_is_noted() -> None:
    machine = {"hostname": "laptop", "cpus": 8, "python": "3.12", "platform": "Darwin"}
    (comparison,) = compare(History.of([record(1, machine=machine), record(2)]))
    assert comparison.note == "the baseline ran on a machine with a different CPU count"


# --------------------------------------------------------------------------------------------
# deterministic figures per statement: buffers and rows

CYCLES = "SELECT id FROM support_plan_cycles WHERE office_id = ? ORDER BY end_date LIMIT ?"


def profiled(n: int, *, buffers: int, rows: int = 10, calls: int = 1, **kw: Any) -> RunRecord:
    """Run ``n`` whose one statement touched ``buffers`` shared blocks (as pg_stat_statements
    counts them) and returned ``rows`` rows; its time is the same in every run."""
    entry = {
        "fingerprint": "cycles", "statement": CYCLES, "calls": calls, "total_ms": 1.0,
        "mean_ms": 1.0 / calls, "rows": rows, "shared_blks_hit": buffers - 3,
        "shared_blks_read": 3, "buffers_source": "pg_stat_statements",
    }  # fmt: skip
    return record(n, profile=[entry], **kw)


def test_a_buffers_jump_is_a_regression_named_by_its_statement_while_time_is_flat() -> None:
    history = History.of([*(profiled(n, buffers=120) for n in range(5)), profiled(5, buffers=9400)])
    (comparison,) = compare(history)
    assert {m.verdict for m in comparison.metrics} <= {"unchanged", "within noise"}  # time flat
    (jump,) = comparison.figures
    assert (jump.kind, jump.before, jump.after, jump.fails) == ("buffers", 120, 9400, True)
    assert jump.describe() == f"buffers of `{CYCLES}` went 120 → 9,400 (×78.3)"
    assert not comparison.ok and comparison.failures == [jump.describe()]
    assert comparison.changes == ["FAIL " + jump.describe()]
    assert comparison.headline() == (f"small: REGRESSED ×78.3 buffers in `{shorten(CYCLES, 60)}`")
    with pytest.raises(RegressionError) as caught:
        check([comparison])
    assert caught.value.exit_code == 6


@pytest.mark.parametrize(
    ("after", "listed", "fails"),
    [
        (230, False, False),  # under x2
        (250, True, True),  # x2.08 and +130 blocks
        (60, False, False),  # x0.5, but only 60 blocks fewer
        (20_000, True, True),
    ],
)
def test_buffers_need_the_ratio_and_the_absolute_minimum(
    after: int, listed: bool, fails: bool
) -> None:
    history = History.of(
        [*(profiled(n, buffers=120) for n in range(3)), profiled(3, buffers=after)]
    )
    (comparison,) = compare(history)
    assert bool(comparison.figures) is listed
    assert comparison.ok is not fails


def test_fewer_buffers_are_listed_as_a_note_and_the_rules_come_from_scales_yaml() -> None:
    history = History.of([*(profiled(n, buffers=9400) for n in range(3)), profiled(3, buffers=120)])
    (comparison,) = compare(history)
    (drop,) = comparison.figures
    assert not drop.fails and comparison.ok and comparison.changes[0].startswith("note buffers")
    assert comparison.headline() == "small: passed (1 note below)"
    # a stricter rule in scales.yaml: ×1.5 and 10 blocks
    strict = figure_rules_from_config(
        RegressionConfig(
            buffers=BuffersRule(threshold=0.5, min_blocks=10), rows=RowsRule(gate=True)
        )
    )
    history = History.of([*(profiled(n, buffers=100) for n in range(3)), profiled(3, buffers=160)])
    (comparison,) = compare(history, figure_rules=strict)
    assert not comparison.ok
    ungated = figure_rules_from_config(RegressionConfig(buffers=BuffersRule(gate=False)))
    history = History.of([*(profiled(n, buffers=100) for n in range(3)), profiled(3, buffers=900)])
    (comparison,) = compare(history, figure_rules=ungated)
    assert comparison.figures and comparison.ok


def test_buffers_from_different_sources_are_not_compared() -> None:
    explained = profiled(3, buffers=9400)
    entry = {**explained.profile[0], "buffers_source": "explain"}
    history = History.of(
        [*(profiled(n, buffers=120) for n in range(3)), record(3, profile=[entry])]
    )
    (comparison,) = compare(history)
    assert not comparison.figures and comparison.ok


def test_changed_rows_are_listed_and_gated_only_when_configured() -> None:
    history = History.of(
        [*(profiled(n, buffers=120) for n in range(3)), profiled(3, buffers=120, rows=12)]
    )
    (comparison,) = compare(history)
    (rows,) = comparison.figures
    assert rows.describe() == f"rows of `{CYCLES}` went 10 → 12 (×1.2)"
    assert comparison.ok and comparison.changes == ["note " + rows.describe()]
    gated = figure_rules_from_config(RegressionConfig(rows=RowsRule(gate=True)))
    (comparison,) = compare(history, figure_rules=gated)
    assert not comparison.ok and comparison.failures == [rows.describe()]


def test_a_multiplied_statement_is_named_once_as_an_n_plus_1() -> None:
    history = History.of(
        [*(profiled(n, buffers=120) for n in range(3)),
         profiled(3, buffers=12_000, rows=1000, calls=100)]
    )  # fmt: skip
    (comparison,) = compare(history)
    assert [c.kind for c in comparison.statements] == ["multiplied"] and not comparison.figures
    assert comparison.headline() == (
        f"small: REGRESSED N+1 in `{shorten(CYCLES, 60)}` (1 → 100 calls)"
    )


def test_the_headline_names_the_metric_the_ratio_and_every_failing_statement() -> None:
    slow = profiled(6, buffers=120, batch=1.5, calls=100)
    history = History.of([*(profiled(n, buffers=120) for n in range(6)), slow])
    (comparison,) = compare(history)
    head = comparison.headline(workload=True)
    assert head.startswith("small · deadline_alerts: REGRESSED ×3.0 batch time; N+1 in `")
    first = History.of([profiled(0, buffers=1)])
    assert compare(first)[0].headline() == "small: no baseline yet"


# --------------------------------------------------------------------------------------------
# an HTTP workload's latency percentiles: one value per run, the history's spread rule


def load_run(n: int, *, p95: float, noise: float = 0.05) -> RunRecord:
    """A load run's record (:mod:`perfkit.loadrun`'s metrics), p95 about ``p95`` s."""
    rng = random.Random(1000 + n)
    p95 = p95 * math.exp(rng.gauss(0.0, noise))
    return run_record(
        n, workload="dashboard", run_id=f"load{n:03d}", samples={},
        metrics={"latency_p50_seconds": p95 / 3, "latency_p95_seconds": p95,
                 "latency_p99_seconds": p95 * 1.5, "throughput": 1 / p95, "requests": 300,
                 "errors": 0, "users": 4},
    )  # fmt: skip


def test_http_percentiles_are_gated_with_the_runs_spread_and_reported() -> None:
    runs = [load_run(n, p95=0.020) for n in range(10)]
    (ok,) = compare(History.of(runs))
    judged = {m.metric.name: m for m in ok.metrics}
    assert {"latency_p50_seconds", "latency_p95_seconds", "latency_p99_seconds"} <= set(judged)
    assert ok.ok and judged["latency_p95_seconds"].evidence is not None
    assert "run-to-run spread" in judged["latency_p95_seconds"].evidence.floor_source

    slowed = [*runs, load_run(10, p95=0.070)]  # x3.5
    (bad,) = compare(History.of(slowed))
    failing = {m.metric.name for m in bad.regressions}
    assert failing == {"latency_p50_seconds", "latency_p95_seconds", "latency_p99_seconds"}
    assert bad.headline().startswith("small: REGRESSED ×3.")
    assert "p95 latency" in bad.headline()
    p95 = next(m for m in bad.metrics if m.metric.name == "latency_p95_seconds")
    assert p95.sentence().startswith("small: p95 latency REGRESSED ×3.")
    assert " ms → " in p95.sentence()  # milliseconds, not 0.020 s
    # throughput fell too, and is shown, but does not fail the gate on its own
    throughput = next(m for m in bad.metrics if m.metric.name == "throughput")
    assert throughput.verdict == "regression" and not throughput.fails
