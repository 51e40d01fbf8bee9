"""The regression gate and the report on records of real runs.

A tiny scale is made ready and measured on the session's private PostgreSQL by the real
performance-run code (:func:`perfkit.pipeline.run_scale`: seed, measure the real
deadline-alert batch with repeats, write run records). Three unchanged runs, then one run of
the same batch with a delay injected by a wrapper registered only here: ``compare`` must flag
the slowed run and not the unchanged rerun, through the package and through ``invoke``. The
HTML and Markdown reports are rendered from the same records.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from perfkit.apps.welfare.batch import AlertRunResult, deadline_alerts
from perfkit.compare import RegressionError, check, compare_history, rules_from_config
from perfkit.config import Config
from perfkit.database import Database
from perfkit.history import History, load_history
from perfkit.pipeline import ScaleRun, run_scale
from perfkit.report import build_report, render_html, render_markdown
from perfkit.results import new_run_id, results_path
from perfkit.run import Run
from perfkit.testing import PrivateServer, run_perfkit, tiny_scale_config
from perfkit.urls import with_database
from perfkit.workload import Workload, WorkloadContext, WorkloadRegistry

pytestmark = pytest.mark.integration

DATABASE = "perfkit_gate_test"
#: What the injected slowdown adds to every run of the batch: far above the noise floor.
SLOWDOWN_SECONDS = 0.3


async def slowed_deadline_alerts(ctx: WorkloadContext) -> AlertRunResult:
    """Deadline-alert e-mail batch with a delay injected (a regression, on purpose)."""
    result = await deadline_alerts(ctx)
    await asyncio.sleep(SLOWDOWN_SECONDS)
    return result


def slowed_registry() -> WorkloadRegistry:
    """The real batch's name bound to the slowed wrapper: as if the application got slower."""
    spec = Workload(name="deadline_alerts", label="deadline alerts", fn=slowed_deadline_alerts)
    return WorkloadRegistry({"deadline_alerts": spec})


@dataclass(frozen=True)
class GateRuns:
    cfg: Config
    config_file: Path
    unchanged: tuple[ScaleRun, ...]
    slowed: ScaleRun

    @property
    def history(self) -> History:
        return load_history(results_path(self.cfg))


@pytest.fixture(scope="module")
async def gate_runs(
    pg: PrivateServer, pg_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GateRuns]:
    root = tmp_path_factory.mktemp("gate")
    cfg, tiny, config_file = tiny_scale_config(pg_config, root, offices=3)
    url = with_database(pg.url, DATABASE)
    try:
        unchanged = [await run_scale(Run(cfg, db=url), tiny, run_id=new_run_id()) for _ in range(3)]
        slowed = await run_scale(
            Run(cfg, db=url), tiny, run_id=new_run_id(), registry=slowed_registry()
        )
        yield GateRuns(cfg, config_file, tuple(unchanged), slowed)
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.drop(DATABASE)


def test_every_run_wrote_a_record(gate_runs: GateRuns) -> None:
    history = gate_runs.history
    assert len(history) == 4 and history.skipped == ()
    assert [r.run_id for r in history] == [
        run.record.run_id for run in (*gate_runs.unchanged, gate_runs.slowed)
    ]
    first = history.records[0]
    assert first.scale == "tiny" and first.workload == "deadline_alerts"
    assert len(first.samples["batch_seconds"]) == 3
    assert first.metrics["emails"] > 0 and first.metrics["statements"] >= 1


def test_an_unchanged_rerun_is_not_flagged(gate_runs: GateRuns) -> None:
    third = gate_runs.unchanged[-1].record
    (comparison,) = compare_history(
        gate_runs.history,
        baseline="median:5",
        rules=rules_from_config(gate_runs.cfg.regression),
        run_id=third.run_id,
    )
    assert comparison.has_baseline and len(comparison.baseline.records) == 2
    assert comparison.ok, comparison.summary()
    check([comparison])


def test_the_slowed_batch_is_flagged(gate_runs: GateRuns) -> None:
    (comparison,) = compare_history(
        gate_runs.history,
        baseline="median:3",
        rules=rules_from_config(gate_runs.cfg.regression),
    )
    assert comparison.candidate.run_id == gate_runs.slowed.record.run_id
    assert [m.metric.name for m in comparison.regressions] == ["batch_seconds"]
    (batch,) = comparison.regressions
    assert batch.new is not None and batch.baseline is not None
    assert batch.new - batch.baseline >= SLOWDOWN_SECONDS * 0.9
    with pytest.raises(RegressionError) as info:
        check([comparison])
    assert info.value.exit_code == 6


def test_the_first_run_has_no_baseline(gate_runs: GateRuns) -> None:
    first = gate_runs.unchanged[0].record
    (comparison,) = compare_history(
        gate_runs.history,
        baseline="median:5",
        rules=rules_from_config(gate_runs.cfg.regression),
        run_id=first.run_id,
    )
    assert not comparison.has_baseline and comparison.ok


def test_invoke_compare_exits_6_on_the_slowed_run_and_0_on_the_rerun(
    gate_runs: GateRuns, project_root: Path
) -> None:
    config = str(gate_runs.config_file)
    slowed = run_perfkit("compare", "--config", config, "--baseline", "median:3", cwd=project_root)
    assert slowed.returncode == 6, slowed.stderr
    said = " ".join((slowed.stdout + slowed.stderr).split())  # the comparison, the one line
    assert "tiny: 1 regression in run " + gate_runs.slowed.record.run_id in said
    assert "performance regression: tiny: batch_seconds" in said
    rerun = gate_runs.unchanged[-1].record.run_id
    ok = run_perfkit("compare", "--config", config, "--run-id", rerun, cwd=project_root)
    assert ok.returncode == 0, ok.stderr
    assert "tiny: no regression" in " ".join(ok.stdout.split())
    first = gate_runs.unchanged[0].record.run_id
    none = run_perfkit("compare", "--config", config, "--run-id", first, cwd=project_root)
    assert none.returncode == 0 and "no baseline yet" in " ".join(none.stdout.split())
    (judged,) = json.loads(
        run_perfkit(
            "compare", "--config", config, "--run-id", rerun, "--json", cwd=project_root
        ).stdout
    )["comparisons"]
    assert judged["scale"] == "tiny" and judged["ok"] and judged["run_id"] == rerun
    assert {m["metric"] for m in judged["metrics"]} >= {"batch_seconds", "statements"}
    loose = run_perfkit("compare", "--config", config, "--threshold", "1000", cwd=project_root)
    assert loose.returncode == 0, loose.stderr


def test_the_reports_render_from_the_real_records(
    gate_runs: GateRuns, project_root: Path, tmp_path: Path
) -> None:
    history = gate_runs.history
    comparisons = compare_history(
        history,
        baseline="median:3",
        rules=rules_from_config(gate_runs.cfg.regression),
        scales=("tiny",),
    )
    data = build_report(history, comparisons=comparisons)
    page = render_html(data)
    assert page.count('<div class="chart" id="chart-') >= 4
    assert gate_runs.slowed.record.run_id in page
    assert '<div class="verdict failed"><p class="headline">tiny: REGRESSED ×' in page
    md = render_markdown(data)
    assert "| tiny | 3 |" in md and "❌ tiny (deadline_alerts): 1 regression" in md
    assert md.splitlines()[2].startswith("❌ **tiny: REGRESSED ×")  # the verdict leads
    assert "PostgreSQL " + history.records[0].server_version in md

    done = run_perfkit(
        "report",
        "--config",
        str(gate_runs.config_file),
        "--format",
        "both",
        "--output",
        str(tmp_path / "report"),
        cwd=project_root,
    )
    assert done.returncode == 0, done.stderr
    html_file = tmp_path / "report" / "report.html"
    assert html_file.stat().st_size < 1_000_000  # uPlot embedded, offline
    print(f"\nreport.html of {len(history)} real records: {html_file.stat().st_size:,} bytes")
    assert "## History: tiny" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
