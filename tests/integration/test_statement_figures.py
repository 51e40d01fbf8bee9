"""Deterministic measures, gated exactly, at the SMALL scale (issue 22 part 2).

The small scale's data (10 offices) is made ready on the session's private PostgreSQL and
measured by the real run code. Two indexes are then dropped, which changes no statement count:

* ``ix_support_plan_cycles_active_end_date``, which the deadline-alert batch's one statement
  reads: ``compare`` names the batch's statement with its changed plan (a warning by default);
  at this scale the sequential scan touches fewer buffers than the index lookups did (a note);
* ``ix_support_plan_cycles_individual_support_plan_id``, which a "latest cycle of each plan"
  statement (a LATERAL lookup per plan, registered here) reads once per plan: without it,
  each lookup scans the table, and ``compare`` fails on the statement's shared buffers, named.

Neither verdict depends on time: the comparisons run with a timing threshold no slowdown can
pass (``--threshold 1000``), so what fails is the statement's figures alone. The runs' times
are printed, not asserted. The figures come from pg_stat_statements (perfkit's native server
preloads it); without it, from ``EXPLAIN (ANALYZE, BUFFERS)`` of one call, which is checked too.
perfkit's own runs would restore a dropped index first (the data is no longer as built), so
the changed database is measured as the caller's own (``lock=False``), as in
test_profile_db.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import text

from perfkit.compare import (
    Comparison,
    compare_history,
    rules_from_config,
)
from perfkit.config import Config, MeasureConfig, ResultsConfig, Scale
from perfkit.database import Database
from perfkit.db import connection, create_engine, create_session_factory
from perfkit.history import load_history
from perfkit.pipeline import (
    PreparedData,
    ScaleRun,
    measure_and_record,
    prepare_data,
    run_scale,
    workload_timed,
)
from perfkit.profile import explain_statements, profile_entries, profile_run
from perfkit.results import new_run_id, results_path
from perfkit.run import Run
from perfkit.statement_changes import figure_rules_from_config
from perfkit.testing import PrivateServer
from perfkit.urls import with_database
from perfkit.workload import Workload, WorkloadContext, WorkloadRegistry

pytestmark = pytest.mark.integration

DATABASE = "perfkit_figures_test"
BATCH_INDEX = "ix_support_plan_cycles_active_end_date"
PLAN_INDEX = "ix_support_plan_cycles_individual_support_plan_id"
LATEST_CYCLES = """
SELECT p.id, c.end_date
FROM individual_support_plans p
CROSS JOIN LATERAL (
    SELECT end_date FROM support_plan_cycles
    WHERE individual_support_plan_id = p.id
    ORDER BY cycle_number DESC LIMIT 1
) c
WHERE p.office_id = (SELECT id FROM offices ORDER BY id LIMIT 1)
"""
#: No slowdown passes this threshold: a comparison that fails under it fails on statements.
TIME_IGNORED = 1000.0


async def latest_cycles(ctx: WorkloadContext) -> int:
    """The latest cycle of each plan of one office: one statement, one lookup per plan."""
    async with ctx.session_factory() as session:
        return len((await session.execute(text(LATEST_CYCLES))).all())


LATEST = WorkloadRegistry(
    {"latest_cycles": Workload(name="latest_cycles", label="latest cycles", fn=latest_cycles)}  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class Runs:
    cfg: Config
    url: str
    batch: ScaleRun
    batch_without: ScaleRun
    latest: ScaleRun
    latest_without: ScaleRun

    def compare(self, run: ScaleRun) -> Comparison:
        (comparison,) = compare_history(
            load_history(results_path(self.cfg)),
            baseline="median:2",
            rules=rules_from_config(self.cfg.regression, threshold=TIME_IGNORED),
            run_id=run.record.run_id,
            plan_change=self.cfg.regression.plan_change,
            figure_rules=figure_rules_from_config(self.cfg.regression),
        )
        print("\n" + "\n".join([comparison.headline(), *comparison.changes]))
        for m in comparison.metrics:
            print("  " + m.sentence())
        return comparison


def small_config(cfg: Config, root: Path) -> tuple[Config, Scale]:
    """The project's configuration with its results and snapshots under ``root``, and the
    small scale as it is (10 offices), timed 5 times after 1 warm-up."""
    small = msgspec.structs.replace(cfg.scale("small"), repeat=None)
    return (
        msgspec.structs.replace(
            cfg,
            snapshots=msgspec.structs.replace(cfg.snapshots, directory=root / "snapshots"),
            results=ResultsConfig(directory=root / "results"),
            measure=MeasureConfig(repeat=5, warmup=1),
        ),
        small,
    )


async def measured_as_changed(cfg: Config, data: PreparedData, *, latest: bool) -> ScaleRun:
    """The batch (or ``latest_cycles``) measured on ``data`` after the test changed it
    (``lock=False``: no guard, which would restore the indexes first)."""
    scale, url = data.scale, data.url
    app = Run(cfg).app
    engine = create_engine(url, cfg.pool, driver=app.driver)
    try:
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, cfg.pool), today=data.anchor_date
        )
        spec = LATEST.get("latest_cycles") if latest else app.workload(None)
        timed = workload_timed(app, spec, ctx, scale=scale.name, config_file=cfg.source.name)
        return await measure_and_record(
            Run(cfg, db=url), data, timed, engine=engine, run_id=new_run_id(), lock=False
        )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def runs(
    pg: PrivateServer, pg_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Runs]:
    cfg, small = small_config(pg_config, tmp_path_factory.mktemp("figures"))
    url = with_database(pg.url, DATABASE)
    try:
        batch = latest = None
        for _ in range(2):
            batch = await run_scale(Run(cfg, db=url), small, run_id=new_run_id())
            latest = await run_scale(
                Run(cfg, db=url),
                small,
                run_id=new_run_id(),
                workload="latest_cycles",
                registry=LATEST,
            )
        data = await prepare_data(Run(cfg, db=url), small)  # ready, then changed by the test
        async with connection(url) as conn:
            await conn.execute(f"DROP INDEX {BATCH_INDEX}; DROP INDEX {PLAN_INDEX}")
        batch_without = await measured_as_changed(cfg, data, latest=False)
        latest_without = await measured_as_changed(cfg, data, latest=True)
        assert batch is not None and latest is not None
        yield Runs(cfg, url, batch, batch_without, latest, latest_without)
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.drop(DATABASE)


def figures(run: ScaleRun) -> dict[str, object]:
    (entry,) = [e for e in run.record.profile if "support_plan_cycles" in e["statement"]]
    return entry


def test_every_statement_carries_rows_and_buffers_from_the_server(runs: Runs) -> None:
    entry = figures(runs.latest)
    assert entry["buffers_source"] == "pg_stat_statements"
    assert entry["rows"] == 100  # one office's plans, one latest cycle each
    assert isinstance(entry["shared_blks_hit"], int) and isinstance(entry["shared_blks_read"], int)
    print(
        f"\nlatest cycles: {entry['shared_blks_hit']} + {entry['shared_blks_read']} buffers with "
        f"the index, {figures(runs.latest_without)['shared_blks_hit']} + "
        f"{figures(runs.latest_without)['shared_blks_read']} without"
    )


def test_a_dropped_index_under_the_batch_is_named_as_a_plan_change(runs: Runs) -> None:
    comparison = runs.compare(runs.batch_without)
    before, after = runs.batch.record.metrics, runs.batch_without.record.metrics
    assert before["statements"] == after["statements"] == 1  # no statement added
    assert not comparison.regressions  # time can pass: the threshold is x1000
    (change,) = comparison.plan_changes
    assert change.statement.startswith("WITH subscribers AS (SELECT")
    line = next(c for c in comparison.changes if c.startswith("note plan changed: "))
    assert f"support_plan_cycles: Index Scan using {BATCH_INDEX} → Seq Scan" in line
    assert "(`WITH subscribers AS (SELECT" in line  # named down to its statement
    # at this scale a sequential scan of the small table touches fewer blocks than the index
    # lookups did: listed as a note, not a failure
    (fewer,) = comparison.figures
    assert fewer.kind == "buffers" and fewer.after < fewer.before and not fewer.fails
    assert comparison.headline() == "small: passed (2 notes below)"


def test_a_dropped_index_that_multiplies_buffers_fails_the_gate_by_them(runs: Runs) -> None:
    comparison = runs.compare(runs.latest_without)
    before, after = runs.latest.record.metrics, runs.latest_without.record.metrics
    assert before["statements"] == after["statements"] == 1  # no statement added
    assert not comparison.regressions  # nothing timed can fail at a threshold of x1000
    (jump,) = [f for f in comparison.figures if f.kind == "buffers"]
    assert jump.fails and jump.after >= 2 * jump.before and jump.after - jump.before >= 100
    assert jump.statement.startswith("SELECT p.id, c.end_date FROM individual_support_plans p")
    assert comparison.failures == [jump.describe()]
    assert jump.describe().startswith("buffers of `SELECT p.id, c.end_date FROM individual_supp")
    assert comparison.headline().startswith("small: REGRESSED ×")
    assert " buffers in `SELECT p.id, c.end_date" in comparison.headline()


async def test_without_pg_stat_statements_the_buffers_come_from_explain(runs: Runs) -> None:
    """The fallback: EXPLAIN (ANALYZE, BUFFERS) of one call, in its rolled-back transaction."""
    engine = create_engine(runs.url, runs.cfg.pool)
    ctx = WorkloadContext(
        session_factory=create_session_factory(engine, runs.cfg.pool),
        today=runs.batch.info.anchor_date,
    )
    try:
        profile = await profile_run(lambda: latest_cycles(ctx), engine=engine)
        plans = await explain_statements(engine, profile.statements)
    finally:
        await engine.dispose()
    (entry,) = [
        e for e in profile_entries(profile, plans) if "support_plan_cycles" in e["statement"]
    ]
    assert entry["buffers_source"] == "explain"
    assert entry["shared_blks_hit"] + entry["shared_blks_read"] > 0
    assert entry["rows"] == 100
