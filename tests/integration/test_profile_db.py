"""Statement profiles, plans and their comparison on real runs (issue 13).

A small scale is made ready on the session's private PostgreSQL and measured by the real
run code (:func:`perfkit.pipeline.run_scale`), with workloads registered only here:

* an N+1: a workload that reads one office's staff, then the same workload reading every
  office's staff one office at a time: ``compare`` fails and names the multiplied statement;
* a dropped index: the real deadline-alert batch, then the same batch after
  ``ix_support_plan_cycles_active_end_date`` is dropped: ``compare`` names the plan change
  on ``support_plan_cycles`` (a warning by default, a failure with ``plan_change: fail``).
  perfkit's own runs would restore the index first (the data is no longer as built), so the
  test measures that run itself, on the database it changed on purpose, without the guard;
* a workload that writes: explaining its statements leaves the database as it was, also
  when its statement text ends its own transaction (``UPDATE ...; COMMIT``, which psycopg sends
  as it is) and when the engine is in autocommit mode (issue 18).

The profile's overhead (the profiled run against the timed median) is printed.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from perfkit.compare import (
    RegressionError,
    check,
    compare_history,
    rules_from_config,
)
from perfkit.config import Config, Scale
from perfkit.database import Database
from perfkit.db import connection, create_engine, create_session_factory
from perfkit.history import History, load_history
from perfkit.measure import stopwatch
from perfkit.pipeline import (
    ScaleRun,
    measure_and_record,
    prepare_data,
    run_scale,
    workload_timed,
)
from perfkit.profile import StatementStats, explain_statements, profile_run
from perfkit.report import build_report, render_html, render_markdown
from perfkit.results import new_run_id, results_path
from perfkit.run import Run
from perfkit.testing import PrivateServer, run_perfkit, scratch_database, tiny_scale_config
from perfkit.urls import with_database
from perfkit.workload import Workload, WorkloadContext, WorkloadRegistry

pytestmark = pytest.mark.integration

DATABASE = "perfkit_profile_test"
OFFICES = 12
INDEX = "ix_support_plan_cycles_active_end_date"
#: Plain/profiled pairs the overhead test runs.
ROUNDS = 40
STAFF_OF_OFFICE = "SELECT id, full_name, email FROM staffs WHERE office_id = :office"


async def staff_batched(ctx: WorkloadContext) -> int:
    """Office staff, read in one statement (plus the first office's, on its own)."""
    async with ctx.session_factory() as session:
        offices = (await session.execute(text("SELECT id FROM offices ORDER BY id"))).scalars()
        ids = list(offices)
        first = await session.execute(text(STAFF_OF_OFFICE), {"office": ids[0]})
        rows = await session.execute(
            text("SELECT id, full_name, email FROM staffs WHERE office_id = ANY(:ids)"),
            {"ids": ids},
        )
        return len(first.all()) + len(rows.all())


async def staff_n_plus_one(ctx: WorkloadContext) -> int:
    """Office staff, read one office at a time (an N+1, on purpose)."""
    async with ctx.session_factory() as session:
        offices = (await session.execute(text("SELECT id FROM offices ORDER BY id"))).scalars()
        ids = list(offices)
        total = 0
        for office in ids:
            total += len((await session.execute(text(STAFF_OF_OFFICE), {"office": office})).all())
        return total


def registry(fn: object) -> WorkloadRegistry:
    """``office_staff`` bound to ``fn``: the same workload, before and after a change."""
    spec = Workload(name="office_staff", label="office staff", fn=fn)  # type: ignore[arg-type]
    return WorkloadRegistry({"office_staff": spec})


@dataclass(frozen=True)
class ProfileRuns:
    cfg: Config
    config_file: Path
    url: str
    batched: ScaleRun
    n_plus_one: ScaleRun
    with_index: ScaleRun
    without_index: ScaleRun

    @property
    def history(self) -> History:
        return load_history(results_path(self.cfg))


async def without_the_index(cfg: Config, scale: Scale, url: str) -> ScaleRun:
    """The batch measured after the test dropped its index: data ready first, then the index
    dropped, then measured as a database of the caller's own (``lock=False``: no guard, which
    would restore the index before measuring)."""
    data = await prepare_data(Run(cfg, db=url), scale)
    async with connection(url) as conn:
        await conn.execute(f"DROP INDEX {INDEX}")
    app = Run(cfg).app
    engine = create_engine(url, cfg.pool, driver=app.driver)
    try:
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, cfg.pool), today=data.anchor_date
        )
        timed = workload_timed(app, app.workload(None), ctx, scale=scale.name)
        return await measure_and_record(
            Run(cfg, db=url), data, timed, engine=engine, run_id=new_run_id(), lock=False
        )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def runs(
    pg: PrivateServer, pg_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ProfileRuns]:
    root = tmp_path_factory.mktemp("profile")
    cfg, tiny, config_file = tiny_scale_config(pg_config, root, offices=OFFICES)
    url = with_database(pg.url, DATABASE)
    try:

        async def run(**kwargs: object) -> ScaleRun:
            return await run_scale(Run(cfg, db=url), tiny, **kwargs, run_id=new_run_id())  # type: ignore[arg-type]

        batched = await run(workload="office_staff", registry=registry(staff_batched))
        n_plus_one = await run(workload="office_staff", registry=registry(staff_n_plus_one))
        # At this scale the planner reads support_plan_cycles through the batch's index
        # (the test asserts it); without the index, sequentially.
        with_index = await run()
        without_index = await without_the_index(cfg, tiny, url)
        yield ProfileRuns(cfg, config_file, url, batched, n_plus_one, with_index, without_index)
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.drop(DATABASE)


def test_every_record_holds_a_profile_and_the_time_split(runs: ProfileRuns) -> None:
    record = runs.batched.record
    assert record.profile, "no statement profile"
    by_text = {e["statement"]: e for e in record.profile}
    staff = by_text["SELECT id, full_name, email FROM staffs WHERE office_id = ?"]
    assert staff["calls"] == 1 and staff["rows"] > 0 and staff["mean_ms"] > 0
    assert {"fingerprint", "total_ms", "mean_ms"} <= staff.keys()
    assert "plan" in record.profile[0]
    m = record.metrics
    assert m["db_seconds"] > 0 and m["app_seconds"] >= 0 and 0 < m["db_share"] <= 1
    # perfkit's native server preloads pg_stat_statements: the server's own figures agree
    assert m["server_statement_figures"] == 1
    assert staff["server_calls"] == 1 and staff["server_total_ms"] >= 0
    n_plus_one = {e["statement"]: e for e in runs.n_plus_one.record.profile}
    per_office = n_plus_one["SELECT id, full_name, email FROM staffs WHERE office_id = ?"]
    assert per_office["calls"] == per_office["server_calls"] == OFFICES
    assert any(
        "database" in line and "application" in line for line in runs.batched.summary_lines()
    )


def test_the_n_plus_one_fails_the_gate_named_by_its_statement(runs: ProfileRuns) -> None:
    (comparison,) = compare_history(
        runs.history,
        baseline="median:3",
        rules=rules_from_config(runs.cfg.regression),
        run_id=runs.n_plus_one.record.run_id,
    )
    print("\n".join([comparison.summary(), *comparison.changes]))
    multiplied = [s for s in comparison.statements if s.kind == "multiplied"]
    assert len(multiplied) == 1
    shown = "`SELECT id, full_name, email FROM staffs WHERE office_id = ?`"
    assert multiplied[0].describe() == f"N+1: {shown} went 1 → {OFFICES} calls"
    vanished = [s for s in comparison.statements if s.kind == "vanished"]
    assert [s.statement for s in vanished] == [
        "SELECT id, full_name, email FROM staffs WHERE office_id = ANY(?)"
    ]
    with pytest.raises(RegressionError) as info:
        check([comparison])
    assert info.value.exit_code == 6
    assert "N+1: `SELECT id, full_name, email FROM staffs" in str(info.value)


def test_the_dropped_index_is_named_as_a_plan_change(runs: ProfileRuns) -> None:
    before = runs.with_index.record.profile[0]["plan"]
    assert INDEX in str(before["shape"]), before["shape"]
    rules = rules_from_config(runs.cfg.regression)
    history = runs.history
    run_id = runs.without_index.record.run_id
    (warned,) = compare_history(history, baseline="median:1", rules=rules, run_id=run_id)
    print("\n".join([warned.summary(), *warned.changes]))
    (change,) = warned.plan_changes
    (scan,) = [s for s in change.scan_changes() if s.startswith("support_plan_cycles:")]
    assert scan == f"support_plan_cycles: Index Scan using {INDEX} → Seq Scan", scan
    assert not change.fails and warned.ok  # the default: a warning
    (failed,) = compare_history(
        history, baseline="median:1", rules=rules, run_id=run_id, plan_change="fail"
    )
    assert not failed.ok and any(f.startswith("plan changed: ") for f in failed.failures)


def test_invoke_compare_prints_the_n_plus_one(runs: ProfileRuns, project_root: Path) -> None:
    run_id = runs.n_plus_one.record.run_id
    done = run_perfkit(
        "compare", "--config", str(runs.config_file), "--run-id", run_id, cwd=project_root
    )
    said = " ".join((done.stdout + done.stderr).split())  # the comparison, then the one line
    assert done.returncode == 6, done.stderr
    assert "FAIL N+1: `SELECT id, full_name, email FROM staffs WHERE office_id = ?` went 1" in said


async def test_the_profile_stays_out_of_the_timed_runs_and_its_overhead_is_small(
    runs: ProfileRuns,
) -> None:
    """The profiled run is an extra one after the timed repeats, so the samples carry none of
    its cost. What it would cost is measured here anyway and printed: the N+1 workload
    (13 statements) run alternately plain and profiled, medians compared."""
    assert len(runs.n_plus_one.measurement.samples) == 3
    engine = create_engine(runs.url, runs.cfg.pool)
    ctx = WorkloadContext(
        session_factory=create_session_factory(engine, runs.cfg.pool), today=dt.date.today()
    )

    async def workload() -> None:
        await staff_n_plus_one(ctx)

    plain: list[float] = []
    profiled: list[float] = []
    try:
        for _ in range(5):
            await workload()
        for _ in range(ROUNDS):
            with stopwatch() as sw:
                await workload()
            plain.append(sw.seconds)
            profiled.append((await profile_run(workload, engine=engine)).wall_seconds)
    finally:
        await engine.dispose()
    overhead = statistics.median(profiled) / statistics.median(plain) - 1
    print(
        f"\nprofile overhead: plain median {statistics.median(plain) * 1000:.3f} ms, "
        f"profiled median {statistics.median(profiled) * 1000:.3f} ms over {ROUNDS} rounds: "
        f"{overhead:+.1%}"
    )
    assert overhead < 0.5  # generous: shared CI machines; the number is what matters


async def test_explaining_a_write_leaves_the_database_unchanged(runs: ProfileRuns) -> None:
    engine = create_engine(runs.url, runs.cfg.pool)
    checksum = text(
        "SELECT count(*), md5(coalesce(string_agg(id::text || name, ',' ORDER BY id), '')) "
        "FROM offices"
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS scratch_notes (n int)"))

        async def writes() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO scratch_notes (n) VALUES (:n)"), {"n": 1})
                await conn.execute(
                    text(
                        "UPDATE offices SET name = name || '!' "
                        "WHERE name = (SELECT min(name) FROM offices)"
                    )
                )
                await conn.execute(text("DELETE FROM scratch_notes WHERE n = :n"), {"n": 2})

        profile = await profile_run(writes, engine=engine)
        async with engine.connect() as conn:
            before = (await conn.execute(checksum)).one()
            notes_before = await conn.scalar(text("SELECT count(*) FROM scratch_notes"))
        plans = await explain_statements(engine, profile.statements, limit=10)
        async with engine.connect() as conn:
            after = (await conn.execute(checksum)).one()
            notes_after = await conn.scalar(text("SELECT count(*) FROM scratch_notes"))
        kinds = {s.statement.split()[0] for s in profile.statements if s.fingerprint in plans}
        assert {"INSERT", "UPDATE", "DELETE"} <= kinds
        assert all("shape_hash" in p for p in plans.values()), plans
        assert before == after and notes_before == notes_after == 1
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS scratch_notes"))
        await engine.dispose()


def test_the_report_shows_where_the_time_goes(runs: ProfileRuns) -> None:
    history = runs.history
    comparisons = compare_history(
        history,
        baseline="median:1",
        rules=rules_from_config(runs.cfg.regression),
        run_id=runs.without_index.record.run_id,
    )
    data = build_report(history, comparisons=comparisons)
    md = render_markdown(data)
    assert "## Where the time goes: tiny (deadline_alerts)" in md
    assert f"Plan changed: support_plan_cycles: Index Scan using {INDEX} → Seq Scan" in md
    assert "Seq Scan on support_plan_cycles" in md
    # the verdict lists the plan change, named down to its statement
    assert f"- note plan changed: support_plan_cycles: Index Scan using {INDEX} → Seq Scan" in md
    page = render_html(data)
    assert '<span class="share"' in page  # each statement's share of the database time
    assert "<details><summary>plan of <code>WITH subscribers" in page
    assert '<th class="text">before</th><th class="text">after</th>' in page


def test_invoke_explain_prints_the_profile_and_plans(runs: ProfileRuns, project_root: Path) -> None:
    done = run_perfkit(
        "explain",
        "--config",
        str(runs.config_file),
        "--scale",
        "tiny",
        cwd=project_root,
        env={"PERFORMANCE_TEST_DATABASE_URL": runs.url},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("[tiny] deadline_alerts: ") and "database" in out
    assert " 1. 1x  total " in out and "slowest node: " in out
    assert "on support_plan_cycles" in out  # its plan, node by node
    assert len(load_history(results_path(runs.cfg))) == 4  # no run record written
    as_json = run_perfkit(
        "explain", "--config", str(runs.config_file), "-s", "tiny", "--top", "1", "--json",
        cwd=project_root, env={"PERFORMANCE_TEST_DATABASE_URL": runs.url},
    )  # fmt: skip
    report = json.loads(as_json.stdout)
    assert report["scale"] == "tiny" and report["workload"] == "deadline_alerts"
    assert report["wall_seconds"] >= report["db_seconds"] > 0 and 0 < report["db_share"] <= 1
    top = report["statements"][0]
    assert top["calls"] == 1 and top["statement"].startswith("WITH subscribers")
    plan = report["plans"][top["fingerprint"]]
    assert plan["shape_hash"] and plan["slowest_node"] and plan["execution_ms"] > 0
    assert len(load_history(results_path(runs.cfg))) == 4


async def test_psycopg_gives_the_same_statements_and_plans(runs: ProfileRuns) -> None:
    """The profile comes from SQLAlchemy's events: psycopg's ``%(name)s`` statements
    normalize to the very fingerprints asyncpg's ``$n`` ones do, and explain alike."""
    by_driver = {}
    for driver in ("asyncpg", "psycopg"):
        engine = create_engine(runs.url, runs.cfg.pool, driver=driver)
        ctx = WorkloadContext(
            session_factory=create_session_factory(engine, runs.cfg.pool), today=dt.date.today()
        )

        async def workload(ctx: WorkloadContext = ctx) -> None:
            await staff_batched(ctx)

        try:
            profile = await profile_run(workload, engine=engine)
            plans = await explain_statements(engine, profile.statements, limit=10)
        finally:
            await engine.dispose()
        assert all("shape_hash" in p for p in plans.values()), (driver, plans)
        by_driver[driver] = {
            s.fingerprint: (s.statement, s.calls, s.rows, plans[s.fingerprint]["shape_hash"])
            for s in profile.statements
        }
    assert by_driver["psycopg"] == by_driver["asyncpg"]


@pytest.fixture
async def counter_url(pg: PrivateServer) -> AsyncIterator[str]:
    """A scratch database with ``counter(n)`` holding one row, 0."""
    async with scratch_database(pg.url, "perfkit_explain_commit_test") as url:
        async with connection(url) as conn:
            await conn.execute("CREATE TABLE counter (n int NOT NULL)")
            await conn.execute("INSERT INTO counter VALUES (0)")
        yield url


async def counted(url: str) -> int:
    async with connection(url) as conn:
        return int(await conn.fetchval("SELECT n FROM counter"))


async def test_a_text_that_commits_itself_is_not_explained(
    counter_url: str, pg_config: Config
) -> None:
    """psycopg sends ``UPDATE ...; COMMIT`` (no parameters) as one simple-protocol text: the
    workload's own run commits once, and EXPLAIN ANALYZE of the same text would commit again.
    It is refused with "plan not taken: 2 statements in one call" and commits nothing."""
    engine = create_engine(counter_url, pg_config.pool, driver="psycopg")
    bump = "UPDATE counter SET n = n + 1; COMMIT"

    async def workload() -> None:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(bump)

    try:
        profile = await profile_run(workload, engine=engine)
        assert await counted(counter_url) == 1  # the workload's own commit
        plans = await explain_statements(engine, profile.statements, limit=10)
    finally:
        await engine.dispose()
    (stats,) = [s for s in profile.statements if s.sql == bump]
    assert plans[stats.fingerprint] == {
        "error": "plan not taken: 2 statements in one call, with transaction control (COMMIT)"
    }
    assert await counted(counter_url) == 1


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_explain_never_runs_outside_a_transaction(
    counter_url: str, pg_config: Config, driver: str
) -> None:
    """An engine in autocommit mode cannot roll EXPLAIN ANALYZE back: the plan is not taken,
    and the write is not made."""
    engine = create_engine(counter_url, pg_config.pool, driver=driver)
    stats = StatementStats(fingerprint="f", statement="", sql="UPDATE counter SET n = n + 1")
    try:
        plans = await explain_statements(
            engine.execution_options(isolation_level="AUTOCOMMIT"), [stats]
        )
        assert "error" in plans["f"] and "SAVEPOINT" in plans["f"]["error"]
        assert await counted(counter_url) == 0
        plans = await explain_statements(engine, [stats])  # in a transaction: explained
    finally:
        await engine.dispose()
    assert "shape_hash" in plans["f"]
    assert await counted(counter_url) == 0
