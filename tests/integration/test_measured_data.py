"""The data measured is the data the record names (issue 18, items 4, 6 and 7).

One tiny dataset is prepared for the whole module (seeded once, with a template); each test
changes it in some way, and ``prepare`` (or the run) must notice, restore it from the template
and say what changed in one line, or must keep it when nothing that counts changed:

- "kept" checks the catalogue (a dropped index, an added column), the database's and roles'
  settings, and committed changes; rolled-back changes (an INSERT, UPDATE or DELETE rolled
  back, EXPLAIN ANALYZE of an INSERT in a rolled-back transaction) do not count (items 6, 7);
- a workload that commits without being declared as writing fails, and the data is restored;
  one declared ``writes: true`` gets a fresh copy for every run, the shared data untouched;
  ``perfkit explain`` never leaves a write behind (item 4).

A writing session publishes its statistics counters before its next statement's answer once
it asked ``pg_stat_force_next_flush()`` (:func:`write`), so the checks below never wait.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest

from perfkit.config import Config, MeasureConfig, Scale, WorkloadConfig
from perfkit.db import connection
from perfkit.guard import WorkloadWroteError
from perfkit.pipeline import run_scale
from perfkit.plans import explain_workload
from perfkit.prepare import PrepareReport, prepare
from perfkit.results import read_records, results_path
from perfkit.run import Run
from perfkit.testing import (
    PrivateServer,
    databases_named,
    drop_databases,
    tiny_scale_config,
)
from perfkit.urls import with_database

pytestmark = pytest.mark.integration

DATABASE = "perfkit_measured_data_test"
INDEX = "ix_support_plan_cycles_active_end_date"
#: Every office (2) copied under a new id (the test workloads and these statements use offices).
COPY_OFFICES = (
    "INSERT INTO offices (id, name, address, phone_number, is_test_data, created_at) "
    "SELECT gen_random_uuid(), name, address, phone_number, is_test_data, created_at "
    "FROM offices"
)
WORKLOADS = {
    "stamp": WorkloadConfig(call="perfkit.testing.workloads:stamp_office"),
    "stamp_declared": WorkloadConfig(call="perfkit.testing.workloads:stamp_office", writes=True),
    "stamp_rolled_back": WorkloadConfig(call="perfkit.testing.workloads:stamp_and_roll_back"),
}


@pytest.fixture(scope="module")
def tiny(
    pg: PrivateServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Config, Scale]]:
    """The session's config with a 2-office scale ``tiny``, its own snapshots and results, the
    test workloads of :mod:`perfkit.testing.workloads`, and one timed run after no warm-up
    (each run of a writing workload costs a clone)."""
    cfg, scale, _ = tiny_scale_config(pg.cfg, tmp_path_factory.mktemp("measured"), offices=2)
    app = msgspec.structs.replace(
        cfg.app, workloads=types.MappingProxyType({**cfg.app.workloads, **WORKLOADS})
    )
    yield msgspec.structs.replace(cfg, app=app, measure=MeasureConfig(repeat=1, warmup=0)), scale


@pytest.fixture(scope="module")
async def shared(pg: PrivateServer, tiny: tuple[Config, Scale]) -> AsyncIterator[str]:
    """The module's shared data: prepared once (seeded, a template kept), dropped after."""
    cfg, scale = tiny
    url = with_database(pg.url, DATABASE)
    await drop_databases(pg.url, DATABASE)
    assert (await prepare(Run(cfg, db=url), scale)).how == "seeded"
    yield url
    await drop_databases(pg.url, DATABASE, *await databases_named(pg.url, "perfkit_tpl_tiny_"))


@pytest.fixture
async def kept(shared: str, tiny: tuple[Config, Scale]) -> str:
    """The shared data, checked to be kept as it is before the test changes it."""
    report = await prepare(Run(tiny[0], db=shared), tiny[1])
    assert report.how == "kept", report.reason
    return shared


async def write(url: str, *statements: str) -> None:
    """Run ``statements`` in one session, then make it publish its counters (PostgreSQL 15:
    forced at the session's next idle moment, before that statement's answer)."""
    async with connection(url) as conn:
        for sql in statements:
            await conn.execute(sql)
        await conn.execute("SELECT pg_stat_force_next_flush()")


async def again(url: str, tiny: tuple[Config, Scale]) -> PrepareReport:
    """``prepare`` after a change; then once more, which must keep what it restored."""
    report = await prepare(Run(tiny[0], db=url), tiny[1])
    follow = await prepare(Run(tiny[0], db=url), tiny[1])
    assert follow.how == "kept", follow.reason
    return report


# -- item 7: rolled back is not changed ------------------------------------------------------


async def test_rolled_back_changes_keep_the_data(kept: str, tiny: tuple[Config, Scale]) -> None:
    """An INSERT, an UPDATE, a DELETE and EXPLAIN ANALYZE of an INSERT, each in a transaction
    rolled back: the attempts are counted, and must not count as changes."""
    statements = (
        COPY_OFFICES,
        "UPDATE support_plan_cycles SET status = 'completed'",
        "DELETE FROM support_plan_cycles",
        f"EXPLAIN (ANALYZE, FORMAT JSON) {COPY_OFFICES}",
    )
    await write(kept, *(part for sql in statements for part in ("BEGIN", sql, "ROLLBACK")))
    async with connection(kept) as conn:
        attempts = await conn.fetch(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
            "WHERE relname IN ('offices', 'support_plan_cycles') ORDER BY relname"
        )
    offices, cycles = (tuple(r)[1:] for r in attempts)
    assert offices[0] >= 4 and cycles[1] > 0 and cycles[2] > 0  # 2 + 2 inserts, and the rest
    report = await prepare(Run(tiny[0], db=kept), tiny[1])
    assert report.how == "kept", report.reason


async def test_a_committed_change_is_restored_with_one_line(
    kept: str, tiny: tuple[Config, Scale]
) -> None:
    """A row inserted and deleted in one committed transaction (the row counts are equal),
    beside a copy rolled back: a change, restored."""
    await write(
        kept,
        "BEGIN",
        COPY_OFFICES,
        "ROLLBACK",
        "BEGIN",
        "INSERT INTO offices (id, name, address, phone_number) VALUES "
        "(gen_random_uuid(), 'x', 'y', 'z')",
        "DELETE FROM offices WHERE name = 'x'",
        "COMMIT",
    )
    report = await again(kept, tiny)
    assert report.how == "template"
    # (the attempts since the load include earlier tests' rolled-back ones: the data was kept)
    reason = report.reason or ""
    assert reason.startswith(
        "its tables were changed since it was loaded (2 rows changed in offices (committed; of "
    )
    assert reason.endswith(" inserted, 0 updated, 1 deleted, the rest rolled back))")


# -- item 6: the catalogue and the settings ----------------------------------------------------


async def test_a_dropped_index_and_an_added_column_are_not_kept(
    kept: str, tiny: tuple[Config, Scale]
) -> None:
    await write(kept, f"DROP INDEX {INDEX}", "ALTER TABLE offices ADD COLUMN note text")
    report = await again(kept, tiny)
    assert report.how == "template"
    assert report.reason == (
        "its tables are not as they were built (column offices.note was added; index "
        f"{INDEX} of support_plan_cycles was dropped)"
    )
    async with connection(kept) as conn:
        assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", INDEX)


async def test_a_database_setting_is_not_kept(kept: str, tiny: tuple[Config, Scale]) -> None:
    await write(kept, f"ALTER DATABASE {DATABASE} SET enable_indexscan = off")
    report = await again(kept, tiny)
    assert report.how == "template"
    assert report.reason == (
        "its settings changed since it was loaded (database setting enable_indexscan=off was added)"
    )
    async with connection(kept) as conn:  # the restored database has no setting of its own
        assert await conn.fetchval("SHOW enable_indexscan") == "on"


async def test_role_settings_are_not_kept(kept: str, tiny: tuple[Config, Scale]) -> None:
    """``ALTER ROLE`` of the connecting user, in this database and everywhere. A restore cannot
    undo a setting of the whole server: the new load records it, and keeps it from then on."""
    async with connection(kept) as conn:
        user = await conn.fetchval("SELECT current_user")
    try:
        await write(
            kept,
            f"ALTER ROLE {user} IN DATABASE {DATABASE} SET work_mem = '1MB'",
            f"ALTER ROLE {user} SET random_page_cost = 3",
        )
        report = await again(kept, tiny)
        assert report.reason == (
            "its settings changed since it was loaded (database setting work_mem=1MB for role "
            f"{user} was added, role setting random_page_cost=3 of {user} was added)"
        )
    finally:
        await write(kept, f"ALTER ROLE {user} RESET random_page_cost")
        await prepare(Run(tiny[0], db=kept), tiny[1])  # recorded again without it


# -- item 4: workloads that write -----------------------------------------------------------


async def stamped(url: str) -> int:
    async with connection(url) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM offices WHERE name LIKE '%*'"))


async def test_an_undeclared_writer_fails_and_the_data_is_restored(
    kept: str, tiny: tuple[Config, Scale]
) -> None:
    cfg, scale = tiny
    before = len(read_records(results_path(cfg))) if results_path(cfg).exists() else 0
    with pytest.raises(WorkloadWroteError) as info:
        await run_scale(Run(cfg, db=kept), scale, run_id="writer", workload="stamp")
    assert info.value.workload == "stamp"
    # the timed, memory and profiled runs committed; EXPLAIN ANALYZE's was rolled back
    assert info.value.what == (
        "its tables were changed since it was loaded (3 rows changed in offices (committed; "
        "of 0 inserted, 4 updated, 0 deleted, the rest rolled back))"
    )
    assert info.value.hint and "app.workloads.stamp.writes: true" in info.value.hint
    assert await stamped(kept) == 0  # restored before anything else is measured
    after = len(read_records(results_path(cfg))) if results_path(cfg).exists() else 0
    assert after == before  # nothing recorded
    assert (await prepare(Run(cfg, db=kept), scale)).how == "kept"


async def test_a_declared_writer_gets_a_fresh_copy_for_every_run(
    pg: PrivateServer, kept: str, tiny: tuple[Config, Scale]
) -> None:
    cfg, scale = tiny
    run = await run_scale(Run(cfg, db=kept), scale, run_id="declared", workload="stamp_declared")
    assert run.passed, run.failures
    # every run found one stamp: its own (the timed, memory and profiled runs)
    assert run.numbers == {"stamped": 1}
    assert run.record.dataset["key"] == run.info.key()
    assert await stamped(kept) == 0
    assert (await prepare(Run(cfg, db=kept), scale)).how == "kept"
    assert await databases_named(pg.url, "perfkit_clone_") == []


async def test_rolled_back_writes_of_a_run_and_its_explains_keep_the_data(
    kept: str, tiny: tuple[Config, Scale]
) -> None:
    """The workload's UPDATE is rolled back, and EXPLAIN ANALYZE runs it again, rolled back."""
    cfg, scale = tiny
    run = await run_scale(Run(cfg, db=kept), scale, run_id="rolled", workload="stamp_rolled_back")
    assert run.passed, run.failures
    assert any(e.get("plan") for e in run.record.profile)  # the UPDATE was explained
    assert (await prepare(Run(cfg, db=kept), scale)).how == "kept"


async def test_explain_never_leaves_a_write_behind(
    pg: PrivateServer, kept: str, tiny: tuple[Config, Scale]
) -> None:
    cfg, scale = tiny
    report = await explain_workload(Run(cfg, db=kept), scale, workload="stamp_declared")
    assert report.profile.statements and report.plans
    assert await stamped(kept) == 0
    assert await databases_named(pg.url, "perfkit_clone_") == []

    with pytest.raises(WorkloadWroteError) as info:
        await explain_workload(Run(cfg, db=kept), scale, workload="stamp")
    assert info.value.workload == "stamp"
    assert await stamped(kept) == 0
    assert (await prepare(Run(cfg, db=kept), scale)).how == "kept"
