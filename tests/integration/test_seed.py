"""Seeding against a real PostgreSQL: determinism, shape, metadata, safety and atomicity."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from perfkit.apps.welfare import application
from perfkit.apps.welfare.models import metadata
from perfkit.catalog import read_catalog
from perfkit.config import Config, Scale
from perfkit.datagen import (
    DatasetConflictError,
    DatasetInfo,
    SeedFailedError,
    SeedProgress,
    read_dataset_info,
    seed_database,
    table_checksums,
)
from perfkit.datagen import load as loader
from perfkit.db import connection, create_engine
from perfkit.env.base import ensure_database
from perfkit.errors import UnsafeTargetError
from perfkit.locks import exclusive
from perfkit.run import Run
from perfkit.schema import quote_ident
from perfkit.urls import to_asyncpg, with_database

APP = application()
TABLES = APP.tables
expected_row_counts = APP.recipe.row_counts

pytestmark = pytest.mark.integration

ANCHOR = dt.date(2026, 2, 9)
TINY = Scale(name="tiny", offices=3, staff_per_office=4, recipients_per_office=10)
#: Big enough that several tables are still loading when the first one finishes.
MIDDLING = Scale(name="middling", offices=40, staff_per_office=10, recipients_per_office=100)

MakeDb = Callable[[str], Awaitable[str]]


@pytest.fixture
async def make_db(pg_url: str) -> AsyncIterator[MakeDb]:
    """Fresh, empty databases on the session's private server; dropped afterwards."""
    made: list[str] = []

    async def drop(name: str) -> None:
        admin = await asyncpg.connect(to_asyncpg(with_database(pg_url, "postgres")))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        finally:
            await admin.close()

    async def make(name: str) -> str:
        await drop(name)
        url = with_database(pg_url, name)
        await ensure_database(url)
        made.append(name)
        return url

    yield make
    for name in made:
        await drop(name)


async def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_asyncpg(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def snapshot_of(url: str) -> tuple[DatasetInfo | None, dict[str, str], list[str]]:
    """What the database holds: its dataset row, table checksums, leftover staging schemas."""
    conn = await asyncpg.connect(to_asyncpg(url))
    try:
        info = await read_dataset_info(conn, order=TABLES)
        sums = await table_checksums(conn, TABLES)
        staging = [
            r["nspname"]
            for r in await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'perfkit_seed_')"
            )
        ]
        return info, sums, staging
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------
# what a seed makes


async def test_same_seed_same_tables_ids_included(pg_config: Config, make_db: MakeDb) -> None:
    small = pg_config.scale("small")
    a, b, c = [await make_db(f"seed_same_{x}_test") for x in "abc"]
    await seed_database(Run(pg_config, db=a), small, anchor=ANCHOR)
    await seed_database(Run(pg_config, db=b), small, anchor=ANCHOR)
    await seed_database(Run(pg_config, db=c), small, anchor=ANCHOR, seed=7)
    (_, sums_a, _), (_, sums_b, _), (_, sums_c, _) = [await snapshot_of(u) for u in (a, b, c)]
    assert sums_a == sums_b
    assert all(sums_a[t] != sums_c[t] for t in TABLES)


@pytest.mark.parametrize("mode", ["plan", "realistic"])
async def test_row_counts_and_metadata(pg_config: Config, make_db: MakeDb, mode: str) -> None:
    url = await make_db(f"seed_counts_{mode}_test")
    report = await seed_database(Run(pg_config, db=url), TINY, mode=mode, anchor=ANCHOR, seed=5)  # type: ignore[arg-type]
    expected = expected_row_counts(TINY, pg_config.data, mode)  # type: ignore[arg-type]
    assert dict(report.rows) == expected
    counted = {t: (await fetch(url, f"SELECT count(*) FROM {t}"))[0][0] for t in TABLES}  # noqa: S608
    assert counted == expected
    info, _, staging = await snapshot_of(url)
    assert info is not None and staging == []
    assert (info.scale, info.seed, info.mode) == ("tiny", 5, mode)
    assert info.generator_version == APP.recipe.version
    assert info.anchor_date == ANCHOR
    async with connection(url) as conn:  # the catalogue of the tables the seed built
        assert info.schema_fingerprint == (await read_catalog(conn, "public", TABLES)).fingerprint
    assert dict(info.row_counts) == expected and list(info.row_counts) == list(TABLES)
    assert info.parameters["offices"] == 3
    assert info.created_at.tzinfo is not None
    assert abs(dt.datetime.now(dt.UTC) - info.created_at) < dt.timedelta(minutes=5)
    assert report.info.same_data(info)
    assert set(report.phases) == {"check", "schema", "load", "swap"}


#: Staff due at least one e-mail on the anchor date: e-mail on, and an active cycle of their
#: office ending between the anchor date and their threshold.
DUE_STAFF = """
SELECT count(DISTINCT s.id) FROM staffs s
JOIN individual_support_plans p ON p.office_id = s.office_id
JOIN support_plan_cycles c ON c.individual_support_plan_id = p.id
WHERE (s.notification_preferences ->> 'email_notification')::boolean
  AND c.status = 'active'
  AND c.end_date BETWEEN $1::date
      AND $1::date + (s.notification_preferences ->> 'email_threshold_days')::int
"""


async def test_plan_mode_alerts_every_staff_member(pg_config: Config, make_db: MakeDb) -> None:
    url = await make_db("seed_plan_emails_test")
    await seed_database(
        Run(pg_config, db=url), pg_config.scale("small"), mode="plan", anchor=ANCHOR
    )
    staff = (await fetch(url, "SELECT count(*) FROM staffs"))[0][0]
    assert (await fetch(url, DUE_STAFF, ANCHOR))[0][0] == staff == 100


async def test_realistic_mode_spreads_the_work(pg_config: Config, make_db: MakeDb) -> None:
    url = await make_db("seed_realistic_test")
    await seed_database(
        Run(pg_config, db=url), pg_config.scale("small"), mode="realistic", anchor=ANCHOR
    )
    buckets = {
        r["bucket"]: r["n"]
        for r in await fetch(
            url,
            """SELECT CASE WHEN end_date < $1 THEN 'overdue'
                           WHEN end_date <= $1 + 10 THEN 'within_10'
                           WHEN end_date <= $1 + 30 THEN 'within_30'
                           ELSE 'later' END AS bucket, count(*) AS n
               FROM support_plan_cycles WHERE status = 'active' GROUP BY 1""",
            ANCHOR,
        )
    }
    assert set(buckets) == {"overdue", "within_10", "within_30", "later"}
    assert buckets["later"] > buckets["within_30"] > buckets["within_10"] > 0
    completed = await fetch(
        url, "SELECT count(*), max(end_date) FROM support_plan_cycles WHERE status = 'completed'"
    )
    assert completed[0][0] == 1_000 and completed[0][1] < ANCHOR
    prefs = (
        await fetch(
            url,
            """SELECT count(*) FILTER (WHERE NOT (notification_preferences
                                       ->> 'email_notification')::boolean) AS off,
                      count(DISTINCT notification_preferences ->> 'email_threshold_days') AS kinds,
                      count(DISTINCT email) AS emails, count(*) AS staff
               FROM staffs""",
        )
    )[0]
    assert 0 < prefs["off"] < prefs["staff"] // 2
    assert prefs["kinds"] > 1 and prefs["emails"] == prefs["staff"]
    due = (await fetch(url, DUE_STAFF, ANCHOR))[0][0]
    assert 0 < due < prefs["staff"]  # real work, but not the plan's "everyone"


CATALOG = """
SELECT 'column', c.relname, a.attnum::text || ' ' || a.attname, format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relname = ANY($1::text[]) AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', conrelid::regclass::text, conname,
       contype::text || ' ' || pg_get_constraintdef(oid) || ' validated=' || convalidated::text
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text = ANY($1::text[])
UNION ALL
SELECT 'index', tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename = ANY($1::text[])
"""


async def test_schema_after_load_equals_create_all(pg_config: Config, make_db: MakeDb) -> None:
    seeded, reference = await make_db("seed_ddl_test"), await make_db("seed_ddl_reference_test")
    await seed_database(Run(pg_config, db=seeded), TINY, anchor=ANCHOR)
    engine = create_engine(reference, pg_config.pool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
    got = sorted(tuple(r) for r in await fetch(seeded, CATALOG, list(TABLES)))
    want = sorted(tuple(r) for r in await fetch(reference, CATALOG, list(TABLES)))
    assert got == want
    names = {str(i.name) for t in metadata.sorted_tables for i in t.indexes}
    names |= {str(t.primary_key.name) for t in metadata.sorted_tables}
    names.add("uq_staffs_email")
    assert {r[2] for r in got if r[0] == "index"} == names


# --------------------------------------------------------------------------------------------
# what is already there


async def test_the_same_dataset_is_left_alone(pg_config: Config, make_db: MakeDb) -> None:
    url = await make_db("seed_again_test")
    first = await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR)
    before = await snapshot_of(url)
    again = await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR)
    assert not again.created and again.info.created_at == first.info.created_at
    # made for another day, and no anchor asked for: still this dataset (dates can be shifted)
    assert not (await seed_database(Run(pg_config, db=url), TINY)).created
    assert await snapshot_of(url) == before


async def test_another_dataset_is_refused_without_reset(pg_config: Config, make_db: MakeDb) -> None:
    url = await make_db("seed_other_test")
    await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR)
    before = await snapshot_of(url)
    for kwargs in ({"seed": 9}, {"mode": "plan"}, {"anchor": ANCHOR + dt.timedelta(days=1)}):
        with pytest.raises(DatasetConflictError) as info:
            await seed_database(Run(pg_config, db=url), TINY, **{"anchor": ANCHOR, **kwargs})  # type: ignore[arg-type]
        assert info.value.hint and "--reset" in info.value.hint
    with pytest.raises(DatasetConflictError):
        await seed_database(Run(pg_config, db=url), pg_config.scale("small"), anchor=ANCHOR)
    assert await snapshot_of(url) == before
    replaced = await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR, seed=9, reset=True)
    now, _, staging = await snapshot_of(url)
    assert replaced.created and now is not None and now.seed == 9 and staging == []


async def test_tables_without_a_dataset_are_refused(pg_config: Config, make_db: MakeDb) -> None:
    url = await make_db("seed_foreign_tables_test")
    engine = create_engine(url, pg_config.pool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
    with pytest.raises(DatasetConflictError) as info:
        await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR)
    assert "no perfkit dataset" in info.value.message


async def test_seeding_refuses_a_database_that_is_not_for_tests(
    pg_url: str, pg_config: Config
) -> None:
    name = "welfare_main"
    admin = await asyncpg.connect(to_asyncpg(with_database(pg_url, "postgres")))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")  # not made by perfkit, no test-like name
        url = with_database(pg_url, name)
        with pytest.raises(UnsafeTargetError):  # even an empty one: no test data in it
            await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR)
        await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR, confirm=name)
        before = await snapshot_of(url)
        with pytest.raises(UnsafeTargetError) as info:
            await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR, seed=3, reset=True)
        assert info.value.database == name
        with pytest.raises(UnsafeTargetError):
            await seed_database(Run(pg_config, db=url), TINY, seed=3, reset=True, confirm="other")
        assert await snapshot_of(url) == before
        done = await seed_database(Run(pg_config, db=url), TINY, seed=3, reset=True, confirm=name)
        assert done.created and done.info.seed == 3
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


# --------------------------------------------------------------------------------------------
# interruptions leave the previous state


class Recorder(SeedProgress):
    """Records events; runs ``on_rows`` / ``on_phase`` hooks to interrupt the seed."""

    def __init__(
        self,
        on_rows: Callable[[str, int], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> None:
        self.phases: list[str] = []
        self.rows_seen: dict[str, int] = {}
        self._on_rows, self._on_phase = on_rows, on_phase

    def phase(self, name: str) -> None:
        self.phases.append(name)
        if self._on_phase:
            self._on_phase(name)

    def rows(self, table: str, done: int, total: int) -> None:
        self.rows_seen[table] = done
        if self._on_rows:
            self._on_rows(table, done)


@pytest.fixture
async def seeded(pg_config: Config, make_db: MakeDb) -> tuple[str, tuple[object, ...]]:
    """A database holding a dataset, and what it holds."""
    url = await make_db("seed_interrupt_test")
    await seed_database(Run(pg_config, db=url), TINY, anchor=ANCHOR, seed=1)
    return url, await snapshot_of(url)


async def assert_unchanged(url: str, before: tuple[object, ...]) -> None:
    assert await snapshot_of(url) == before  # same dataset row, same data, no staging left
    async with exclusive(url, wait_s=1):  # and the lock was let go
        pass


def reseed(url: str, cfg: Config, progress: SeedProgress) -> Awaitable[object]:
    return seed_database(
        Run(cfg, db=url), MIDDLING, anchor=ANCHOR, seed=2, reset=True, progress=progress
    )


async def test_progress_reports_every_phase_and_table(pg_config: Config, make_db: MakeDb) -> None:
    url = await make_db("seed_progress_test")
    recorder = Recorder()
    await seed_database(Run(pg_config, db=url), MIDDLING, anchor=ANCHOR, progress=recorder)
    assert recorder.phases == ["check", "schema", "load", "swap"]
    assert recorder.rows_seen == expected_row_counts(MIDDLING, pg_config.data, "realistic")


async def test_cancel_mid_load(pg_config: Config, seeded: tuple[str, tuple[object, ...]]) -> None:
    url, before = seeded
    task: asyncio.Task[object] | None = None

    def cancel_after_first_chunk(table: str, done: int) -> None:
        if done > 0 and task is not None:
            task.cancel()  # what Ctrl-C does to `perfkit seed`

    task = asyncio.ensure_future(reseed(url, pg_config, Recorder(on_rows=cancel_after_first_chunk)))
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_unchanged(url, before)


async def test_cancel_during_swap(
    pg_config: Config, seeded: tuple[str, tuple[object, ...]]
) -> None:
    url, before = seeded
    task: asyncio.Task[object] | None = None

    def cancel_at_swap(name: str) -> None:
        if name == "swap" and task is not None:
            task.cancel()

    task = asyncio.ensure_future(reseed(url, pg_config, Recorder(on_phase=cancel_at_swap)))
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_unchanged(url, before)


async def test_failure_mid_load(pg_config: Config, seeded: tuple[str, tuple[object, ...]]) -> None:
    url, before = seeded

    class Boom(RuntimeError):
        pass

    def fail(table: str, done: int) -> None:
        if done > 0:
            raise Boom(table)

    with pytest.raises(Boom):
        await reseed(url, pg_config, Recorder(on_rows=fail))
    await assert_unchanged(url, before)


async def test_server_killing_the_load(
    pg_url: str, pg_config: Config, seeded: tuple[str, tuple[object, ...]]
) -> None:
    url, before = seeded
    killed: list[int] = []

    async def terminate_seed_backends() -> None:
        conn = await asyncpg.connect(to_asyncpg(with_database(pg_url, "postgres")))
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = 'seed_interrupt_test'",
                loader.APPLICATION_NAME,
            )
            killed.extend(1 for r in rows if r[0])
        finally:
            await conn.close()

    def kill_once_loading(table: str, done: int) -> None:
        if not killed:  # synchronously, before the first chunk is sent
            thread = threading.Thread(target=asyncio.run, args=(terminate_seed_backends(),))
            thread.start()
            thread.join()

    with pytest.raises(SeedFailedError) as info:
        await reseed(url, pg_config, Recorder(on_rows=kill_once_loading))
    assert killed and "seeding failed" in info.value.message
    await assert_unchanged(url, before)


async def test_swap_blocked_by_another_session(
    pg_config: Config, seeded: tuple[str, tuple[object, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, before = seeded
    monkeypatch.setattr(loader, "SWAP_LOCK_TIMEOUT", "200ms")
    reader = await asyncpg.connect(to_asyncpg(url))
    try:
        async with reader.transaction():  # an open transaction that read the old data
            await reader.fetchval("SELECT count(*) FROM offices")
            with pytest.raises(SeedFailedError) as info:
                await reseed(url, pg_config, Recorder())
            assert info.value.hint and "other sessions" in info.value.hint
    finally:
        await reader.close()
    await assert_unchanged(url, before)
