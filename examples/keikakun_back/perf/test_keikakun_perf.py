"""keikakun_back's performance suite (tests/performance/*.py), on perfkit's fixtures, against
production's schema (perf/schema.sql) filled by inference (perf/scales.yaml).

    PERF_TEST_SCALE=medium pytest -m performance perf     # or: nox -s perf-medium

Every count a test asserts comes from SQL written here from the rule (perf/expected_counts.sql
for the batch), never from keikakun's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from perfkit.schema_scripts import read_sql_file, sql_statements
from perfkit.testing import scratch_database

pytestmark = pytest.mark.performance

HERE = Path(__file__).resolve().parent

#: Every definition the catalogue prints, per kind: (name, definition).
DEFINITIONS = {
    "index": "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
    "JOIN pg_class c ON c.oid = indrelid WHERE c.relnamespace = 'public'::regnamespace",
    "constraint": "SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> 0",
    "trigger": "SELECT tgrelid::regclass::text || '.' || tgname, pg_get_triggerdef(oid) "
    "FROM pg_trigger WHERE NOT tgisinternal",
}


#: Bookkeeping tables, not the application's: perfkit's dataset row, alembic's revision
#: (perfkit leaves migration bookkeeping out of a dataset).
BOOKKEEPING = ("perfkit_dataset", "alembic_version")


def definitions(url: str) -> dict[str, set[tuple[str, str]]]:
    with psycopg.connect(url) as conn:
        return {
            kind: {
                (name, d)
                for name, d in conn.execute(sql).fetchall()
                if not any(t in name or f"public.{t} " in d for t in BOOKKEEPING)
            }
            for kind, sql in DEFINITIONS.items()
        }


async def expected_counts(session: AsyncSession) -> dict[str, Any]:
    """The batch's e-mail and push counts, from its rule in SQL (perf/expected_counts.sql)."""
    sql = (HERE / "expected_counts.sql").read_text(encoding="utf-8")
    return dict((await session.execute(text(sql))).mappings().one())


async def test_schema_is_production_verbatim(perf_data: Any) -> None:
    """Issue 20: every index, constraint and trigger of the seeded database, as the catalogue
    prints it, equals what schema.sql builds in an empty database."""
    url = perf_data.url.replace("+psycopg", "").replace("+asyncpg", "")
    script = read_sql_file(HERE / "schema.sql", source="perf")
    async with scratch_database(url, "keikakun_schema_check_perf") as scratch:
        plain = str(scratch)
        with psycopg.connect(plain, autocommit=True) as conn:
            for _, statement in sql_statements(script) or [(0, script)]:
                conn.execute(statement.encode())
        built = definitions(plain)
    seeded = definitions(url)
    with psycopg.connect(url) as conn:
        empty = conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
            "AND c.relkind = 'r' AND c.relname NOT IN ('perfkit_dataset', 'alembic_version') "
            "AND (xpath('/row/c/text()', query_to_xml("
            "format('SELECT count(*) AS c FROM public.%I', c.relname), false, true, '')))[1]"
            "::text::int = 0"
        ).fetchall()
    for kind in DEFINITIONS:
        assert seeded[kind] == built[kind], kind
    assert len(built["trigger"]) > 0 and any("gin_trgm_ops" in d for _, d in built["index"])
    assert empty == [], f"tables left empty: {empty}"


@pytest.mark.perf_budget(statements=5)  # the N+1 check: 5 SELECTs whatever the scale
async def test_deadline_alerts(
    perf_session: AsyncSession, perf_measure: Any, perf_workload: Any
) -> None:
    """Deadline-alert batch (dry run): time, statements, memory (peak, retained, leak), and
    the e-mail and push counts of the independent SQL."""
    run = await perf_measure(
        perf_workload,
        memory={"runs": 5, "warmup": 1},
        memory_budgets={"peak_heap_mb": 50, "retained_heap_mb": 10, "leak_ratio": 0.2},
    )
    want = await expected_counts(perf_session)
    offices = want["offices"]
    assert run.numbers["email_sent"] == want["email_sent"] > 0
    assert run.numbers["push_sent"] == want["push_sent"]
    assert offices > 0


async def test_deadline_alerts_with_broken_rows(
    perf_variant: Any, perf_measure: Any, perf_session: AsyncSession
) -> None:
    """Resilience: offices with broken rows (latest cycles without a deadline, staff with
    JSON null preferences) do not stop the others; the counts follow the rule on that data."""
    from app.tasks.deadline_notification import send_deadline_alert_emails  # after perfkit's env

    variant = await perf_variant("broken_rows")
    async with variant.session() as session:
        run = await perf_measure(
            lambda: send_deadline_alert_emails(session, dry_run=True),
            name="deadline_alerts_broken_rows",
            on=variant,
        )
        want = await expected_counts(session)
    assert run.numbers["email_sent"] == want["email_sent"] > 0


async def dashboard_counts(session: AsyncSession, staff_id: str) -> tuple[int, int]:
    """Total recipients of the staff member's primary office, and those whose latest cycle is
    due within 30 days (the is_upcoming filter), from the tables."""
    row = (
        await session.execute(
            text(
                "WITH o AS (SELECT office_id FROM office_staffs WHERE staff_id = :s AND is_primary)"
                " SELECT (SELECT count(*) FROM office_welfare_recipients w"
                "         WHERE w.office_id = (SELECT office_id FROM o)),"
                " (SELECT count(DISTINCT w.welfare_recipient_id) FROM office_welfare_recipients w"
                "  JOIN support_plan_cycles c ON c.welfare_recipient_id = w.welfare_recipient_id"
                "  AND c.id = (SELECT max(id) FROM support_plan_cycles x"
                "              WHERE x.welfare_recipient_id = w.welfare_recipient_id"
                "              AND x.is_latest_cycle)"
                "  WHERE w.office_id = (SELECT office_id FROM o)"
                "  AND c.next_renewal_deadline BETWEEN :day AND :day + 30)"
            ),
            {
                "s": staff_id,
                "day": (
                    await session.execute(text("SELECT anchor_date FROM perfkit_dataset"))
                ).scalar_one(),
            },
        )
    ).one()
    return int(row[0]), int(row[1])


async def test_dashboard_counts(perf_client: Any, perf_session: AsyncSession) -> None:
    """GET /api/v1/dashboard/: its counts equal the independent SQL's."""
    staff = (
        await perf_session.execute(
            text(
                "SELECT s.id::text FROM staffs s JOIN office_staffs m ON m.staff_id = s.id "
                "WHERE m.is_primary ORDER BY m.office_id, s.id LIMIT 1"
            )
        )
    ).scalar_one()
    total, upcoming = await dashboard_counts(perf_session, staff)
    body = (await perf_client.get("/api/v1/dashboard/")).json()
    assert body["current_user_count"] == body["filtered_count"] == total > 0
    body = (await perf_client.get("/api/v1/dashboard/", params={"is_upcoming": "true"})).json()
    assert body["filtered_count"] == upcoming > 0


@pytest.mark.parametrize("users", [1, 10])
async def test_dashboard_load(perf_scale: str, perf_load: Any, users: int) -> None:
    """GET /api/v1/dashboard/ under load: p50, p95, p99 at 1 and 10 users."""
    # 10 users on one process and 2 cores queue behind each other: p95 allowed 3 s there.
    budgets = {"p95": 3.0} if users > 1 else None
    run = await perf_load("dashboard", users=users, name=f"dashboard_{users}u", budgets=budgets)
    p = run.percentiles()
    assert run.result.errors == 0 and 0 < p["p50"] <= p["p95"] <= p["p99"]
    ms = {k: round(v * 1000, 1) for k, v in p.items()}
    print(f"  dashboard {users}u: p50 {ms['p50']} ms, p95 {ms['p95']} ms, p99 {ms['p99']} ms")


@pytest.mark.perf_clone  # it writes: on a clone of the scale's data
async def test_name_update(perf_data: Any, perf_load: Any, perf_session: AsyncSession) -> None:
    """PATCH /api/v1/staffs/me/name, 100 requests, p95 under 0.5 s; the row changed on the
    clone, the shared dataset did not."""
    run = await perf_load("name_update", users=1, iterations=100, warmup=0)
    assert run.result.errors == 0
    changed = (
        await perf_session.execute(
            text("SELECT count(*) FROM staffs WHERE last_name = '性能' AND first_name = '太郎'")
        )
    ).scalar_one()
    assert changed >= 1
    shared = perf_data.url.replace(perf_data.url.rsplit("/", 1)[1], "keikakun_test_performance")
    with psycopg.connect(shared.replace("+psycopg", "")) as conn:
        untouched = conn.execute("SELECT count(*) FROM staffs WHERE last_name = '性能'").fetchone()
    assert untouched == (0,)


@pytest.mark.perf_clone
async def test_name_update_concurrent(perf_load: Any) -> None:
    """Concurrent name updates: 10 users, each their own staff member; no error."""
    run = await perf_load(
        "name_update",
        users=10,
        iterations=100,
        warmup=0,
        name="name_update_10u",
        budgets={"p95": 1.0},  # 10 users queue on one process and 2 cores
    )
    assert run.result.errors == 0
