"""The gate's proof at the small scale, with its default settings, on records of real runs.

The project's small scale is made ready once on the session's private PostgreSQL; then the
real measurement path (:func:`perfkit.pipeline.measure_and_record`: ``measure.repeat`` timed
runs of the deadline-alert batch, the profile, the record appended to results.jsonl) runs in
process, 20 times on unchanged code and 4 times with a CPU-only slowdown injected by a
workload registered only here (the batch, then pure-Python busy work for twice the batch's own
time: x3, and not one SQL statement more). Each run is recorded at a commit of its own.

- unchanged code, 20 runs in a row: no comparison raises a regression;
- the slowed run is flagged, with batch time named, its statement count unchanged;
- the history's change points name the slowdown's first commit.

The gate's verdicts are the only timing-dependent asserts; docs/regression-and-report.md gives
their false-alarm and miss rates on this shared machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from perfkit.apps.welfare.batch import AlertRunResult, deadline_alerts
from perfkit.changepoints import history_steps
from perfkit.compare import (
    RegressionError,
    check,
    compare_history,
    rules_from_config,
    step_sizes,
)
from perfkit.config import Config, ResultsConfig
from perfkit.database import Database
from perfkit.db import create_engine, create_session_factory
from perfkit.history import History, load_history
from perfkit.pipeline import measure_and_record, prepare_data, workload_timed
from perfkit.results import RunRecord, new_run_id, results_path
from perfkit.run import Run
from perfkit.testing import PrivateServer, run_perfkit
from perfkit.urls import with_database
from perfkit.workload import WorkloadContext

#: Timing verdicts: measured alone, after the tests that run in parallel (nox -s tests).
pytestmark = [pytest.mark.integration, pytest.mark.serial]

DATABASE = "perfkit_gate_proof_test"
UNCHANGED_RUNS = 20
SLOWED_RUNS = 4


async def cpu_slowed_deadline_alerts(ctx: WorkloadContext) -> AlertRunResult:
    """Deadline-alert batch, then twice its own time of busy work: x3, no SQL added."""
    started = time.perf_counter()
    result = await deadline_alerts(ctx)
    until = started + 3 * (time.perf_counter() - started)
    while time.perf_counter() < until:
        pass
    return result


def commit(kind: str, n: int) -> str:
    """A commit hash of its own for each run."""
    return hashlib.sha256(f"{kind}{n}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class ProofRuns:
    cfg: Config
    unchanged: tuple[RunRecord, ...]
    slowed: tuple[RunRecord, ...]

    @property
    def history(self) -> History:
        return load_history(results_path(self.cfg))


@pytest.fixture(scope="module")
async def proof(
    pg: PrivateServer, pg_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ProofRuns]:
    root = tmp_path_factory.mktemp("gate-proof")
    cfg = msgspec.structs.replace(
        pg_config,  # the project's scales.yaml: small's repeat, the regression section
        results=ResultsConfig(directory=root / "results"),
        snapshots=msgspec.structs.replace(pg_config.snapshots, directory=root / "snapshots"),
    )
    small = cfg.scale("small")
    url = with_database(pg.url, DATABASE)
    app = Run(cfg).app
    try:
        data = await prepare_data(Run(cfg, db=url), small)
        engine = create_engine(url, cfg.pool, driver=app.driver)
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, cfg.pool), today=data.anchor_date
        )
        batch = workload_timed(app, app.workload(), ctx, scale="small")
        slowed = dataclasses.replace(batch, fn=lambda: cpu_slowed_deadline_alerts(ctx))
        records: dict[str, list[RunRecord]] = {"u": [], "s": []}
        try:
            with pytest.MonkeyPatch.context() as patch:
                for kind, timed, runs in (("u", batch, UNCHANGED_RUNS), ("s", slowed, SLOWED_RUNS)):
                    for n in range(runs):
                        patch.setenv("PERFKIT_COMMIT", commit(kind, n))
                        run = await measure_and_record(
                            Run(cfg, db=data.url), data, timed, engine=engine, run_id=new_run_id()
                        )
                        records[kind].append(run.record)
        finally:
            await engine.dispose()
        yield ProofRuns(cfg, tuple(records["u"]), tuple(records["s"]))
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.drop(DATABASE)


def test_the_runs_used_the_default_settings(proof: ProofRuns) -> None:
    first = proof.unchanged[0]
    assert len(first.samples["batch_seconds"]) == proof.cfg.measure.repeat_for(
        proof.cfg.scale("small")
    ) == 50  # fmt: skip
    assert [r.commit for r in proof.slowed] == [commit("s", n) for n in range(SLOWED_RUNS)]
    assert {r.metrics["statements"] for r in (*proof.unchanged, *proof.slowed)} == {1}


def test_unchanged_code_run_20_times_raises_no_regression(proof: ProofRuns) -> None:
    history = proof.history
    rules = rules_from_config(proof.cfg.regression)
    verdicts = []
    for record in proof.unchanged[1:]:
        (comparison,) = compare_history(
            history, baseline=proof.cfg.regression.baseline, rules=rules, run_id=record.run_id
        )
        assert comparison.ok, [m.sentence() for m in comparison.metrics]
        batch = next(m for m in comparison.metrics if m.metric.name == "batch_seconds")
        verdicts.append(batch.verdict)
    assert len(verdicts) == UNCHANGED_RUNS - 1 and "regression" not in verdicts


def test_a_cpu_only_3x_slowdown_is_flagged_naming_time(proof: ProofRuns) -> None:
    (comparison,) = compare_history(
        proof.history,
        baseline=proof.cfg.regression.baseline,
        rules=rules_from_config(proof.cfg.regression),
        run_id=proof.slowed[0].run_id,
    )
    said = [m.sentence() for m in comparison.metrics]
    assert [m.metric.name for m in comparison.regressions] == ["batch_seconds"], said
    (batch,) = comparison.regressions
    assert batch.sentence().startswith("small: batch time (median) REGRESSED ×")
    statements = next(m for m in comparison.metrics if m.metric.name == "statements")
    assert statements.verdict == "unchanged" and comparison.statements == ()
    with pytest.raises(RegressionError) as info:
        check([comparison])
    assert info.value.exit_code == 6 and "small: batch_seconds" in info.value.message


def test_the_change_points_name_the_commit_of_the_slowdown(
    proof: ProofRuns, project_root: Path, tmp_path: Path
) -> None:
    # the steps `perfkit compare --history` lists: at least each metric's regression threshold
    # (a 10-20 % drift of a shared machine's timings across the unchanged runs is not one)
    steps = history_steps(
        proof.history,
        metrics=("batch_seconds", "statements"),
        min_step=step_sizes(proof.cfg.regression),
    )
    assert len(steps) == 1, [s.sentence() for s in steps]
    (step,) = steps
    assert step.metric == "batch_seconds" and step.scale == "small"
    assert step.commits == (commit("u", UNCHANGED_RUNS - 1), commit("s", 0))
    assert (step.runs_before, step.runs_after) == (UNCHANGED_RUNS, SLOWED_RUNS)
    assert step.ratio > 2

    config = tmp_path / "scales.yaml"
    results = proof.cfg.results_dir
    config.write_text(f"scales:\n  small: {{offices: 10}}\nresults:\n  directory: {results}\n")
    done = run_perfkit("compare", "--config", str(config), "--history", cwd=project_root)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("small batch_seconds (deadline_alerts): ×")
    assert f"between {commit('u', UNCHANGED_RUNS - 1)[:10]} and {commit('s', 0)[:10]}" in line
