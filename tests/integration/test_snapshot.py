"""Snapshots against a real server: round trips, refusals, interruptions, dates, pruning, clones.

One small dataset is seeded and snapshotted once per module; each test restores it into
databases of its own on the session's private server, with a snapshot directory of its own
where it damages files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import shutil
import types
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import pytest

from perfkit import views
from perfkit.apps.welfare import application
from perfkit.commands.data import prepare as prepare_command
from perfkit.config import Config, Scale
from perfkit.database import Database, helper_name, spare_name
from perfkit.datagen import read_dataset_info, seed_database
from perfkit.db import connection
from perfkit.errors import UnsafeTargetError
from perfkit.prepare import PrepareReport, create_snapshot
from perfkit.prepare import prepare as ensure_dataset
from perfkit.run import Run
from perfkit.schema_source import remember_fingerprint
from perfkit.snapshot import create, template
from perfkit.snapshot.create import write_snapshot
from perfkit.snapshot.dataset import expected_key
from perfkit.snapshot.errors import (
    CorruptSnapshotError,
    RestoreFailedError,
    SnapshotError,
    StaleSnapshotError,
)
from perfkit.snapshot.listing import list_snapshots, verify_snapshots
from perfkit.snapshot.manifest import Manifest
from perfkit.snapshot.prepare import cloned_database, template_from_target
from perfkit.snapshot.prune import prune
from perfkit.snapshot.restore import restore_snapshot
from perfkit.snapshot.store import Snapshot, SnapshotStore
from perfkit.testing import PrivateServer, scratch_database
from perfkit.urls import with_database

pytestmark = pytest.mark.integration

ANCHOR = dt.date(2026, 1, 15)
ALL_TABLES = application().schema.all_tables


def store_config(cfg: Config, directory: Path) -> Config:
    return msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, directory=directory)
    )


async def digests(url: str, *, shift_back: int = 0) -> dict[str, str]:
    """md5 of every table's rows in id order; cycles' dates moved back by ``shift_back``."""
    out = {}
    async with connection(url) as conn:
        for table in ALL_TABLES:
            rows = "t"
            if table == "support_plan_cycles" and shift_back:
                rows = (f"(t.id, t.individual_support_plan_id, t.cycle_number, "
                        f"t.start_date - {shift_back}, t.end_date - {shift_back}, t.status, "
                        f"t.is_test_data, t.created_at)")  # fmt: skip
            if table == "perfkit_dataset" and shift_back:
                rows = f"(t.scale, t.anchor_date - {shift_back}, t.row_counts, t.parameters)"
            out[table] = await conn.fetchval(
                f"SELECT md5(string_agg({rows}::text, '|' ORDER BY t.id)) FROM {table} t"  # noqa: S608
            )
    return out


async def helper_databases(url: str) -> list[str]:
    """Half-built or old databases left beside the target (its empty spare is expected, and
    templates' ready spares, which background builds of other tests may make, are not the
    restore's)."""
    async with Database(url).admin() as admin:
        rows = await admin.conn.fetch(
            "SELECT datname FROM pg_database WHERE strpos(datname, '__pk') > 0 "
            "AND datname NOT LIKE '%\\_\\_pkspare' AND datname NOT LIKE '%\\_\\_pkrdy\\_%'"
        )
    return [r["datname"] for r in rows]


async def drop_templates(url: str) -> None:
    async with Database(url).admin() as admin:
        for info in await template.list_templates(admin):
            await template.drop(admin, info)


@pytest.fixture(scope="module")
def small(pg_config: Config) -> Scale:
    return pg_config.scale("small")


@pytest.fixture(scope="module")
def snap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshots")


@pytest.fixture(scope="module")
def cfg(pg_config: Config, snap_dir: Path) -> Config:
    return store_config(pg_config, snap_dir)


@pytest.fixture(scope="module")
async def source(pg: PrivateServer, cfg: Config, small: Scale) -> AsyncIterator[str]:
    """A database seeded with scale small as of ANCHOR (never modified by the tests)."""
    url = with_database(pg.url, "perfkit_snapsrc_test")
    async with Database(pg.url).admin() as admin:
        await admin.drop("perfkit_snapsrc_test")
        await admin.create_empty("perfkit_snapsrc_test")
    await seed_database(Run(cfg, db=url), small, anchor=ANCHOR)
    yield url


@pytest.fixture(scope="module")
async def snap(source: str, cfg: Config, small: Scale) -> Snapshot:
    report = await create_snapshot(Run(cfg, db=source), small)
    assert not report.seeded
    return report.snapshot


@pytest.fixture(scope="module")
async def source_digests(source: str) -> dict[str, str]:
    return await digests(source)


@pytest.fixture
async def target(pg: PrivateServer) -> AsyncIterator[str]:
    url = with_database(pg.url, "perfkit_snaptarget_test")
    yield url
    async with Database(pg.url).admin() as admin:
        await admin.drop("perfkit_snaptarget_test")
        await admin.drop(spare_name("perfkit_snaptarget_test"))


@pytest.fixture
def copied(snap: Snapshot, pg_config: Config, tmp_path: Path) -> tuple[Config, Path]:
    """A private copy of the module's snapshot directory, to damage."""
    shutil.copytree(snap.path.parent.parent, tmp_path / "store")
    return store_config(pg_config, tmp_path / "store"), tmp_path / "store" / "small" / snap.id


async def test_round_trip_from_file_then_template(
    target: str, cfg: Config, small: Scale, snap: Snapshot, source_digests: dict[str, str]
) -> None:
    await drop_templates(target)
    first = await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR, method="file")
    assert first.method == "file" and first.template is None and first.shifted_days == 0
    assert await digests(target) == source_digests

    # auto: no template holds this snapshot yet, so files, and a template is left behind
    second = await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR)
    assert second.method == "file" and second.template
    third = await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR)
    assert third.method == "template" and third.snapshot_id == snap.id
    assert await digests(target) == source_digests
    assert await helper_databases(target) == []
    async with connection(target) as conn:
        info = await read_dataset_info(conn)
    assert info is not None and info.anchor_date == ANCHOR and info.scale == "small"
    # the previous database was kept as the next restore's spare, and emptied
    spare = with_database(target, spare_name("perfkit_snaptarget_test"))
    async with connection(spare) as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )


async def test_stale_template_falls_back_to_file(
    target: str, cfg: Config, small: Scale, source_digests: dict[str, str]
) -> None:
    await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR)  # makes sure a template exists
    async with Database(target).admin() as admin:
        tpl = await template.find(admin, "small", expected_key(Run(cfg), small))
        assert tpl is not None
        stale = dataclasses.replace(tpl, snapshot_id="20000101-000000-0000")
        await admin.set_comment(tpl.name, stale.comment())
    report = await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR, keep_template=False)
    assert report.method == "file"
    assert await digests(target) == source_digests


@pytest.mark.parametrize(
    "damage", ["bit flip", "truncated", "missing file", "manifest edited", "stale schema"]
)
async def test_damaged_snapshots_are_refused_and_the_target_is_untouched(
    damage: str,
    target: str,
    cfg: Config,
    small: Scale,
    copied: tuple[Config, Path],
    source_digests: dict[str, str],
) -> None:
    await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR)
    damaged_cfg, folder = copied
    data = folder / "support_plan_cycles.copy.zst"
    manifest_file = folder / "manifest.json"
    if damage == "bit flip":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x10
        data.write_bytes(bytes(raw))
    elif damage == "truncated":
        data.write_bytes(data.read_bytes()[:-100])
    elif damage == "missing file":
        data.unlink()
    elif damage == "manifest edited":
        manifest_file.write_text(manifest_file.read_text().replace('"seed": 42', '"seed": 43'))
    else:
        m = Manifest.from_json(manifest_file.read_text(), source="x")
        SnapshotStore(damaged_cfg.snapshots.directory).write_manifest(
            folder, dataclasses.replace(m, schema_fingerprint="0" * 16)
        )
    expected = StaleSnapshotError if damage == "stale schema" else CorruptSnapshotError
    with pytest.raises(expected) as info:
        await restore_snapshot(Run(damaged_cfg, db=target), small, as_of=ANCHOR)
    assert "nothing was restored" in info.value.message and info.value.hint
    print(f"user saw: perfkit: {info.value.one_line()}")  # `pytest -rP` shows it
    assert await digests(target) == source_digests
    assert await helper_databases(target) == []
    verified = verify_snapshots(Run(damaged_cfg), scale="small")
    assert [v.ok for v in verified] == [False]


class Boom(Exception):
    """Stands for whatever stops a restore half-way."""


@pytest.mark.parametrize("at", ["loading", "building constraints", "swapping"])
async def test_an_interrupted_restore_keeps_the_previous_database(
    at: str, target: str, cfg: Config, small: Scale, source_digests: dict[str, str]
) -> None:
    await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR)

    def stop(message: str) -> None:
        if message.startswith(at):
            raise Boom(message)

    with pytest.raises(Boom):
        await restore_snapshot(
            Run(cfg, db=target, progress=stop),
            small,
            as_of=ANCHOR + dt.timedelta(days=9),
            method="file",
        )
    assert await digests(target) == source_digests
    assert await helper_databases(target) == []


async def test_a_cancelled_restore_keeps_the_previous_database(
    target: str, cfg: Config, small: Scale, source_digests: dict[str, str]
) -> None:
    await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR)
    reached = asyncio.Event()

    def note(message: str) -> None:
        if message.startswith("loading"):
            reached.set()

    task = asyncio.create_task(
        restore_snapshot(Run(cfg, db=target, progress=note), small, as_of=ANCHOR, method="file")
    )
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await digests(target) == source_digests
    assert await helper_databases(target) == []


async def test_a_server_side_failure_keeps_the_previous_database(
    target: str, cfg: Config, small: Scale, copied: tuple[Config, Path],
    source_digests: dict[str, str],
) -> None:  # fmt: skip
    """Data that passes its checksums but that the server rejects (rewritten manifest)."""
    import zstandard

    await restore_snapshot(Run(cfg, db=target), small, as_of=ANCHOR)
    damaged_cfg, folder = copied
    data = folder / "staffs.copy.zst"
    garbage = b"PGCOPY\n\xff\r\n\x00garbage"
    data.write_bytes(zstandard.ZstdCompressor().compress(garbage))
    m = Manifest.from_json((folder / "manifest.json").read_text(), source="x")
    from perfkit.snapshot.fileformat import file_digest

    size, sha = file_digest(data)
    tables = tuple(
        dataclasses.replace(t, bytes=size, sha256=sha, raw_bytes=len(garbage))
        if t.table == "staffs"
        else t
        for t in m.tables
    )
    SnapshotStore(damaged_cfg.snapshots.directory).write_manifest(
        folder, dataclasses.replace(m, tables=tables)
    )
    with pytest.raises(RestoreFailedError) as info:
        await restore_snapshot(Run(damaged_cfg, db=target), small, as_of=ANCHOR, method="file")
    assert "previous database was kept" in info.value.message
    assert await digests(target) == source_digests
    assert await helper_databases(target) == []


async def test_dates_move_to_the_target_day_by_file_and_by_template(
    target: str, cfg: Config, small: Scale, source_digests: dict[str, str]
) -> None:
    later = ANCHOR + dt.timedelta(days=40)
    for method in ("file", "auto", "template"):
        report = await restore_snapshot(Run(cfg, db=target), small, as_of=later, method=method)
        assert report.shifted_days == 40
        moved = await digests(target, shift_back=40)
        unshifted = await digests(target)
        # cycles' dates and the anchor moved by exactly 40 days; all else is as seeded
        assert moved["support_plan_cycles"] == await _cycles_digest(target, 40)
        for table in ("offices", "staffs", "welfare_recipients", "individual_support_plans"):
            assert unshifted[table] == source_digests[table], (method, table)
        async with connection(target) as conn:
            info = await read_dataset_info(conn)
            lowest = await conn.fetchval("SELECT min(start_date) FROM support_plan_cycles")
        assert info is not None and info.anchor_date == later
        assert lowest is not None
    async with Database(target).admin() as admin:
        tpl = await template.find(admin, "small", expected_key(Run(cfg), small))
    assert tpl is not None and tpl.anchor_date == later  # the template moved along, once


async def _cycles_digest(url: str, days: int) -> str:
    """The source's cycles digest computed the same way as digests(shift_back=days) of a
    shifted copy: equal when every date moved by exactly ``days``."""
    src = with_database(url, "perfkit_snapsrc_test")
    async with connection(src) as conn:
        return str(
            await conn.fetchval(
                "SELECT md5(string_agg((t.id, t.individual_support_plan_id, t.cycle_number, "
                "t.start_date, t.end_date, t.status, t.is_test_data, t.created_at)::text, '|' "
                "ORDER BY t.id)) FROM support_plan_cycles t"
            )
        )


async def test_clones_are_isolated_and_dropped(
    pg: PrivateServer, cfg: Config, small: Scale, snap: Snapshot, source_digests: dict[str, str]
) -> None:
    await drop_templates(pg.url)  # cloned_database rebuilds it from the newest snapshot
    async with (
        cloned_database(Run(cfg, db=pg.url), small) as one,
        cloned_database(Run(cfg, db=pg.url), small) as two,
    ):
        assert one.name != two.name
        async with one.connect() as conn:
            await conn.execute("DELETE FROM support_plan_cycles")
        async with two.connect() as conn:
            assert await conn.fetchval("SELECT count(*) FROM support_plan_cycles") > 0
            info = await read_dataset_info(conn)
        assert info is not None and info.anchor_date == dt.date.today()
    async with Database(pg.url).admin() as admin:
        left = await admin.conn.fetch(
            "SELECT 1 FROM pg_database WHERE datname LIKE 'perfkit_clone_%'"
        )
    assert left == []


async def test_prune_keeps_newest_and_dry_run_changes_nothing(
    pg: PrivateServer, source: str, pg_config: Config, small: Scale, tmp_path: Path
) -> None:
    cfg = store_config(pg_config, tmp_path / "store")
    store = SnapshotStore(tmp_path / "store")
    made = [await write_snapshot(Run(cfg, db=source), small, store=store) for _ in range(4)]
    # a stale template (other dataset key) and a helper left by a killed restore
    async with Database(pg.url).admin() as admin:
        stale = template.TemplateInfo(
            template.template_name("small", "0" * 16), "small", "0" * 16, "f" * 16, None, ANCHOR,
            owner=template.owner_of(cfg.state_dir),
        )  # fmt: skip
        await admin.drop(stale.name)
        await admin.create_empty(stale.name)
        await admin.set_comment(stale.name, stale.comment())
        orphan = helper_name("perfkit_gone_test", "new")
        await admin.create_empty(orphan)

    dry = await prune(Run(cfg, db=pg.url), keep=2, dry_run=True)
    assert {e.id for e in dry.snapshots} == {made[0].id, made[1].id}
    assert stale.name in dry.templates and orphan in dry.databases
    assert len(store.snapshots("small")) == 4

    done = await prune(Run(cfg, db=pg.url), keep=2)
    assert [s.id for s in store.snapshots("small")] == [made[3].id, made[2].id]
    assert store.latest_id("small") == made[3].id
    assert stale.name in done.templates and orphan in done.databases
    async with Database(pg.url).admin() as admin:
        assert not await admin.exists(stale.name)
        assert not await admin.exists(orphan)
    listed = list_snapshots(Run(cfg), scale="small")
    assert [row.latest for row in listed] == [True, False]
    assert all(row.fits_schema and row.config_problem is None for row in listed)


async def test_a_server_call_that_never_ends_stops_the_snapshot(
    pg: PrivateServer,
    source: str,
    cfg: Config,
    small: Scale,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A snapshot once hung for more than 10 minutes. Every query now has a deadline (here
    shortened to 1 s): a table another session keeps locked stops the snapshot with one
    error, its sessions are ended (none is left "idle in transaction") and nothing is
    written."""
    monkeypatch.setattr(create, "CALL_S", 1.0)
    store = SnapshotStore(tmp_path / "stuck")
    async with connection(source) as holder:
        await holder.execute("BEGIN; LOCK TABLE offices IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(SnapshotError) as info:
            await write_snapshot(Run(cfg, db=source), small, store=store)
        assert "did not answer in time" in info.value.message
        others = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        others += "AND pid <> pg_backend_pid()"
        for _ in range(200):  # the ended sessions go as the server notices (a moment)
            if not await holder.fetchval(others):
                break
            await asyncio.sleep(0.05)
        assert await holder.fetchval(others) == 0
    assert not store.directory.exists() or not any(store.directory.iterdir())


async def test_prune_drops_only_its_own_templates_on_a_shared_server(
    pg: PrivateServer, source: str, pg_config: Config, small: Scale, tmp_path: Path
) -> None:
    """Two projects (two state folders) on one server, each with its template: prune of one
    used to drop the other's as stale (another dataset key). Now each drops only its own
    stale ones; a template of an older perfkit, naming no owner, is kept and reported."""

    def project(name: str, offices: int) -> Config:
        """A project of its own (state folder ``name``), reaching the server by URL."""
        return msgspec.structs.replace(
            store_config(pg_config, tmp_path / name / "snapshots"),
            state_dir=tmp_path / name,
            scales=types.MappingProxyType(
                {"small": msgspec.structs.replace(small, offices=offices)}
            ),
            database=msgspec.structs.replace(pg_config.database, backend="external"),
            external_url=source,
        )

    a, b = project("a", small.offices), project("b", small.offices + 1)
    schema = Run(pg_config).app.schema
    for cfg in (a, b):  # the schema as built: known already, no need to build it twice more
        remember_fingerprint(cfg, schema, schema.fingerprint)
    assert template.owner_of(a.state_dir) != template.owner_of(b.state_dir)
    await drop_templates(pg.url)
    try:
        for cfg in (a, b):
            made = await template_from_target(
                Run(cfg, db=source, progress=lambda _m: None), cfg.scale("small"), today=ANCHOR
            )
            assert made
        theirs = template.template_name("small", expected_key(Run(b), b.scale("small")))
        ours = template.template_name("small", expected_key(Run(a), a.scale("small")))
        assert theirs != ours
        async with Database(pg.url).admin() as admin:
            legacy = template.TemplateInfo(
                template.template_name("small", "1" * 16), "small", "1" * 16, "f" * 16, None,
                ANCHOR,
            )  # fmt: skip
            mine_stale = dataclasses.replace(
                legacy,
                name=template.template_name("small", "2" * 16),
                dataset_key="2" * 16,
                owner=template.owner_of(a.state_dir),
            )
            for info in (legacy, mine_stale):
                await admin.drop(info.name)
                await admin.create_empty(info.name)
                await admin.set_comment(info.name, info.comment())

        report = await prune(Run(a, db=pg.url))
        assert report.templates == [mine_stale.name]
        assert report.unowned == [legacy.name]
        assert any("name no owner" in line and legacy.name in line
                   for line in views.prune_lines(report))  # fmt: skip
        async with Database(pg.url).admin() as admin:
            assert await admin.exists(theirs) and await admin.exists(ours)
            assert await admin.exists(legacy.name)
            assert not await admin.exists(mine_stale.name)
            owners = {i.name: i.owner for i in await template.list_templates(admin)}
        assert owners[ours] == template.owner_of(a.state_dir)
        assert owners[theirs] == template.owner_of(b.state_dir)
        assert (await prune(Run(b, db=pg.url))).templates == []  # B's own is current for B
    finally:
        await drop_templates(pg.url)


async def test_restore_refuses_a_database_that_is_not_a_test_one(
    pg: PrivateServer, cfg: Config, small: Scale, snap: Snapshot
) -> None:
    url = with_database(pg.url, "keikakun")
    with pytest.raises(UnsafeTargetError):
        await restore_snapshot(Run(cfg, db=url), small)
    async with Database(pg.url).admin() as admin:
        assert not await admin.exists("keikakun")


async def test_prepare_routes_seeded_kept_template_file(
    pg: PrivateServer, pg_config: Config, small: Scale, tmp_path: Path
) -> None:
    cfg = store_config(pg_config, tmp_path / "store")
    url = with_database(pg.url, "perfkit_prepare_test")
    await drop_templates(pg.url)
    try:
        first = await ensure_dataset(Run(cfg, db=url), small)
        assert first.how == "seeded" and first.seed_seconds and first.snapshot_seconds
        assert first.info.anchor_date == dt.date.today()
        done = await prepare_command(Run(cfg, db=url), scale="small")
        report = done.report
        assert report.how == "kept" and done.to_json()["how"] == "kept"
        # --json is the report, field for field
        assert PrepareReport.from_json(json.dumps(done.to_json())) == report
        assert report.info.key() == first.info.key()

        async with connection(url) as conn:  # a destructive test ran here
            await conn.execute("DELETE FROM support_plan_cycles WHERE status = 'completed'")
        again = await ensure_dataset(Run(cfg, db=url), small)
        assert again.how == "template" and again.restore_seconds is not None
        assert "row counts" in (again.reason or "")

        await drop_templates(pg.url)
        async with connection(url) as conn:
            await conn.execute("DELETE FROM offices")
        from_file = await ensure_dataset(Run(cfg, db=url), small)
        assert from_file.how == "file" and from_file.snapshot_id == first.snapshot_id
        assert (await ensure_dataset(Run(cfg, db=url), small)).how == "kept"
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.drop("perfkit_prepare_test")


async def test_a_database_the_user_made_is_seeded_in_place_never_replaced(
    pg: PrivateServer, pg_config: Config, small: Scale, tmp_path: Path
) -> None:
    """The template and file routes replace the database; one perfkit did not create may not be
    replaced on its name alone, so prepare seeds into it even when a template of the dataset
    is on the server (made here by another project), and replaces it only when confirmed."""
    cfg = store_config(pg_config, tmp_path / "store")
    other = store_config(pg_config, tmp_path / "other-store")
    await drop_templates(pg.url)
    made = with_database(pg.url, "perfkit_made_prepare_test")
    try:
        async with scratch_database(pg.url, "users_own_test") as url:
            first = await ensure_dataset(Run(other, db=made), small)  # leaves a template
            assert first.how == "seeded"
            async with Database(pg.url).admin() as admin:
                assert await template.find(admin, "small", first.info.key()) is not None
            seeded = await ensure_dataset(Run(cfg, db=url), small)
            assert seeded.how == "seeded" and seeded.info.key() == first.info.key()
            async with connection(url) as conn:
                await conn.execute("DELETE FROM support_plan_cycles WHERE status = 'completed'")
                assert (
                    await conn.fetchval(
                        "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE datname = current_database()"
                    )
                    is None
                )  # still the user's database, not perfkit's
            again = await ensure_dataset(Run(cfg, db=url), small)
            assert again.how == "seeded" and again.snapshot_id is None  # a snapshot exists
            assert (await ensure_dataset(Run(cfg, db=url), small)).how == "kept"
            await drop_templates(pg.url)  # no template: the file route would replace it too
            async with connection(url) as conn:
                await conn.execute("DELETE FROM offices")
            assert (await ensure_dataset(Run(cfg, db=url), small)).how == "seeded"
            async with connection(url) as conn:
                await conn.execute("DELETE FROM offices")
            confirmed = await ensure_dataset(Run(cfg, db=url), small, confirm="users_own_test")
            assert confirmed.how == "file"  # confirmed: the snapshot's files may replace it
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.drop("perfkit_made_prepare_test")


async def test_no_session_stays_on_a_template(pg: PrivateServer, cfg: Config) -> None:
    async with Database(pg.url).admin() as admin:
        for info in await template.list_templates(admin):
            row = await admin.conn.fetchrow(
                "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1",
                info.name,
            )
            assert row is not None and row["datistemplate"] and not row["datallowconn"]
            assert not await admin.conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", info.name
            )
    with pytest.raises(asyncpg.PostgresError):
        async with connection(with_database(pg.url, info.name)):
            pass
