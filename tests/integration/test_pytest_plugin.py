"""perfkit's pytest plugin, tested as pytest plugins are: small test files run by pytest in a
subprocess (``pytester.runpytest_subprocess``), which loads the plugin from its entry point as a
team's test suite would, against a database on the session's private PostgreSQL.

Each run gets a scales.yaml with two tiny scales (``tiny``, 2 offices; ``later``, after it) and
``PERF_TEST_SCALE=tiny``; the database URL, the state, snapshot and results folders come through
the environment. Covered: the fixtures resolve (shared read-only data, a clone for a writer);
the staging rule skips ``later`` with its reason; budgets from the marker and from scales.yaml
fail a slow test; the plan's test (``tests/performance/test_batch_at_scale.py``, the docs'
worked example) records a run that ``perfkit compare`` and ``perfkit report`` read beside a run of
perfkit's own :func:`~perfkit.pipeline.run_scale`; a suite that asks for no perfkit fixture
reaches no database and reads no scales.yaml; an unreachable or unsafe database fails only the
tests that ask for data, each with perfkit's one line and hint.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from perfkit.config import load_config
from perfkit.database import CLONE_PREFIX, Database
from perfkit.pipeline import run_scale
from perfkit.results import RunRecord, new_run_id, read_records
from perfkit.run import Run
from perfkit.testing import PrivateServer, free_port, run_perfkit_process, scratch_database
from perfkit.urls import password_of

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

DATABASE = "perfkit_plugin_test"
SCALES = {
    "tiny": {
        "offices": 2,
        "timeout": 300,
        "budgets": {"batch": 30, "prepare": 120, "restore": 60},
    },
    "later": {"offices": 3, "timeout": 300},
}
#: The inner suites' ini: pytest-asyncio's auto mode, strict markers, warnings are errors.
INI = """[pytest]
addopts = --strict-markers
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
perfkit_config = scales.yaml
"""
#: The staging rule's reason for skipping the scale after PERF_TEST_SCALE's.
LATER_SKIPPED = "PERF_TEST_SCALE=tiny runs tiny only: 'later' comes after 'tiny'"


@pytest.fixture(scope="module")
async def plugin_db(pg: PrivateServer) -> AsyncIterator[str]:
    """The inner suites' test database, made as ``perfkit db-up`` makes one (perfkit's)."""
    async with scratch_database(pg.url, DATABASE, perfkit_made=True) as url:
        yield url


@pytest.fixture(scope="module")
def shared_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State and snapshots shared by the module's runs (the data is made ready once)."""
    return tmp_path_factory.mktemp("plugin-state")


def write_config(path: Path, config_file: Path) -> Path:
    """The project's scales.yaml with the tiny scales, a short connect timeout, 3 repeats, and
    a workload entry whose budgets a test finds by its name (``by_name``)."""
    raw = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    raw["scales"] = SCALES
    raw["pool"]["connect_timeout"] = 1
    raw["measure"] = {"repeat": 3, "warmup": 1}
    raw.setdefault("app", {})["workloads"] = {
        "deadline_alerts": {"call": "perfkit.apps.welfare.batch:deadline_alerts"},
        "by_name": {
            "call": "perfkit.apps.welfare.batch:deadline_alerts",
            "budgets": {"tiny": {"seconds": 0.05}},
        },
        "stamp_declared": {"call": "perfkit.testing.workloads:stamp_office", "writes": True},
    }
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Suite:
    """An inner test suite: its folder, its scales.yaml and its environment."""

    pytester: pytest.Pytester
    monkeypatch: pytest.MonkeyPatch
    config: Path
    results: Path
    state: Path

    def env(self, **values: str) -> None:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)

    def run(self, **files: str) -> pytest.RunResult:
        """Write ``files`` (name -> source) and run pytest on them in a subprocess."""
        self.pytester.makepyfile(**files)
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", timeout=240)

    def records(self) -> list[RunRecord]:
        return read_records(self.results / "results.jsonl")


@pytest.fixture
def suite(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    config_file: Path,
    shared_dirs: Path,
    tmp_path: Path,
) -> Iterator[Suite]:
    """A suite in pytester's folder with the tiny scales.yaml (by the ini option) and
    ``PERF_TEST_SCALE=tiny``; none of the caller's perfkit settings leak in."""
    for name in list(os.environ):
        if name.startswith("PERFKIT_") or name in (
            "PERFORMANCE_TEST_DATABASE_URL",
            "TEST_DATABASE_URL",
            "PERF_TEST_SCALE",
        ):
            monkeypatch.delenv(name)
    pytester.makeini(INI)
    config = write_config(pytester.path / "scales.yaml", config_file)
    results = tmp_path / "results"
    monkeypatch.setenv("PERF_TEST_SCALE", "tiny")
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(shared_dirs / "state"))
    monkeypatch.setenv("PERFKIT_SNAPSHOT_DIR", str(shared_dirs / "snapshots"))
    monkeypatch.setenv("PERFKIT_RESULTS_DIR", str(results))
    yield Suite(pytester, monkeypatch, config, results, shared_dirs / "state")


def one_line(result: pytest.RunResult) -> str:
    return " ".join(result.stdout.str().split())


FIXTURES_SUITE = """
import datetime as dt

import pytest
from sqlalchemy import exc, text

from perfkit.database import CLONE_PREFIX
from perfkit.urls import database_name


async def test_the_facts(perf_scale, perf_data, perf_session, perf_today):
    assert perf_scale == "tiny" and perf_data.scale.name == "tiny"
    assert perf_data.rows["offices"] == 2 and perf_data.rows["staffs"] == 20
    assert isinstance(perf_today, dt.date) and perf_today == perf_data.anchor_date
    assert perf_data.how in ("kept", "template", "file", "seeded") and not perf_data.cloned
    assert database_name(perf_data.url) == "perfkit_plugin_test"
    assert await perf_session.scalar(text("SELECT count(*) FROM offices")) == 2


async def test_the_shared_data_is_read_only(perf_session):
    with pytest.raises(exc.DBAPIError, match="read-only transaction"):
        await perf_session.execute(text("DELETE FROM support_plan_cycles"))


@pytest.mark.perf_clone
async def test_a_writer_gets_a_clone_of_its_own(perf_data, perf_session):
    assert perf_data.cloned and database_name(perf_data.url).startswith(CLONE_PREFIX)
    assert perf_data.rows["offices"] == 2
    await perf_session.execute(text("DELETE FROM support_plan_cycles"))
    await perf_session.commit()
    assert await perf_session.scalar(text("SELECT count(*) FROM support_plan_cycles")) == 0


async def test_the_shared_data_is_untouched(perf_session):
    assert await perf_session.scalar(text("SELECT count(*) FROM support_plan_cycles")) > 0


def test_without_perfkit():
    pass
"""


async def test_the_fixtures_resolve_and_later_scales_skip(
    suite: Suite, plugin_db: str, pg: PrivateServer
) -> None:
    suite.env(PERFORMANCE_TEST_DATABASE_URL=plugin_db)
    result = suite.run(test_fixtures=FIXTURES_SUITE)
    result.assert_outcomes(passed=5, skipped=4)
    said = one_line(result)
    assert LATER_SKIPPED in said  # -rs groups the four skips by location
    password = password_of(plugin_db)
    assert password and password not in result.stdout.str()
    async with Database(pg.url).admin() as admin:  # the clone was dropped after its test
        left = await admin.conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)", CLONE_PREFIX
        )
    assert left == 0


BUDGETS_SUITE = """
import pytest
from sqlalchemy import text


@pytest.mark.perf_budget(seconds=0.05)
async def test_over_the_markers_budget(perf_session, perf_measure):
    \"\"\"A query slower than the marker allows.\"\"\"
    await perf_measure(lambda: perf_session.execute(text("SELECT pg_sleep(0.1)")))


async def test_by_name(perf_session, perf_measure):
    \"\"\"A query slower than scales.yaml allows a workload of this test's name.\"\"\"
    await perf_measure(lambda: perf_session.execute(text("SELECT pg_sleep(0.1)")))


@pytest.mark.perf_budget(seconds={"tiny": 5, "elsewhere": 1}, statements=1)
async def test_within_budget(perf_session, perf_measure):
    run = await perf_measure(lambda: perf_session.scalar(text("SELECT 1")), name="select_one")
    assert run.result == 1 and run.passed


@pytest.mark.perf_budget(secs=1)
async def test_a_misspelt_budget(perf_session, perf_measure):
    await perf_measure(lambda: perf_session.scalar(text("SELECT 1")))


async def test_a_write_to_the_shared_data(perf_session, perf_measure):
    await perf_measure(lambda: perf_session.execute(text("DELETE FROM support_plan_cycles")))
"""


def test_budgets_fail_a_slow_test_and_its_record_says_so(suite: Suite, plugin_db: str) -> None:
    suite.env(PERFORMANCE_TEST_DATABASE_URL=plugin_db)
    result = suite.run(test_budgets=BUDGETS_SUITE)
    result.assert_outcomes(passed=1, failed=4, skipped=5)
    out = result.stdout.str()
    said = one_line(result)
    assert "Traceback" not in out and "During handling" not in out
    assert "perfkit: tiny: over_the_markers_budget: batch" in said
    # a true inequality, and where each limit was set
    assert "> 50.0 ms (budget from `@perf_budget` in test_budgets.py): OVER BUDGET" in said
    assert "perfkit: tiny: by_name: batch" in said
    assert "(budget from scales.yaml app.workloads.by_name.budgets.tiny.seconds)" in said
    assert "perfkit: @pytest.mark.perf_budget: unknown argument 'secs'" in said
    assert "(hint: e.g. @pytest.mark.perf_budget(seconds=0.5, statements=5)" in said
    assert (
        "perfkit: the test wrote to the shared tiny data, which is read-only (hint: a test "
        "that writes asks for its own clone: @pytest.mark.perf_clone)"
    ) in said
    # the summary shows every measurement, the failed ones too
    assert "[tiny] A query slower than the marker allows." in out
    assert "[tiny] select_one" in out

    records = {r.workload: r for r in suite.records()}
    assert set(records) == {"over_the_markers_budget", "by_name", "select_one"}
    slow = records["over_the_markers_budget"]
    assert not slow.passed and slow.failures[0].startswith("batch")
    assert slow.budgets["batch"] == 0.05 and slow.budgets["statements"] == 5
    assert records["by_name"].budgets["batch"] == 0.05 and not records["by_name"].passed
    assert slow.budget_sources == {
        "batch": "`@perf_budget` in test_budgets.py",
        "statements": "scales.yaml scales.tiny.budgets.statements",
        "prepare": "scales.yaml scales.tiny.budgets.prepare",
        "restore": "scales.yaml scales.tiny.budgets.restore",
    }
    by_name = records["by_name"].budget_sources["batch"]
    assert by_name == "scales.yaml app.workloads.by_name.budgets.tiny.seconds"
    fine = records["select_one"]
    assert fine.passed and fine.budgets == {
        "batch": 5,
        "prepare": 120,
        "restore": 60,
        "statements": 1,
    }
    assert fine.metrics["result"] == 1 and fine.metrics["statements"] == 1
    assert len(fine.samples["batch_seconds"]) == 3
    assert len({r.run_id for r in records.values()}) == 1  # one pytest session, one run


async def test_the_plans_test_records_a_run_that_compare_and_report_read(
    suite: Suite, plugin_db: str, project_root: Path
) -> None:
    suite.env(PERFORMANCE_TEST_DATABASE_URL=plugin_db)
    env = {
        "PERFORMANCE_TEST_DATABASE_URL": plugin_db,
        "PERFKIT_STATE_DIR": str(suite.state),
        "PERFKIT_SNAPSHOT_DIR": str(suite.state.parent / "snapshots"),
        "PERFKIT_RESULTS_DIR": str(suite.results),
    }
    # a run of perfkit's own pipeline first: the plugin's record goes beside it
    cfg = load_config(suite.config, env=env)
    own = await run_scale(Run(cfg, db=plugin_db), cfg.scale("tiny"), run_id=new_run_id())
    assert own.passed, own.failures

    plan_test = project_root / "tests" / "performance" / "test_batch_at_scale.py"
    result = suite.run(test_batch_at_scale=plan_test.read_text(encoding="utf-8"))
    result.assert_outcomes(passed=1, skipped=1)
    out = result.stdout.str()
    assert "[tiny] Deadline-alert e-mail batch" in out
    for shown in ("elapsed", "e-mails ", "for 2 offices", "statement(s)", "budget    statements"):
        assert shown in out
    assert LATER_SKIPPED in one_line(result)

    theirs, ours = suite.records()
    assert theirs.run_id == own.record.run_id
    assert ours.run_id != theirs.run_id and ours.passed
    assert ours.workload == theirs.workload == "deadline_alerts"
    assert ours.dataset["key"] == theirs.dataset["key"]
    assert ours.metrics["emails"] == theirs.metrics["emails"] > 0
    assert ours.metrics["statements"] == 1 and ours.budgets["statements"] == 1

    # processes of their own: pytester takes back, after the test, the modules imported in
    # this one (numpy, which compare imports, cannot be imported twice in one process)
    config = str(suite.config)
    compare = run_perfkit_process("compare", "--config", config, cwd=project_root, env=env)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    said = " ".join(compare.stdout.split())
    assert f"tiny: no regression in run {ours.run_id} against" in said
    report = run_perfkit_process("report", "--config", config, cwd=project_root, env=env)
    assert report.returncode == 0, report.stderr
    assert ours.run_id in report.stdout and theirs.run_id in report.stdout


INERT_SUITE = """
import sys

import pytest


def test_plain():
    assert "perfkit.pytest_support" not in sys.modules  # nothing of perfkit's was loaded


async def test_async():
    pass


@pytest.mark.perf_budget(seconds=1)
def test_a_marker_alone():
    pass
"""


def test_a_suite_without_perfkit_fixtures_reaches_no_database(suite: Suite, tmp_path: Path) -> None:
    """The URL points at a socket that counts connection attempts, scales.yaml does not exist,
    and the state folder must stay unmade: the plugin neither connects nor starts anything."""
    state = tmp_path / "untouched-state"
    with socket.socket() as tripwire:
        tripwire.bind(("127.0.0.1", 0))
        tripwire.listen()
        tripwire.setblocking(False)
        port = tripwire.getsockname()[1]
        suite.env(
            PERFORMANCE_TEST_DATABASE_URL=f"postgresql://perfkit:secret@127.0.0.1:{port}/perf_test",
            PERFKIT_CONFIG=str(tmp_path / "no-such-scales.yaml"),
            PERFKIT_STATE_DIR=str(state),
        )
        result = suite.run(test_inert=INERT_SUITE)
        result.assert_outcomes(passed=3)
        with pytest.raises(BlockingIOError):
            tripwire.accept()  # nobody knocked
    assert not state.exists()


NEEDS_DATA_SUITE = """
async def test_needs_data(perf_data):
    raise AssertionError("never runs: the data is unavailable")


async def test_measures(perf_session, perf_measure):
    raise AssertionError("never runs either")


def test_without_perfkit():
    pass
"""


def test_an_unreachable_database_fails_only_the_tests_that_ask_for_data(suite: Suite) -> None:
    url = f"postgresql://perfkit:s3cret-pw@127.0.0.1:{free_port()}/perf_test"
    suite.env(PERFORMANCE_TEST_DATABASE_URL=url)
    result = suite.run(test_needs_data=NEEDS_DATA_SUITE)
    result.assert_outcomes(passed=1, failed=2, skipped=2)
    out = result.stdout.str()
    assert "Traceback" not in out and "never runs" not in out and "s3cret-pw" not in out
    failures = [line for line in out.splitlines() if line.startswith("perfkit: ")]
    assert len(failures) == 2 and len(set(failures)) == 1
    assert "did not accept connections" in failures[0] and "(hint: " in failures[0]


async def test_an_unsafe_database_fails_the_test_with_the_safety_rule(
    suite: Suite, pg: PrivateServer
) -> None:
    name = "perfkit_plugin_prod"
    async with scratch_database(pg.url, name) as url:
        suite.env(PERFORMANCE_TEST_DATABASE_URL=url)
        result = suite.run(test_needs_data=NEEDS_DATA_SUITE)
        async with Database(url).connect() as conn:  # nothing was written into it
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')"
            )
    assert tables == 0
    result.assert_outcomes(passed=1, failed=2, skipped=2)
    said = one_line(result)
    assert f"perfkit: refusing to modify database '{name}': its name says production" in said
    assert f"(hint: if you are sure, repeat its name: --confirm-database {name})" in said
    assert "Traceback" not in result.stdout.str()


SHARED_DATA_SUITE = """
import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import create_async_engine

from perfkit.urls import with_driver

ACTIVE = text("SELECT count(*) FROM support_plan_cycles WHERE status = 'active'")


async def test_writes_through_the_applications_engine(perf_data):
    engine = create_async_engine(with_driver(perf_data.url, "asyncpg"))
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE support_plan_cycles SET status = 'completed'"))
    async with engine.connect() as conn:  # publish its counters now, not within 10 s
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    await engine.dispose()


async def test_measures_after_the_writer(perf_session, perf_measure):
    await perf_measure(lambda: perf_session.scalar(ACTIVE), name="active_cycles")


async def test_measures_the_restored_data(perf_session, perf_measure):
    run = await perf_measure(lambda: perf_session.scalar(ACTIVE), name="active_cycles")
    assert run.result > 0


async def test_read_write_does_not_make_perf_session_write(perf_session):
    await perf_session.execute(text("SET TRANSACTION READ WRITE"))
    with pytest.raises(exc.DBAPIError, match="permission denied"):
        await perf_session.execute(text("DELETE FROM support_plan_cycles"))


async def test_a_declared_writer_is_not_measured_on_shared_data(perf_session, perf_measure):
    await perf_measure(lambda: perf_session.scalar(ACTIVE), name="stamp_declared")


STAMP = text(
    "UPDATE offices SET name = name || '*' WHERE id = (SELECT id FROM offices ORDER BY id LIMIT 1)"
)


@pytest.mark.perf_clone
async def test_each_run_gets_a_fresh_copy_of_the_clone(perf_session, perf_measure):
    await perf_session.execute(text("UPDATE offices SET name = 'setup'"))  # kept for each run
    await perf_session.commit()

    async def stamp():
        await perf_session.execute(STAMP)
        await perf_session.commit()
        return await perf_session.scalar(text("SELECT count(*) FROM offices WHERE name = 'setup*'"))

    run = await perf_measure(stamp, name="fresh_stamp")
    assert run.result == 1 and run.record.dataset["rows"]["offices"] == 2
"""


async def test_the_shared_data_is_checked_before_each_measurement(
    suite: Suite, plugin_db: str, pg: PrivateServer
) -> None:
    """A test that wrote through the application's own engine fails the next measurement, named;
    the data is restored for the one after; ``SET TRANSACTION READ WRITE`` cannot make
    ``perf_session`` write; a writing workload is refused on shared data; a ``perf_clone``
    test's runs each see its clone as it was when ``perf_measure`` was called."""
    suite.env(PERFORMANCE_TEST_DATABASE_URL=plugin_db)
    raw = yaml.safe_load(suite.config.read_text(encoding="utf-8"))
    raw["measure"] = {"repeat": 1, "warmup": 0}  # each run of the perf_clone test is a clone
    suite.config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    result = suite.run(test_shared=SHARED_DATA_SUITE)
    result.assert_outcomes(passed=4, failed=2, skipped=6)
    out = result.stdout.str()
    said = one_line(result)
    assert "Traceback" not in out
    assert (
        "perfkit: the shared tiny data was changed before this measurement (by one of the "
        "tests run since the last check (test_shared.py::test_writes_through_the_applications"
        "_engine[tiny]) or by this test, or a session still open): its tables were changed "
        "since it was loaded (400 rows updated in support_plan_cycles); it was restored, and "
        "nothing was measured (hint: a test that writes asks for a clone of its own"
    ) in said
    assert (
        "perfkit: workload 'stamp_declared' writes (app.workloads.stamp_declared.writes), and "
        "the tiny data here is shared (hint: measure it in a test marked "
        "@pytest.mark.perf_clone" in said
    )
    failed = set(re.findall(r"_{3,} (test_\w+\[tiny\]) _{3,}", out))  # the failures' headers
    assert failed == {
        "test_measures_after_the_writer[tiny]",
        "test_a_declared_writer_is_not_measured_on_shared_data[tiny]",
    }
    records = [r for r in suite.records() if r.workload in ("active_cycles", "fresh_stamp")]
    assert [r.workload for r in records] == ["active_cycles", "fresh_stamp"]
    assert all(r.passed for r in records)
    async with Database(pg.url).admin() as admin:  # the clone and its frozen copy were dropped
        left = await admin.conn.fetchval(
            "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)", CLONE_PREFIX
        )
    assert left == 0


def test_the_docs_worked_example_is_the_plans_test(project_root: Path) -> None:
    """docs/performance-tests.md shows tests/performance/test_batch_at_scale.py, line for line
    (the module's docstring and ``from __future__`` line aside)."""
    docs = (project_root / "docs" / "performance-tests.md").read_text(encoding="utf-8")
    section = docs.split("### The plan's test, on the plugin", 1)[1]
    shown = section.split("```python\n", 1)[1].split("```", 1)[0]
    test = project_root / "tests" / "performance" / "test_batch_at_scale.py"
    code = test.read_text(encoding="utf-8").split("from __future__ import annotations\n\n", 1)[1]
    assert shown == code
