"""The home-care example application (``examples/homecare``) end to end, through perfkit's
front ends only, as a team measuring its own application would run them:

``perfkit seed`` -> ``perfkit snapshot`` -> ``perfkit restore`` -> what the ``perf-small``
session runs (``perfkit perf --scale small``: perfkit's built-in tests of the default and HTTP
workloads), with ``PERFKIT_CONFIG`` at a copy of the example's scales.yaml and the test database
on the private server.

The example has the schema features of a real application (ENUM types, a ``SERIAL`` key a
child references, a cycle of NOT NULL foreign keys, an M:N association, NOT NULL columns
without defaults, settings demanded at import, psycopg). The restored data is checked
directly in the catalog and the tables, and the run record's reminder count is checked
against this module's own SQL statement of the batch's rule (:data:`RULE_SQL`), never by
calling the batch.

This process never imports the example: only perfkit's subprocesses do, with the
placeholders and the database variable its scales.yaml gives them.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from perfkit.db import connection
from perfkit.results import read_records
from perfkit.testing import (
    PrivateServer,
    clean_env,
    databases_named,
    drop_databases,
    run_perfkit,
    run_perfkit_process,
    scratch_database,
)
from perfkit.urls import password_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "homecare"
SCALE = "small"
#: The example's scale small; scales.yaml's app.data: 2 review cycles per plan (closed, then
#: latest), 3 documents per cycle, one membership per caregiver.
AGENCIES, CAREGIVERS_PER_AGENCY, CLIENTS_PER_AGENCY = 10, 10, 100
CYCLES_PER_PLAN, DOCUMENTS_PER_CYCLE = 2, 3

#: The batch's rule (examples/homecare/homecare/batch.py, module docstring), stated again
#: independently: a caregiver is reminded when one of the plans they are responsible for has
#: its latest cycle open and due within their lead time or without a signed assessment; they
#: must be active, want reminders and still belong to the plan's agency. $1 is the day.
RULE_SQL = """
    WITH due AS (
        SELECT plan.caregiver_id, cycle.id AS cycle_id, cycle.due_on,
               NOT EXISTS (
                   SELECT FROM documents doc
                   WHERE doc.review_cycle_id = cycle.id
                     AND doc.kind = 'assessment' AND doc.signed
               ) AS unsigned
        FROM review_cycles cycle
        JOIN care_plans plan ON plan.id = cycle.care_plan_id
        JOIN caregivers who ON who.id = plan.caregiver_id
        WHERE cycle.status = 'open' AND cycle.is_latest AND NOT plan.is_archived
          AND who.is_active AND who.reminders_enabled
          AND (plan.agency_id, who.id) IN (SELECT agency_id, caregiver_id FROM agency_caregivers)
          AND (cycle.due_on - $1::date <= who.reminder_lead_days
               OR NOT EXISTS (
                   SELECT FROM documents doc
                   WHERE doc.review_cycle_id = cycle.id
                     AND doc.kind = 'assessment' AND doc.signed
               ))
    )
    SELECT count(DISTINCT caregiver_id) AS reminders,
           count(*) AS cycles,
           count(*) FILTER (WHERE due_on < $1::date) AS overdue,
           count(*) FILTER (WHERE unsigned) AS unsigned_assessments
    FROM due
"""


def expected_rows() -> dict[str, int]:
    """Rows per table at scale small, as the example's scales.yaml (app.data) lays them out."""
    clients = AGENCIES * CLIENTS_PER_AGENCY
    caregivers = AGENCIES * CAREGIVERS_PER_AGENCY
    return {
        "agencies": AGENCIES,
        "caregivers": caregivers,
        "clients": clients,
        "agency_caregivers": caregivers,  # one membership per caregiver
        "care_plans": clients,
        "review_cycles": clients * CYCLES_PER_PLAN,
        "documents": clients * CYCLES_PER_PLAN * DOCUMENTS_PER_CYCLE,
    }


EXPECTED_ENUMS = {
    "caregiver_role": ["owner", "coordinator", "aide"],
    "review_status": ["open", "closed"],
    "document_kind": ["assessment", "care_plan", "monitoring_report"],
}


EXPECTED_FOREIGN_KEYS = {
    "fk_agencies_created_by_caregivers",
    "fk_caregivers_home_agency_id_agencies",
    "fk_clients_agency_id_agencies",
    "fk_agency_caregivers_agency_id_agencies",
    "fk_agency_caregivers_caregiver_id_caregivers",
    "fk_care_plans_agency_id_agencies",
    "fk_care_plans_client_id_clients",
    "fk_care_plans_caregiver_id_caregivers",
    "fk_review_cycles_care_plan_id_care_plans",
    "fk_documents_review_cycle_id_review_cycles",
}


@pytest.fixture
async def homecare_db(pg: PrivateServer) -> AsyncIterator[str]:
    """A database of its own on the private server, made as ``perfkit db-up`` makes one (a
    restore replaces it); the templates perfkit leaves for it are dropped afterwards."""
    before = set(await databases_named(pg.url, "perfkit_tpl_"))
    async with scratch_database(pg.url, "homecare_perf_test", perfkit_made=True) as url:
        yield url
    await drop_databases(pg.url, *set(await databases_named(pg.url, "perfkit_tpl_")) - before)


def write_config(tmp_path: Path) -> Path:
    """The example's scales.yaml, copied into ``tmp_path`` with its paths made absolute."""
    raw = yaml.safe_load((EXAMPLE / "scales.yaml").read_text(encoding="utf-8"))
    raw["app"]["import_root"] = str(EXAMPLE)
    raw["app"]["requirements"] = str(EXAMPLE / "requirements.txt")
    path = tmp_path / "scales.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def invoke_ok(*args: str, env: dict[str, str]) -> str:
    """Run ``perfkit <args>``; its output, after asserting it succeeded."""
    done = run_perfkit(*args, cwd=ROOT, env=env)
    assert done.returncode == 0, f"perfkit {' '.join(args)}: {done.stdout[-3000:]}{done.stderr}"
    return done.stdout + done.stderr


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {
        table: int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
        for table in expected_rows()
    }


async def check_restored(conn: asyncpg.Connection) -> None:
    """The restored database: rows, ENUM types, constraints (the cycle's deferred one too),
    the SERIAL sequence and the dates, as the example's schema and app.data make them."""
    assert await row_counts(conn) == expected_rows()

    enums: dict[str, list[str]] = {}
    for row in await conn.fetch(
        "SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' "
        "ORDER BY t.typname, e.enumsortorder"
    ):
        enums.setdefault(row["typname"], []).append(row["enumlabel"])
    assert enums == EXPECTED_ENUMS
    coordinators = await conn.fetchval("SELECT count(*) FROM caregivers WHERE role = 'coordinator'")
    assert coordinators == AGENCIES * 2  # homecare.data.role: 2 coordinators per agency

    fks = {
        r["conname"]: r
        for r in await conn.fetch(
            "SELECT conname, convalidated, condeferrable, condeferred FROM pg_constraint "
            "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
    }
    assert set(fks) == EXPECTED_FOREIGN_KEYS
    assert all(r["convalidated"] for r in fks.values())
    cyclic = fks["fk_agencies_created_by_caregivers"]
    assert cyclic["condeferrable"] and cyclic["condeferred"]
    # each agency was created by its owner, whose home agency it is (the NOT NULL cycle)
    created_by_owner = await conn.fetchval(
        "SELECT count(*) FROM agencies a JOIN caregivers c "
        "ON c.id = a.created_by AND c.home_agency_id = a.id AND c.role = 'owner'"
    )
    assert created_by_owner == AGENCIES
    # documents reference the SERIAL keys; the sequence stands past them
    documents_with_cycle = await conn.fetchval(
        "SELECT count(*) FROM documents d JOIN review_cycles r ON r.id = d.review_cycle_id"
    )
    assert documents_with_cycle == expected_rows()["documents"]
    seq = await conn.fetchrow("SELECT last_value, is_called FROM review_cycles_id_seq")
    assert (seq["last_value"], seq["is_called"]) == (expected_rows()["review_cycles"] + 1, False)
    # nothing perfkit builds with is left behind
    assert not await conn.fetchval(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'perfkit%'"
    )


async def check_writes(conn: asyncpg.Connection, anchor: dt.date) -> None:
    """The application can write to the restored data: an INSERT without an id takes the
    next SERIAL key, a child references it, ENUM labels are enforced, and an agency and its
    first caregiver go in together (the deferred foreign key of the cycle)."""
    plan_id = await conn.fetchval("SELECT id FROM care_plans ORDER BY id LIMIT 1")
    async with conn.transaction():
        cycle_id = await conn.fetchval(
            "INSERT INTO review_cycles "
            "(care_plan_id, cycle_number, starts_on, due_on, status, is_latest, created_at) "
            "VALUES ($1, 99, $2::date, $2::date + 180, 'open', false, now()) RETURNING id",
            plan_id,
            anchor,
        )
        assert cycle_id == expected_rows()["review_cycles"] + 1
        await conn.execute(
            "INSERT INTO documents "
            "(id, review_cycle_id, kind, title, signed, uploaded_on, created_at) "
            "VALUES (gen_random_uuid(), $1, 'assessment', 'new', false, $2, now())",
            cycle_id,
            anchor,
        )
        await conn.execute(
            "INSERT INTO agencies (id, name, phone, created_by, is_active, created_at) "
            "VALUES ('00000000-0000-4000-8000-00000000000a', 'New', '0', "
            "'00000000-0000-4000-8000-00000000000c', true, now())"
        )
        await conn.execute(
            "INSERT INTO caregivers (id, home_agency_id, full_name, email, role, is_active, "
            "reminders_enabled, reminder_lead_days, created_at) VALUES "
            "('00000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-00000000000a', "
            "'Owner', 'owner@new.example.invalid', 'owner', true, true, 30, now())"
        )
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await conn.execute(
            "INSERT INTO documents "
            "(id, review_cycle_id, kind, title, signed, uploaded_on, created_at) "
            "VALUES (gen_random_uuid(), $1, 'invoice', 'x', false, $2, now())",
            cycle_id,
            anchor,
        )
    with pytest.raises(asyncpg.NotNullViolationError):
        await conn.execute(
            "INSERT INTO clients (id, agency_id, full_name, date_of_birth, created_at) "
            "VALUES (gen_random_uuid(), '00000000-0000-4000-8000-00000000000a', 'x', "
            "'1950-01-01', now())"
        )


async def rule_counts(conn: asyncpg.Connection) -> tuple[dt.date, dict[str, Any]]:
    """The dataset's day, and the batch's numbers for it by :data:`RULE_SQL`."""
    anchor = await conn.fetchval("SELECT anchor_date FROM perfkit_dataset")
    row = await conn.fetchrow(RULE_SQL, anchor)
    return anchor, dict(row)


async def test_the_example_app_seeds_snapshots_restores_and_runs_the_perf_session(
    tmp_path: Path, homecare_db: str
) -> None:
    cfg_path = write_config(tmp_path)
    results = tmp_path / "results"
    env = {
        "PERFKIT_CONFIG": str(cfg_path),
        "TEST_DATABASE_URL": homecare_db,
        "PERFORMANCE_TEST_DATABASE_URL": homecare_db,
        "PERFKIT_STATE_DIR": str(tmp_path / "state"),
        "PERFKIT_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "PERFKIT_RESULTS_DIR": str(results),
    }
    outputs = [invoke_ok("seed", "--scale", SCALE, env=env)]
    async with connection(homecare_db) as conn:
        assert await row_counts(conn) == expected_rows()
        seeded_anchor = await conn.fetchval("SELECT anchor_date FROM perfkit_dataset")
    assert seeded_anchor.weekday() < 5  # app.run_day: weekday

    outputs.append(invoke_ok("snapshot", "--scale", SCALE, env=env))
    assert len(list((tmp_path / "snapshots").rglob("manifest.json"))) == 1
    async with connection(homecare_db) as conn:  # damage it: the restore must undo this
        await conn.execute("DELETE FROM documents WHERE kind = 'monitoring_report'")
        await conn.execute("UPDATE caregivers SET reminders_enabled = false")

    # from the snapshot's files, not a template clone: the ENUM types and the sequence are
    # rebuilt in a new database
    outputs.append(invoke_ok("restore", "--scale", SCALE, "--method", "file", env=env))
    async with connection(homecare_db) as conn:
        await check_restored(conn)
        anchor, rule = await rule_counts(conn)
    assert anchor == seeded_anchor
    assert rule["reminders"] > 0 and rule["overdue"] > 0 and rule["unsigned_assessments"] > 0

    done = run_perfkit_process(
        "perf", "--scale", SCALE, "--", "-q", "-p", "no:cacheprovider",
        cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outputs.append(done.stdout + done.stderr)
    report = done.stdout
    # at small: the default workload and the HTTP workload (scales.yaml's dashboard)
    assert "2 passed, 4 skipped" in report
    assert "[small] Review reminders (dry run)" in report
    assert "[small] Coordinators open the dashboard (GET /api/dashboard)" in report

    records = {r.workload: r for r in read_records(results / "results.jsonl")}
    assert set(records) == {"review_reminders", "dashboard"}
    rec = records["review_reminders"]
    assert rec.scale == SCALE and rec.workload == "review_reminders"
    assert rec.passed, rec.failures
    assert rec.dataset["rows"] == expected_rows()
    assert rec.dataset["anchor_date"] == anchor.isoformat()
    assert rec.metrics["statements"] == 1  # one SELECT, whatever the scale
    for name in ("reminders", "cycles", "overdue", "unsigned_assessments"):
        assert rec.metrics[name] == rule[name], name
    assert rec.metrics["sent"] == 0  # a dry run
    http = records["dashboard"]
    assert http.passed, http.failures
    assert http.dataset["key"] == rec.dataset["key"] and "variant" not in http.dataset
    assert (http.metrics["requests"], http.metrics["errors"]) == (300, 0)
    assert http.metrics["statements_per_request"] == 2  # the caregiver, then one SELECT
    assert 0 < http.metrics["latency_p50_seconds"] <= http.metrics["latency_p99_seconds"]
    assert http.budgets["p95"] == 0.5 and len(http.samples["latency_ladder_seconds"]) == 10

    async with connection(homecare_db) as conn:
        assert await rule_counts(conn) == (anchor, rule)  # the dry runs wrote nothing
        await check_writes(conn, anchor)
    password = password_of(homecare_db)
    assert password and all(password not in out for out in outputs)
    assert password not in (results / "results.jsonl").read_text(encoding="utf-8")


#: Runs in a subprocess with the example on ``sys.path``: the batch on a Saturday, on a Sunday
#: in UTC that is already Monday on the local clock (in Tokyo), and on a Monday, against a
#: session that counts the statements it is asked to run and holds no data.
GUARD_SCRIPT = """
import asyncio, datetime as dt, json, zoneinfo
import time_machine
from homecare.batch import send_review_reminders

class NoDatabase:
    statements = 0
    async def execute(self, *args, **kwargs):
        NoDatabase.statements += 1
        raise LookupError("no database here")

async def main():
    out = {"saturday": await send_review_reminders(NoDatabase(), today=dt.date(2026, 11, 28))}
    # 2026-11-29 23:30 UTC; time-machine makes the zone the local one
    monday_in_tokyo = dt.datetime(2026, 11, 30, 8, 30, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))
    with time_machine.travel(monday_in_tokyo, tick=False):
        out["local_day"] = dt.date.today().isoformat()
        out["sunday_utc"] = await send_review_reminders(NoDatabase())
    out["weekend_statements"] = NoDatabase.statements
    try:
        await send_review_reminders(NoDatabase(), today=dt.date(2026, 11, 30))
    except LookupError:
        out["monday_statements"] = NoDatabase.statements
    print(json.dumps(out))

asyncio.run(main())
"""


def run_example(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` with the example importable and only ``env`` as its settings."""
    base = {k: v for k, v in clean_env().items() if not k.startswith("APP_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "PYTHONPATH": str(EXAMPLE), **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_batch_skips_weekends_by_the_utc_date_without_a_query() -> None:
    done = run_example(
        GUARD_SCRIPT,
        APP_SECRET="placeholder",
        APP_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/homecare_test",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    zeros = dict.fromkeys(("reminders", "cycles", "overdue", "unsigned_assessments", "sent"), 0)
    assert out["saturday"] == zeros and out["sunday_utc"] == zeros
    assert out["local_day"] == "2026-11-30"  # Monday in Tokyo, still Sunday in UTC
    assert out["weekend_statements"] == 0 and out["monday_statements"] == 1


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"APP_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/homecare_test"}, "APP_SECRET"),
        ({"APP_SECRET": "placeholder"}, "APP_DATABASE_URL"),
        (
            {"APP_SECRET": "x", "APP_DATABASE_URL": "postgresql://u@127.0.0.1:1/homecare_test"},
            "APP_DATABASE_URL must start with postgresql+psycopg://",
        ),
    ],
)
def test_the_example_refuses_to_import_without_its_settings(
    settings: dict[str, str], missing: str
) -> None:
    done = run_example("import homecare.batch", **settings)
    assert done.returncode != 0
    assert "SettingsError" in done.stderr and missing in done.stderr
