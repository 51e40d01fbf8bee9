"""The pytest plugin's ``perf_client``, ``perf_load``, ``perf_variant`` and ``perf_measure``'s
memory option, tested as pytest plugins are: a small test file run by pytest in a subprocess
(``pytester.runpytest_subprocess``), which loads the plugin from its entry point as a team's
suite would, on the home-care example's scales.yaml (3 agencies, its HTTP workload and its
variant) against a database on the session's private PostgreSQL.

Covered: the client on the app with the overrides; a load by name (closed model) and an inline
script (open model); a percentile budget that fails the test after its record is written; a
variant's clone, on which the load completes and the counts changed, the shared data untouched
and the record naming the variant; memory figures and budgets in a callable's record.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from perfkit.db import connection
from perfkit.results import read_records
from perfkit.testing import PrivateServer, databases_named, drop_databases, scratch_database

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "homecare"
INI = """[pytest]
addopts = --strict-markers
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
perfkit_config = scales.yaml
"""

SUITE = """
import pytest
from sqlalchemy import text


async def clients(session):
    return (await session.execute(text("SELECT count(*) FROM clients"))).scalar_one()


async def test_the_client(perf_client):
    body = (await perf_client.get("/api/dashboard")).json()  # the first caregiver's agency
    assert body["clients"] > 0 and body["caregivers"] > 0


async def test_a_load_by_name(perf_load):
    run = await perf_load("dashboard", users=2, iterations=60, warmup=5)
    p = run.percentiles()
    assert 0 < p["p50"] <= p["p95"] <= p["max"]
    assert (run.result.iterations, run.result.errors) == (60, 0)
    assert run.result.statements_per_request == 2


async def test_an_inline_script_at_a_rate(perf_load):
    script = {"requests": [{"path": "/health"}]}
    run = await perf_load(script, rate=100, iterations=50, warmup=0, name="health")
    assert run.result.model == "open" and run.result.send_lag is not None


async def test_a_percentile_over_budget(perf_load):
    await perf_load("dashboard", users=1, iterations=40, warmup=2, budgets={"p50": 1e-6})


async def test_a_variant(perf_variant, perf_load, perf_session):
    variant = await perf_variant("empty_agency")
    assert variant.data.variant == "empty_agency" and variant.data.cloned
    assert variant.report.changes[0].startswith("DELETE ")
    async with variant.session() as session:
        assert await clients(session) < await clients(perf_session)
    run = await perf_load("dashboard", users=1, iterations=20, warmup=0, on=variant)
    assert run.result.errors == 0  # the workload completed on the changed data


async def test_memory_figures(perf_measure, perf_session):
    async def count():
        return await clients(perf_session)

    run = await perf_measure(
        count, name="count_clients", memory={"runs": 4, "warmup": 1},
        memory_budgets={"leak_ratio": 0.5, "retained_heap_mb": 50},
    )
    assert run.memory is not None and len(run.memory.retained_bytes) == 4
"""


@pytest.fixture
async def homecare_db(pg: PrivateServer) -> AsyncIterator[str]:
    before = set(await databases_named(pg.url, "perfkit_tpl_"))
    async with scratch_database(pg.url, "homecare_plugin_test", perfkit_made=True) as url:
        yield url
    await drop_databases(pg.url, *set(await databases_named(pg.url, "perfkit_tpl_")) - before)


async def test_the_http_load_and_variant_fixtures(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    homecare_db: str,
) -> None:
    for name in list(os.environ):
        if name.startswith(("PERFKIT_", "APP_")) or name in (
            "PERFORMANCE_TEST_DATABASE_URL",
            "TEST_DATABASE_URL",
            "PERF_TEST_SCALE",
        ):
            monkeypatch.delenv(name)
    raw = yaml.safe_load((EXAMPLE / "scales.yaml").read_text(encoding="utf-8"))
    raw["app"]["import_root"] = str(EXAMPLE)
    raw["app"]["requirements"] = str(EXAMPLE / "requirements.txt")
    raw["scales"] = {"tiny": {**raw["scales"]["small"], "offices": 3}}
    (pytester.path / "scales.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    pytester.makeini(INI)
    results = tmp_path / "results"
    for var, value in {
        "PERF_TEST_SCALE": "tiny",
        "PERFORMANCE_TEST_DATABASE_URL": homecare_db,
        "PERFKIT_STATE_DIR": str(tmp_path / "state"),
        "PERFKIT_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "PERFKIT_RESULTS_DIR": str(results),
    }.items():
        monkeypatch.setenv(var, value)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf", timeout=240)

    result.assert_outcomes(passed=5, failed=1)
    out = " ".join(result.stdout.str().split())
    assert "FAILED test_suite.py::test_a_percentile_over_budget" in out
    assert "perfkit: tiny: dashboard: p50" in out and "OVER BUDGET" in out
    assert "[tiny] Coordinators open the dashboard (GET /api/dashboard)" in out  # the summary

    records = read_records(results / "results.jsonl")
    assert sorted((r.workload, r.passed) for r in records) == [
        ("count_clients", True),
        ("dashboard", False),
        ("dashboard", True),
        ("dashboard", True),
        ("health", True),
    ]
    (varied,) = [r for r in records if r.dataset.get("variant")]
    assert varied.dataset["variant"] == "empty_agency" and varied.workload == "dashboard"
    (failed,) = [r for r in records if not r.passed]
    assert failed.budgets["p50"] == 1e-6 and failed.failures[0].startswith("p50 ")
    assert failed.budget_sources["p50"] == "`perf_load(budgets=...)` in test_suite.py"
    assert failed.budget_sources["errors"].startswith("perfkit's rule")
    (memory,) = [r for r in records if r.workload == "count_clients"]
    for key in ("retained_heap_mb", "heap_growth_per_run_kb", "leak_ratio", "peak_rss_mb"):
        assert key in memory.metrics
    assert len(memory.samples["retained_heap_mb"]) == 4
    assert memory.budgets["leak_ratio"] == 0.5
    given = "`perf_measure(memory_budgets=...)` in test_suite.py"
    assert memory.budget_sources["leak_ratio"] == given
    (health,) = [r for r in records if r.workload == "health"]
    assert health.metrics["rate"] == 100 and health.metrics["requests"] == 50
    async with connection(homecare_db) as conn:  # the variant changed its clone only
        assert await conn.fetchval("SELECT count(*) FROM clients") == 3 * 100
