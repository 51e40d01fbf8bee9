"""A dataset changed since it was loaded is never taken for the dataset: ``prepare`` does not
keep it, ``snapshot`` does not save it, ``seed`` does not call it "already there".

Changes are told from PostgreSQL's statistics counters recorded after the load
(:mod:`perfkit.datagen.changes`). Other sessions publish their counters when they end or go
idle, so the tests close the writing connection and then poll, with a deadline, for the
change to show; they never sleep blindly.
"""

from __future__ import annotations

import time
import types
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from perfkit.apps.welfare import application
from perfkit.config import Config, Scale
from perfkit.datagen import DatasetConflictError, seed_database
from perfkit.datagen.changes import (
    LoadCheck,
    changes_since_load,
    read_load_baseline,
    record_load_baseline,
)
from perfkit.db import connect, connection
from perfkit.env.base import ensure_database
from perfkit.prepare import create_snapshot, prepare
from perfkit.run import Run
from perfkit.schema import quote_ident
from perfkit.snapshot.dataset import database_problem
from perfkit.snapshot.store import SnapshotStore
from perfkit.testing import PrivateServer, databases_named, drop_databases
from perfkit.urls import with_database

pytestmark = pytest.mark.integration

TABLES = application().tables
TINY = Scale(name="tiny", offices=3, staff_per_office=4, recipients_per_office=10)
#: How long another session may take to publish its counters (PostgreSQL 15 flushes at the
#: latest 10 s after a write while the session stays idle; a closed session at once).
FLUSH_DEADLINE_S = 15.0


@pytest.fixture
def cfg(pg_config: Config, tmp_path: Path) -> Config:
    """The session's config with scale tiny and a snapshot folder of this test's own."""
    return msgspec.structs.replace(
        pg_config,
        scales=types.MappingProxyType({**pg_config.scales, "tiny": TINY}),
        snapshots=msgspec.structs.replace(pg_config.snapshots, directory=tmp_path / "snapshots"),
    )


@pytest.fixture
async def seeded(pg: PrivateServer, cfg: Config) -> AsyncIterator[str]:
    """A perfkit-made database freshly seeded with scale tiny."""
    name = "perfkit_changes_test"
    await drop_databases(pg.url, name)
    url = with_database(pg.url, name)
    await ensure_database(url)
    await seed_database(Run(cfg, db=url), TINY)
    yield url
    await drop_databases(pg.url, name)


async def write(url: str, sql: str) -> None:
    """Run ``sql`` in a session of its own, closed at once (as a test or a user would)."""
    async with connection(url) as conn:
        await conn.execute(sql)


async def problem(url: str, cfg: Config) -> str | None:
    async with connection(url) as conn:
        _, found = await database_problem(conn, Run(cfg), TINY)
    return found


async def problem_once_published(url: str, cfg: Config) -> str | None:
    """:func:`database_problem`, asked again until it reports something or the deadline for
    other sessions' counters to be published passes."""
    deadline = time.monotonic() + FLUSH_DEADLINE_S
    while (found := await problem(url, cfg)) is None and time.monotonic() < deadline:
        async with connection(url) as conn:  # a short pause that is also a real round trip
            await conn.execute("SELECT pg_sleep(0.05)")
    return found


async def check(url: str) -> LoadCheck:
    async with connection(url) as conn:
        return await changes_since_load(conn, TABLES)


async def test_a_fresh_load_and_reads_are_no_change(seeded: str, cfg: Config) -> None:
    assert await problem(seeded, cfg) is None
    async with connection(seeded) as conn:
        assert await read_load_baseline(conn) is not None
        await conn.fetchval("SELECT count(*) FROM support_plan_cycles")
    assert (await check(seeded)) == LoadCheck(known=True)
    assert not (await seed_database(Run(cfg, db=seeded), TINY)).created  # "already holds it"


async def test_a_load_analyzes_each_table_once(seeded: str) -> None:
    """The loaders publish their counters before each table's ANALYZE, so the record finds
    no table to analyze again (a second ANALYZE of every table cost 15 to 20 % of a seed)."""
    async with connection(seeded) as conn:
        counts = dict(
            await conn.fetch(
                "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY($1)",
                list(TABLES),
            )
        )
    assert counts == dict.fromkeys(TABLES, 1)


async def test_updated_rows_are_a_change_though_the_counts_are_equal(
    seeded: str, cfg: Config
) -> None:
    """The issue's case: every cycle set to ``completed`` kept the row counts."""
    await write(seeded, "UPDATE support_plan_cycles SET status = 'completed'")
    found = await problem_once_published(seeded, cfg)
    assert found is not None and "updated in support_plan_cycles" in found
    result = await check(seeded)
    assert result.known and result.tables == ("support_plan_cycles",) and not result.reset
    with pytest.raises(DatasetConflictError) as info:  # `perfkit seed` does not say "kept"
        await seed_database(Run(cfg, db=seeded), TINY)
    assert info.value.hint and "--reset" in info.value.hint


async def test_a_statistics_reset_counts_as_a_change(seeded: str, cfg: Config) -> None:
    await write(seeded, "SELECT pg_stat_reset()")
    found = await problem_once_published(seeded, cfg)
    assert found is not None and "reset" in found
    assert (await check(seeded)).reset


async def test_a_rewritten_table_is_a_change(seeded: str, cfg: Config) -> None:
    await write(seeded, "VACUUM FULL staffs")
    result = await check(seeded)
    assert result.known and result.tables == ("staffs",)


async def test_a_copied_record_does_not_count_until_recorded_again(
    pg: PrivateServer, seeded: str, cfg: Config
) -> None:
    """A clone carries its source's record; the database's oid tells it is not its own, so
    exact row counts decide until the clone's own record is made."""
    clone = "perfkit_changes_clone_test"
    await drop_databases(pg.url, clone)
    async with connection(with_database(pg.url, "postgres")) as admin:
        await admin.execute(
            f"CREATE DATABASE {quote_ident(clone)} TEMPLATE {quote_ident('perfkit_changes_test')}"
        )
    url = with_database(pg.url, clone)
    try:
        assert (await check(url)).known is False
        assert await problem(url, cfg) is None  # row counts agree
        async with connection(url) as conn:
            await record_load_baseline(conn, TABLES)
        await write(url, "DELETE FROM support_plan_cycles WHERE status = 'completed'")
        found = await problem_once_published(url, cfg)
        assert found is not None and "deleted in support_plan_cycles" in found
    finally:
        await drop_databases(pg.url, clone)


async def test_without_a_record_row_counts_decide_as_before(seeded: str, cfg: Config) -> None:
    await write(seeded, "COMMENT ON TABLE perfkit_dataset IS NULL")  # loaded by an older perfkit
    assert (await check(seeded)).known is False
    await write(seeded, "DELETE FROM support_plan_cycles WHERE status = 'completed'")
    found = await problem(seeded, cfg)
    assert found is not None and "row counts differ" in found


async def test_prepare_does_not_keep_changed_data(pg: PrivateServer, cfg: Config) -> None:
    name = "perfkit_changes_prepare_test"
    url = with_database(pg.url, name)
    await drop_databases(pg.url, name)
    try:
        assert (await prepare(Run(cfg, db=url), TINY)).how == "seeded"
        assert (await prepare(Run(cfg, db=url), TINY)).how == "kept"

        await write(url, "UPDATE support_plan_cycles SET status = 'completed'")
        assert await problem_once_published(url, cfg) is not None
        again = await prepare(Run(cfg, db=url), TINY)
        assert again.how != "kept" and "updated in support_plan_cycles" in (again.reason or "")
        async with connection(url) as conn:
            active = await conn.fetchval(
                "SELECT count(*) FROM support_plan_cycles WHERE status = 'active'"
            )
        assert active > 0  # the dataset is back
    finally:
        await drop_databases(pg.url, name, *await databases_named(pg.url, "perfkit_tpl_tiny_"))


async def test_snapshot_seeds_again_instead_of_saving_changed_data(
    seeded: str, cfg: Config
) -> None:
    await write(seeded, "UPDATE staffs SET email = 'x' || email")
    assert await problem_once_published(seeded, cfg) is not None
    made = await create_snapshot(
        Run(cfg, db=seeded), TINY, store=SnapshotStore(cfg.snapshots.directory)
    )
    assert made.seeded and "updated in staffs" in (made.seed_reason or "")
    async with connection(seeded) as conn:
        assert not await conn.fetchval("SELECT count(*) FROM staffs WHERE email LIKE 'x%'")
    assert await problem(seeded, cfg) is None  # the new load has a record of its own


async def test_the_record_waits_for_the_loaders(seeded: str) -> None:
    """Counters of a session that ends just before the record are in it: the record waits
    until the session has left (and so has published its counters)."""
    async with connection(seeded) as conn:
        writer = await connect(seeded)
        pid = writer.get_server_pid()
        await writer.execute("UPDATE offices SET name = name")
        writer.terminate()
        await record_load_baseline(conn, TABLES, loaders=[pid])
        assert (await changes_since_load(conn, TABLES)).problem is None
