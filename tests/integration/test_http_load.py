"""HTTP workloads, load, memory and variants, on the home-care example's API and data.

The example's scales.yaml (paths made absolute) with one scale of 3 agencies is prepared once
for the module on the private server (seeded, snapshotted, kept as a template); the example
application (``examples/homecare/homecare/api.py``) is imported in this process, as perfkit
imports an application: its settings placeholders and its database variable pointing at the
test database. Covered:

- closed and open load through the app in process: percentiles from the HDR histogram, no
  error, statements per request counted; a percentile budget that fails;
- the overrides: the rate limiter left on makes 429s, which count as errors unless the
  script allows them; off (``disable``), none;
- correctness: the dashboard's counts equal this module's own SQL for every coordinator;
- the uvicorn mode, once: a real server process on 127.0.0.1, gone afterwards;
- the writing endpoint on a clone: the row changed there, the shared data unchanged; the
  same request on the shared (read-only) data fails;
- a variant on a clone: the workload completes, its result changes as the variant says, the
  shared data is untouched; a variant never applies to the shared data;
- the leak figure: a workload that keeps what it made shows growth per run, one that does
  not shows none.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import sys
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from perfkit.config import Config, Scale, load_config
from perfkit.db import connection, create_session_factory, open_engine
from perfkit.http.server import ServerError
from perfkit.http.target import bound_script, http_target, run_script_load, script_operation
from perfkit.httpconfig import HttpApp, HttpWorkload
from perfkit.loadconfig import LoadBudgets, LoadSettings, MemorySettings
from perfkit.loadgen import check_load, run_load
from perfkit.loading import load_application
from perfkit.memory import memory_profile
from perfkit.pipeline import pinned_clock
from perfkit.prepare import prepare
from perfkit.run import Run
from perfkit.snapshot.prepare import cloned_database
from perfkit.snapshot.variants import VariantTargetError, apply_variant, variant_database
from perfkit.testing import PrivateServer, databases_named, drop_databases, scratch_database
from perfkit.typedconfig import build
from perfkit.urls import password_of
from perfkit.variants import VariantConfig

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "homecare"
AGENCIES = 3
SOURCE = "scales.yaml"

#: What perfkit's scales.yaml would say under app.http for the example (phase 2 reads it there).
HTTP = {
    "app": "homecare.api:app",
    "overrides": {
        "db_session": "homecare.api:get_db",
        "current_user": {
            "dependency": "homecare.api:current_caregiver",
            "sql": "SELECT id FROM caregivers ORDER BY id",
            "model": "homecare.models:Caregiver",
        },
        "disable": ["homecare.api:rate_limit"],
    },
    "server": {"ready_path": "/health"},
}
#: A coordinator of each agency opens the dashboard, one agency after the other.
COORDINATORS = (
    "SELECT c.id AS caregiver_id, c.home_agency_id AS agency_id FROM caregivers c "
    "WHERE c.role = 'coordinator' ORDER BY c.home_agency_id, c.id"
)
DASHBOARD_REQUEST = {
    "method": "GET",
    "path": "/api/dashboard",
    "query": {"due_within_days": 30},
    "user": "{caregiver_id}",
}
DASHBOARD = {
    "kind": "http",
    "label": "A coordinator opens the dashboard",
    "rows": {"sql": COORDINATORS},
    "requests": [DASHBOARD_REQUEST],
    "load": {"users": 4, "iterations": 200, "warmup": 10},
}

#: The dashboard's counts for agency $1 on day $2, stated again from the example's docstring.
DASHBOARD_SQL = """
    SELECT
      (SELECT count(*) FROM clients WHERE agency_id = $1 AND is_active) AS clients,
      (SELECT count(*) FROM review_cycles r JOIN care_plans p ON p.id = r.care_plan_id
        WHERE p.agency_id = $1 AND NOT p.is_archived AND r.is_latest AND r.status = 'open')
        AS open_reviews,
      (SELECT count(*) FROM review_cycles r JOIN care_plans p ON p.id = r.care_plan_id
        WHERE p.agency_id = $1 AND NOT p.is_archived AND r.is_latest AND r.status = 'open'
          AND r.due_on <= $2::date + 30) AS due_reviews,
      (SELECT count(*) FROM agency_caregivers WHERE agency_id = $1) AS caregivers
"""

FIRST_AGENCY_CAREGIVER = (
    "SELECT id AS caregiver_id FROM caregivers "
    "WHERE home_agency_id = (SELECT id FROM agencies ORDER BY id LIMIT 1) ORDER BY id LIMIT 1"
)
EMPTY_AGENCY = VariantConfig(
    description="the first agency has no clients",
    sql=("DELETE FROM clients WHERE agency_id = (SELECT id FROM agencies ORDER BY id LIMIT 1)",),
)


@dataclass(frozen=True)
class Homecare:
    """The prepared example: its config, scale, shared database and the data's day."""

    cfg: Config
    scale: Scale
    url: str
    anchor: dt.date
    http: HttpApp

    def workload(self, **changes: Any) -> HttpWorkload:
        return build(
            HttpWorkload, {**DASHBOARD, **changes}, source=SOURCE, key_path="app.workloads.d"
        )


@pytest.fixture(scope="module")
def saved_environment() -> Iterator[None]:
    """The process's environment and ``sys.path`` as they were, after the module (importing
    the example sets its settings and puts its folder on the path)."""
    env, path = dict(os.environ), list(sys.path)
    yield
    os.environ.clear()
    os.environ.update(env)
    sys.path[:] = path


@pytest.fixture(scope="module")
async def homecare(
    pg: PrivateServer, tmp_path_factory: pytest.TempPathFactory, saved_environment: None
) -> AsyncIterator[Homecare]:
    """The example's data at 3 agencies, prepared once (seed, snapshot, template)."""
    tmp = tmp_path_factory.mktemp("homecare-http")
    raw = yaml.safe_load((EXAMPLE / "scales.yaml").read_text(encoding="utf-8"))
    raw["app"]["import_root"] = str(EXAMPLE)
    raw["app"]["requirements"] = str(EXAMPLE / "requirements.txt")
    raw["scales"] = {"tiny": {**raw["scales"]["small"], "offices": AGENCIES}}
    raw["pool"]["pool_size"] = 5
    config = tmp / "scales.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    before = set(await databases_named(pg.url, "perfkit_tpl_"))
    async with scratch_database(pg.url, "homecare_http_test", perfkit_made=True) as url:
        cfg = load_config(
            config,
            env={
                "PERFORMANCE_TEST_DATABASE_URL": url,
                "PERFKIT_STATE_DIR": str(tmp / "state"),
                "PERFKIT_SNAPSHOT_DIR": str(tmp / "snapshots"),
            },
        )
        scale = cfg.scale("tiny")
        report = await prepare(Run(cfg, db=url), scale)
        load_application(Run(cfg))  # the example's settings, as perfkit imports an application
        yield Homecare(
            cfg=cfg,
            scale=scale,
            url=url,
            anchor=report.info.anchor_date,
            http=build(HttpApp, HTTP, source=SOURCE, key_path="app.http"),
        )
    await drop_databases(pg.url, *set(await databases_named(pg.url, "perfkit_tpl_")) - before)


async def dashboard_counts(url: str, agency: object, day: dt.date) -> dict[str, int]:
    async with connection(url) as conn:
        return dict(await conn.fetchrow(DASHBOARD_SQL, agency, day))


def check_ordered(result_percentiles: dict[str, float]) -> None:
    values = [result_percentiles[k] for k in ("p50", "p90", "p95", "p99", "max")]
    assert values == sorted(values) and values[0] > 0


async def test_closed_load_in_process_counts_percentiles_errors_and_statements(
    homecare: Homecare,
) -> None:
    workload = homecare.workload()
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        with pinned_clock(homecare.anchor):
            result = await run_script_load(
                target, workload, source=SOURCE, key_path="app.workloads.d"
            )
    assert result.model == "closed"
    assert (result.iterations, result.requests, result.errors) == (200, 200, 0)
    assert result.latency.count == 200
    check_ordered(result.percentiles())
    assert result.throughput > 0
    # the current caregiver, loaded in the request's session, then the dashboard's one SELECT
    assert result.statements_per_request == 2.0
    budgets = {"p95": 30.0, "errors": 0, "statements_per_request": 2}
    checks, problems = check_load(result, LoadBudgets.from_config(budgets))
    assert all(c.ok for c in checks) and not problems
    assert {c.name for c in checks} == {"p95", "errors", "statements_per_request"}


async def test_open_load_counts_latency_from_the_intended_send_time(homecare: Homecare) -> None:
    workload = homecare.workload(load={"rate": 100, "iterations": 100, "warmup": 5})
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        with pinned_clock(homecare.anchor):
            result = await run_script_load(
                target, workload, source=SOURCE, key_path="app.workloads.d"
            )
    assert result.model == "open"
    assert (result.iterations, result.errors) == (100, 0)
    check_ordered(result.percentiles())
    assert result.send_lag is not None and result.send_lag.count == 100
    # the schedule was kept: the 100th iteration was due 0.99 s after the first
    assert result.seconds >= 0.99


async def test_a_percentile_budget_too_tight_fails_the_run(homecare: Homecare) -> None:
    workload = homecare.workload(load={"users": 2, "iterations": 120, "warmup": 2})
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        with pinned_clock(homecare.anchor):
            result = await run_script_load(
                target, workload, source=SOURCE, key_path="app.workloads.d"
            )
    budgets = build(LoadBudgets, {"p95": 1e-6, "p50": 60, "errors": 0}, source=SOURCE, key_path="b")
    checks, problems = check_load(result, budgets)
    failed = [c for c in checks if not c.ok]
    assert [c.name for c in failed] == ["p95"]
    assert "OVER BUDGET" in failed[0].describe()
    assert not problems  # 120 iterations are enough for a p95 (20 are)


async def test_a_rate_limiter_left_on_makes_errors_unless_the_script_allows_them(
    homecare: Homecare,
) -> None:
    limited = msgspec.structs.replace(
        homecare.http, overrides=msgspec.structs.replace(homecare.http.overrides, disable=())
    )
    # one caregiver, 60 requests as fast as they come back: past 5 in a second, 429s
    one_user = {"sql": "SELECT id AS caregiver_id FROM caregivers ORDER BY id LIMIT 1"}
    load = {"users": 2, "iterations": 60, "warmup": 0}
    strict = homecare.workload(rows=one_user, load=load)
    lenient = homecare.workload(
        rows=one_user, load=load, requests=[{**DASHBOARD_REQUEST, "allow": [429]}]
    )
    async with http_target(homecare.cfg, limited, url=homecare.url) as target:
        with pinned_clock(homecare.anchor):
            refused = await run_script_load(target, strict, source=SOURCE, key_path="w")
            allowed = await run_script_load(target, lenient, source=SOURCE, key_path="w")
    assert refused.errors > 0
    assert set(refused.error_kinds) == {"GET /api/dashboard -> 429"}
    checks, _ = check_load(refused, None)
    assert [(c.name, c.ok) for c in checks] == [("errors", False)]  # any error fails the run
    assert allowed.errors == 0
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        with pinned_clock(homecare.anchor):
            unlimited = await run_script_load(target, strict, source=SOURCE, key_path="w")
    assert unlimited.errors == 0


async def test_the_dashboard_counts_equal_independent_sql(homecare: Homecare) -> None:
    workload = homecare.workload()
    async with connection(homecare.url) as conn:
        coordinators = await conn.fetch(COORDINATORS)
    assert len({r["agency_id"] for r in coordinators}) == AGENCIES
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        script = await bound_script(target, workload, source=SOURCE, key_path="w")
        assert len(script.rows) == len(coordinators)
        with pinned_clock(homecare.anchor):
            for i, row in enumerate(coordinators):
                (call,) = script.calls(i)
                response = await target.client.get(
                    call.path, params=call.params, headers={"x-perfkit-user": call.user or ""}
                )
                assert response.status_code == 200, response.text
                body = response.json()
                expected = await dashboard_counts(homecare.url, row["agency_id"], homecare.anchor)
                assert body["agency_id"] == str(row["agency_id"])
                assert {k: body[k] for k in expected} == expected
                assert body["clients"] > 0 and body["due_reviews"] <= body["open_reviews"]


def port_open(base_url: str) -> bool:
    parts = urllib.parse.urlsplit(base_url)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((parts.hostname or "", parts.port or 0)) == 0


async def test_the_uvicorn_mode_serves_the_app_in_a_process_of_its_own(
    homecare: Homecare,
) -> None:
    workload = homecare.workload(mode="server", load={"users": 2, "iterations": 40, "warmup": 4})
    async with http_target(homecare.cfg, homecare.http, url=homecare.url, mode="server") as target:
        base_url = str(target.client.base_url)
        assert base_url.startswith("http://127.0.0.1:")
        assert (await target.client.get("/health")).json() == {"status": "ok"}
        result = await run_script_load(target, workload, source=SOURCE, key_path="w")
    assert (result.iterations, result.errors) == (40, 0)
    check_ordered(result.percentiles())
    assert result.statements is None  # counted in process only
    _, problems = check_load(result, LoadBudgets(statements_per_request=2))
    assert problems and "in process only" in problems[0]
    assert not port_open(base_url)  # the server is gone


async def caregiver_name(url: str, caregiver: object) -> str:
    async with connection(url) as conn:
        return str(await conn.fetchval("SELECT full_name FROM caregivers WHERE id = $1", caregiver))


async def test_the_writing_endpoint_changes_its_clone_and_not_the_shared_data(
    homecare: Homecare,
) -> None:
    async with connection(homecare.url) as conn:
        caregiver = await conn.fetchval("SELECT id FROM caregivers ORDER BY id LIMIT 1")
    before = await caregiver_name(homecare.url, caregiver)
    rename = {"full_name": "Renamed By Perfkit"}
    async with cloned_database(Run(homecare.cfg, db=homecare.url), homecare.scale) as db:
        clone = str(db.url)
        async with http_target(homecare.cfg, homecare.http, url=clone, writable=True) as target:
            response = await target.client.patch(
                "/api/caregivers/me/name", json=rename, headers={"x-perfkit-user": str(caregiver)}
            )
        assert response.status_code == 200, response.text
        assert response.json() == {"id": str(caregiver), "full_name": rename["full_name"]}
        assert await caregiver_name(clone, caregiver) == rename["full_name"]
    assert await caregiver_name(homecare.url, caregiver) == before
    # on the shared data the session is read-only: the write fails, nothing changes
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        with pytest.raises(Exception, match="read-only transaction"):
            await target.client.patch(
                "/api/caregivers/me/name", json=rename, headers={"x-perfkit-user": str(caregiver)}
            )
    assert await caregiver_name(homecare.url, caregiver) == before


async def run_batch(cfg: Config, url: str, day: dt.date) -> dict[str, int]:
    from homecare.batch import send_review_reminders

    engine = await open_engine(url, cfg.pool, driver=cfg.app.driver)
    try:
        async with create_session_factory(engine, cfg.pool)() as session:
            return await send_review_reminders(session, dry_run=True, today=day)
    finally:
        await engine.dispose()


async def test_a_variant_runs_on_a_clone_and_changes_the_result(homecare: Homecare) -> None:
    async with connection(homecare.url) as conn:
        first = await conn.fetchval("SELECT id FROM agencies ORDER BY id LIMIT 1")
        clients_before = await conn.fetchval("SELECT count(*) FROM clients")
    shared = await dashboard_counts(homecare.url, first, homecare.anchor)
    shared_batch = await run_batch(homecare.cfg, homecare.url, homecare.anchor)
    assert shared["clients"] > 0 and shared_batch["reminders"] > 0

    async with variant_database(
        Run(homecare.cfg, db=homecare.url), homecare.scale, "empty_agency", EMPTY_AGENCY
    ) as variant:
        assert variant.report.name == "empty_agency"
        assert variant.report.changes == (f"DELETE {shared['clients']}",)
        varied = await dashboard_counts(variant.url, first, homecare.anchor)
        varied_batch = await run_batch(homecare.cfg, variant.url, homecare.anchor)
        # the API still answers for that agency: its counts say what the variant did
        workload = homecare.workload(
            rows={"sql": FIRST_AGENCY_CAREGIVER}, load={"users": 1, "iterations": 5, "warmup": 0}
        )
        async with http_target(homecare.cfg, homecare.http, url=variant.url) as target:
            with pinned_clock(homecare.anchor):
                result = await run_script_load(target, workload, source=SOURCE, key_path="w")
                script = await bound_script(target, workload, source=SOURCE, key_path="w")
                (call,) = script.calls(0)
                response = await target.client.get(
                    call.path, params=call.params, headers={"x-perfkit-user": call.user or ""}
                )
        body = response.json()
    assert varied == {**shared, "clients": 0, "open_reviews": 0, "due_reviews": 0}
    assert body["clients"] == 0 and body["caregivers"] == shared["caregivers"]
    assert result.errors == 0 and result.iterations == 5  # the workload completed
    assert varied_batch["cycles"] < shared_batch["cycles"]  # and its result changed
    # the shared data is untouched
    async with connection(homecare.url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM clients") == clients_before
    assert await dashboard_counts(homecare.url, first, homecare.anchor) == shared
    # a variant never applies to the shared data
    with pytest.raises(VariantTargetError) as refused:
        await apply_variant(homecare.url, "empty_agency", EMPTY_AGENCY, cfg=homecare.cfg)
    assert refused.value.database == "homecare_http_test"


async def test_the_leak_figure_sees_a_leak_and_no_leak_where_there_is_none(
    homecare: Homecare,
) -> None:
    workload = homecare.workload()
    kept: list[bytes] = []
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        script = await bound_script(target, workload, source=SOURCE, key_path="w")
        op = script_operation(target.client, script)
        once = LoadSettings(users=1, iterations=10, warmup=0)

        async def clean() -> None:
            await run_load(op, once)

        async def leaky() -> None:
            await run_load(op, once)
            kept.append(bytes(512 * 1024))  # what a cache without a bound does

        settings = MemorySettings(runs=6, warmup=2)
        with pinned_clock(homecare.anchor):
            no_leak = await memory_profile(clean, settings)
            leak = await memory_profile(leaky, settings)
    # 512 KB kept per run shows as ~512 KB per run; the clean workload grows by far less
    assert 400 <= leak.metrics()["heap_growth_per_run_kb"] <= 700
    assert abs(no_leak.metrics()["heap_growth_per_run_kb"]) < 64
    assert leak.leak_ratio > no_leak.leak_ratio
    assert no_leak.peak_heap_mb > 0 and no_leak.peak_rss_mb > 0
    assert len(no_leak.samples()["retained_heap_mb"]) == 6


async def test_no_load_is_left_running(homecare: Homecare) -> None:
    """Every task a load started has finished when it returns (nothing runs on)."""
    workload = homecare.workload(load={"rate": 200, "iterations": 40, "warmup": 0})
    async with http_target(homecare.cfg, homecare.http, url=homecare.url) as target:
        with pinned_clock(homecare.anchor):
            await run_script_load(target, workload, source=SOURCE, key_path="w")
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in others if "loadgen" in repr(t.get_coro())]


async def test_a_server_that_cannot_start_is_one_error_with_its_last_line(
    homecare: Homecare,
) -> None:
    broken = msgspec.structs.replace(homecare.http, app="homecare.api:no_such_app")
    with pytest.raises(ServerError) as caught:
        async with http_target(homecare.cfg, broken, url=homecare.url, mode="server"):
            pass  # pragma: no cover - it never gets here
    assert caught.value.stage == "exited" and caught.value.exit_code == 3
    assert "perfkit: " in caught.value.output and "no_such_app" in caught.value.output
    password = password_of(homecare.url)
    assert password and password not in caught.value.message
