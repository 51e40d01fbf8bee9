"""Restores and templates under interruption: the hardening issue's items 3, 8 and 11.

- an interrupted template date refresh is detected and repaired, never served as current;
- helper databases a killed restore left behind (marked or not yet marked) are recognised
  and removed, by the next restore and by ``prune``;
- an interruption right after a restore's swap says that the restore took effect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from perfkit.config import Config, Scale
from perfkit.database import Database, helper_name, spare_name
from perfkit.datagen import read_dataset_info, seed_database
from perfkit.prepare import create_snapshot
from perfkit.prepare import prepare as perfkit_prepare
from perfkit.run import Run
from perfkit.schema import quote_ident
from perfkit.snapshot import template
from perfkit.snapshot.dataset import database_problem, expected_key
from perfkit.snapshot.errors import InterruptedAfterSwapError
from perfkit.snapshot.prepare import cloned_database
from perfkit.snapshot.prune import prune
from perfkit.snapshot.restore import restore_snapshot
from perfkit.snapshot.store import Snapshot
from perfkit.testing import PrivateServer

pytestmark = pytest.mark.integration

ANCHOR = dt.date(2026, 1, 15)
SOURCE = "perfkit_hard_src_test"
TARGET = "perfkit_hard_target_test"


@pytest.fixture(scope="module")
def small(pg_config: Config) -> Scale:
    return pg_config.scale("small")


@pytest.fixture(scope="module")
def cfg(pg_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    directory: Path = tmp_path_factory.mktemp("hardening-snapshots")
    return msgspec.structs.replace(
        pg_config, snapshots=msgspec.structs.replace(pg_config.snapshots, directory=directory)
    )


@pytest.fixture(scope="module")
async def snap(pg: PrivateServer, cfg: Config, small: Scale) -> AsyncIterator[Snapshot]:
    server = Database(pg.url)
    async with server.admin() as admin:
        await admin.drop(SOURCE)
        await admin.create_empty(SOURCE)
    await seed_database(Run(cfg, db=server.other(SOURCE).url), small, anchor=ANCHOR)
    report = await create_snapshot(Run(cfg, db=server.other(SOURCE)), small)
    yield report.snapshot
    async with server.admin() as admin:
        await admin.drop(SOURCE)


@pytest.fixture
async def target(pg: PrivateServer) -> AsyncIterator[Database]:
    db = Database(pg.url).other(TARGET)
    yield db
    async with db.admin() as admin:
        await admin.drop(TARGET)
        await admin.drop(spare_name(TARGET))
        for name in await admin.leftovers(TARGET):
            await admin.drop(name)


async def anchor_of(db: Database) -> dt.date:
    async with db.connect() as conn:
        info = await read_dataset_info(conn)
    assert info is not None
    return info.anchor_date


async def test_an_interrupted_template_refresh_is_repaired(
    pg: PrivateServer, target: Database, cfg: Config, small: Scale, snap: Snapshot
) -> None:
    """A refresh killed after the data moved but before the recorded date was: the mark
    written first makes the next use repair it, so a clone is dated as asked."""
    await restore_snapshot(
        Run(cfg, db=target), small, as_of=ANCHOR, keep_template=True, method="file"
    )
    server = Database(pg.url)
    async with server.admin() as admin:
        tpl = await template.find(admin, small.name, expected_key(Run(cfg), small))
        assert tpl is not None and tpl.anchor_date == ANCHOR and not tpl.refreshing
        # The state a kill leaves: the mark is written, the data sits on another day
        # (here: moved back 7 days by hand), and the recorded date says ANCHOR + 7.
        later = ANCHOR + dt.timedelta(days=7)
        await admin.set_comment(
            tpl.name, dataclasses.replace(tpl, anchor_date=later, refreshing=True).comment()
        )
        await admin.conn.execute(f"ALTER DATABASE {quote_ident(tpl.name)} ALLOW_CONNECTIONS true")
    async with server.other(tpl.name).connect() as conn:
        await conn.execute("UPDATE perfkit_dataset SET anchor_date = anchor_date - 7")
    async with server.admin() as admin:
        await admin.conn.execute(f"ALTER DATABASE {quote_ident(tpl.name)} ALLOW_CONNECTIONS false")
        listed = await template.find(admin, small.name, expected_key(Run(cfg), small))
        assert listed is not None and listed.refreshing  # seen as interrupted

    # Asked for the recorded date, the template is repaired, not trusted.
    report = await restore_snapshot(Run(cfg, db=target), small, as_of=later, method="template")
    assert report.method == "template"
    assert await anchor_of(target) == later
    async with server.admin() as admin:
        repaired = await template.find(admin, small.name, expected_key(Run(cfg), small))
    assert repaired is not None and not repaired.refreshing and repaired.anchor_date == later


async def test_unmarked_helper_copies_of_a_killed_restore_are_removed(
    pg: PrivateServer, target: Database, cfg: Config, small: Scale, snap: Snapshot
) -> None:
    """``CREATE DATABASE ... TEMPLATE`` finished, the kill came before its comment: the copy
    carries no mark. Its exact helper name proves it perfkit's; prune and the next restore
    remove it, while a user's database with a similar name stays."""
    await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR, method="file")
    server = Database(pg.url)
    orphan = helper_name(TARGET, "new")
    clone = "perfkit_clone_small_0123abcd"  # another kind: a killed test's clone, unmarked
    users = f"{TARGET}__pknew_notours"  # not the helper shape: never touched
    async with server.admin() as admin:
        for name in (orphan, clone, users):
            await admin.drop(name)
            await admin.conn.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE {TARGET}")
        assert await admin.comment_of(orphan) is None
    try:
        planned = await prune(Run(cfg, db=pg.url), dry_run=True)
        assert {orphan, clone} <= set(planned.databases) and users not in planned.databases
        done = await prune(Run(cfg, db=pg.url))
        assert {orphan, clone} <= set(done.databases)
        async with server.admin() as admin:
            assert not await admin.exists(orphan) and not await admin.exists(clone)
            assert await admin.exists(users)
            # the next restore cleans up its own target's leftovers too
            again = helper_name(TARGET, "old")
            await admin.conn.execute(f"CREATE DATABASE {quote_ident(again)}")
        await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR, method="file")
        async with server.admin() as admin:
            assert not await admin.exists(again)
    finally:
        async with server.admin() as admin:
            await admin.drop(users)


async def test_an_interruption_after_the_swap_says_the_restore_took_effect(
    target: Database, cfg: Config, small: Scale, snap: Snapshot
) -> None:
    """Ctrl-C lands while the old copy is being tidied: the restore already took effect,
    and the error says so (with the database), instead of a bare "interrupted"."""
    await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR, method="file")

    def interrupt_after_swap(message: str) -> None:
        if message.startswith("swapped"):
            raise KeyboardInterrupt

    later = ANCHOR + dt.timedelta(days=3)
    with pytest.raises(InterruptedAfterSwapError) as raised:
        await restore_snapshot(
            Run(cfg, db=target, progress=interrupt_after_swap), small, as_of=later, method="file"
        )
    assert raised.value.database == TARGET and raised.value.exit_code == 130
    assert await anchor_of(target) == later  # it did take effect


async def test_a_clone_for_a_destructive_test_is_dropped_and_never_leaks(
    pg: PrivateServer, cfg: Config, small: Scale, snap: Snapshot
) -> None:
    async with cloned_database(Run(cfg, db=pg.url), small) as clone, clone.connect() as conn:
        await conn.execute("DELETE FROM support_plan_cycles")
    async with Database(pg.url).admin() as admin:
        assert not await admin.exists(clone.name)
        assert clone.name not in await admin.leftovers()


async def test_two_prepares_at_once_both_succeed_and_one_snapshot_is_written(
    pg: PrivateServer, pg_config: Config, small: Scale, tmp_path: Path
) -> None:
    """Item 7: the second `perfkit prepare` waits for the first (the whole preparation holds
    the database's lock, snapshot writing included), then keeps what the first made."""
    cfg = msgspec.structs.replace(
        pg_config,
        snapshots=msgspec.structs.replace(pg_config.snapshots, directory=tmp_path / "snaps"),
    )
    db = Database(pg.url).other("perfkit_hard_twice_test")
    async with db.admin() as admin:
        await admin.drop(db.name)
        for info in await template.list_templates(admin):
            await template.drop(admin, info)
    said: list[str] = []
    try:
        first, second = await asyncio.gather(
            perfkit_prepare(Run(cfg, db=db, progress=said.append, note=said.append), small),
            perfkit_prepare(Run(cfg, db=db, progress=said.append, note=said.append), small),
        )
        assert sorted([first.how, second.how]) == ["kept", "seeded"]
        assert any("waiting" in line for line in said)  # the second one said it waited
        assert first.info.key() == second.info.key()
        written = list((tmp_path / "snaps" / small.name).iterdir())
        assert [p for p in written if p.name != "LATEST" and not p.name.startswith(".")]
    finally:
        async with db.admin() as admin:
            await admin.drop(db.name)


async def test_a_restored_database_notices_later_changes(
    target: Database, cfg: Config, small: Scale, snap: Snapshot
) -> None:
    """Item 9 for restores: the load is recorded after the swap (files and template clones
    alike), so a later UPDATE that keeps the row counts is still a change."""
    for method in ("file", "template"):
        await restore_snapshot(
            Run(cfg, db=target), small, as_of=ANCHOR, method=method, keep_template=True
        )
        async with target.connect() as conn:
            _, problem = await database_problem(conn, Run(cfg), small, today=ANCHOR)
            assert problem is None, method
            await conn.execute("UPDATE support_plan_cycles SET status = 'completed'")
        for _ in range(100):  # the statistics reach other sessions within moments
            async with target.connect() as conn:
                _, problem = await database_problem(conn, Run(cfg), small, today=ANCHOR)
            if problem is not None:
                break
            await asyncio.sleep(0.1)
        assert problem is not None and "changed" in problem, method
