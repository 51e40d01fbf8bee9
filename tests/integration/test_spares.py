"""Spares against a real server: a restore as a rename, and every way a spare must not be used.

One small dataset is seeded and snapshotted once per module; its template is made by a restore
from the files. Spares are on in this module's config (the test servers turn them off).
Builds run in process (``spares.build``) where the order of events matters, and as the real
background process where the process is the point.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest

from perfkit.apps.welfare import application
from perfkit.config import Config, Scale
from perfkit.database import Database, helper_kind, ready_spare_name
from perfkit.datagen import seed_database
from perfkit.env.base import CREATED_BY_PERFKIT
from perfkit.locks import exclusive, lock_key
from perfkit.pipeline import prepare_data
from perfkit.prepare import create_snapshot
from perfkit.prepare import prepare as perfkit_prepare
from perfkit.run import Run
from perfkit.schema import quote_ident
from perfkit.snapshot import spare_build, spares, template
from perfkit.snapshot.dataset import database_problem, expected_key
from perfkit.snapshot.prune import prune
from perfkit.snapshot.restore import RestoreReport, drop_leftovers, restore_snapshot
from perfkit.snapshot.store import Snapshot
from perfkit.testing import PrivateServer

pytestmark = pytest.mark.integration

ANCHOR = dt.date(2026, 1, 15)
ALL_TABLES = application().schema.all_tables
#: A committed change that keeps every row count.
CHANGE_ONE_ROW = (
    "UPDATE support_plan_cycles SET status = 'completed' "
    "WHERE id = (SELECT id FROM support_plan_cycles ORDER BY id LIMIT 1)"
)
SOURCE = "perfkit_spare_src_test"
TARGET = "perfkit_spare_target_test"


@pytest.fixture(scope="module")
def small(pg_config: Config) -> Scale:
    return pg_config.scale("small")


@pytest.fixture(scope="module")
def cfg(pg_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The session's config with spares on, and snapshots of this module's own."""
    directory: Path = tmp_path_factory.mktemp("spares-snapshots")
    return msgspec.structs.replace(
        pg_config,
        snapshots=msgspec.structs.replace(pg_config.snapshots, directory=directory, spare=True),
    )


@pytest.fixture(scope="module")
def server(pg: PrivateServer) -> Database:
    return Database(pg.url)


@pytest.fixture(scope="module")
async def snap(server: Database, cfg: Config, small: Scale) -> AsyncIterator[Snapshot]:
    async with server.admin() as admin:
        await admin.drop(SOURCE)
        await admin.create_empty(SOURCE)
    await seed_database(Run(cfg, db=server.other(SOURCE)), small, anchor=ANCHOR)
    report = await create_snapshot(Run(cfg, db=server.other(SOURCE)), small)
    yield report.snapshot
    async with server.admin() as admin:
        await admin.drop(SOURCE)


@pytest.fixture(scope="module")
async def source_digests(server: Database, snap: Snapshot) -> dict[str, str]:
    return await digests(server.other(SOURCE))


@pytest.fixture
async def target(
    server: Database, cfg: Config, small: Scale, snap: Snapshot
) -> AsyncIterator[Database]:
    """The target holds the snapshot as of ANCHOR, the template is made and dated ANCHOR, and
    no spare exists yet."""
    db = server.other(TARGET)
    await restore_snapshot(
        Run(cfg, db=db), small, as_of=ANCHOR, method="file", keep_template=True, build_spare=False
    )
    async with server.admin() as admin:
        for name in await admin.ready_spares(template_of(cfg, small)):
            await admin.drop(name)
    yield db
    await builds_finished()  # none of this test's background builds runs into the next test
    async with server.admin() as admin:
        for name in [TARGET, *await admin.leftovers(TARGET)]:
            await admin.drop(name)
        for info in await template.list_templates(admin):
            await template.drop(admin, info)


def background_builds() -> list[int]:
    """This process's background builds still running (its children running the module)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            argv = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and spares.MODULE.encode() in argv and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


async def builds_finished(seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if not background_builds():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"background builds still running: {background_builds()}")


def template_of(cfg: Config, small: Scale) -> str:
    return template.template_name(small.name, expected_key(Run(cfg), small))


def spare_of(cfg: Config, small: Scale) -> str:
    return ready_spare_name(template_of(cfg, small), template.owner_of(cfg.state_dir))


def start_background_build(
    server: Database, cfg: Config, small: Scale
) -> subprocess.Popen[bytes] | None:
    """The real background build of the module's template's spare, as a restore starts it."""
    return spares.start_build(
        server,
        state_dir=cfg.state_dir,
        template_name=template_of(cfg, small),
        owner=template.owner_of(cfg.state_dir),
        tables=application().tables,
    )


async def build(server: Database, cfg: Config, small: Scale) -> spares.SpareInfo:
    made = await spare_build.build(
        server,
        template_name=template_of(cfg, small),
        owner=template.owner_of(cfg.state_dir),
        tables=application().tables,
        target=TARGET,
    )
    assert made is not None
    return made


async def digests(db: Database) -> dict[str, str]:
    """md5 of every table's rows in id order."""
    out = {}
    async with db.connect() as conn:
        for table in ALL_TABLES:
            out[table] = await conn.fetchval(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t"  # noqa: S608
            )
    return out


async def restore(
    db: Database,
    cfg: Config,
    small: Scale,
    *,
    progress: Callable[[str], None] | None = None,
    **kwargs: object,
) -> RestoreReport:
    """A restore as of ANCHOR that starts no background build (unless asked); its progress
    lines go to ``progress``."""
    options: dict[str, object] = {"as_of": ANCHOR, "build_spare": False, **kwargs}
    run = Run(cfg, db=db, progress=progress)
    return await restore_snapshot(run, small, **options)  # type: ignore[arg-type]


async def exists(server: Database, name: str) -> bool:
    async with server.admin() as admin:
        return await admin.exists(name)


async def test_a_restore_renames_a_ready_spare_into_place(
    server: Database,
    target: Database,
    cfg: Config,
    small: Scale,
    source_digests: dict[str, str],
) -> None:
    made = await build(server, cfg, small)
    assert made.name == spare_of(cfg, small) and made.anchor_date == ANCHOR
    report = await restore(target, cfg, small)
    assert report.route == "spare" and report.method == "template"
    assert report.template == template_of(cfg, small)
    assert "spare" in report.steps and "clone" not in report.steps
    assert await digests(target) == source_digests
    assert not await exists(server, made.name)  # it became the target
    async with server.admin() as admin:
        assert await admin.comment_of(TARGET) == CREATED_BY_PERFKIT  # the mark went with it
        assert await admin.conn.fetchval(
            "SELECT datallowconn FROM pg_database WHERE datname = $1", TARGET
        )
    # it is the dataset, kept (its own load record came along), and a later change is noticed
    async with target.connect() as conn:
        _, problem = await database_problem(conn, Run(cfg), small, today=ANCHOR)
        assert problem is None
        await conn.execute("UPDATE support_plan_cycles SET status = 'completed'")
    for _ in range(100):  # the statistics reach other sessions within moments
        async with target.connect() as conn:
            _, problem = await database_problem(conn, Run(cfg), small, today=ANCHOR)
        if problem is not None:
            break
        await asyncio.sleep(0.1)
    assert problem is not None and "changed" in problem
    # the database it replaced waits under a helper name; the next build drops it first
    async with server.admin() as admin:
        assert len(await admin.leftovers(TARGET)) == 1
    await build(server, cfg, small)
    async with server.admin() as admin:
        assert await admin.leftovers(TARGET) == []
        await admin.drop(made.name)
    # no spare now: the next restore clones, and its data is right
    again = await restore(target, cfg, small)
    assert again.route == "clone" and await digests(target) == source_digests
    assert "clone" in again.steps and "spare" not in again.steps  # what `invoke restore` lists


async def break_spare(server: Database, name: str, how: str) -> None:
    """Change a ready spare the ways a user (or a stray tool) could."""
    ident = quote_ident(name)
    async with server.admin() as admin:
        if how == "setting":  # no connection needed: the seal holds, the settings differ
            await admin.conn.execute(f"ALTER DATABASE {ident} SET enable_indexscan = off")
            return
        await admin.conn.execute(f"ALTER DATABASE {ident} WITH ALLOW_CONNECTIONS true")
    async with server.other(name).connect() as conn:
        if how in ("committed write", "write, sealed again"):
            await conn.execute(CHANGE_ONE_ROW)
        elif how == "dropped index":
            index = await conn.fetchval(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'support_plan_cycles' "
                "AND indexname NOT LIKE '%pkey' ORDER BY 1 LIMIT 1"
            )
            await conn.execute(f"DROP INDEX {quote_ident(index)}")
    if how == "write, sealed again":
        async with server.admin() as admin:
            await admin.conn.execute(f"ALTER DATABASE {ident} WITH ALLOW_CONNECTIONS false")


@pytest.mark.parametrize(
    "how", ["committed write", "write, sealed again", "dropped index", "setting"]
)
async def test_a_changed_spare_is_dropped_and_the_restore_clones(
    how: str,
    server: Database,
    target: Database,
    cfg: Config,
    small: Scale,
    source_digests: dict[str, str],
) -> None:
    made = await build(server, cfg, small)
    await break_spare(server, made.name, how)
    said: list[str] = []
    report = await restore(target, cfg, small, progress=said.append)
    assert report.route == "clone"
    assert await digests(target) == source_digests
    assert not await exists(server, made.name)
    assert any(line.startswith(f"not using spare {made.name}") for line in said), said
    if how == "setting":
        async with server.admin() as admin:  # the setting was on the spare, not the target
            assert not await admin.conn.fetchval(
                "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d "
                "ON d.oid = s.setdatabase WHERE d.datname = $1",
                TARGET,
            )


async def test_an_opened_but_unchanged_spare_is_checked_inside_and_used(
    server: Database,
    target: Database,
    cfg: Config,
    small: Scale,
    source_digests: dict[str, str],
) -> None:
    """A broken seal alone is no change: the checks of a kept dataset run in it, and pass."""
    made = await build(server, cfg, small)
    async with server.admin() as admin:
        await admin.conn.execute(
            f"ALTER DATABASE {quote_ident(made.name)} WITH ALLOW_CONNECTIONS true"
        )
    async with server.other(made.name).connect() as conn:
        assert await conn.fetchval("SELECT count(*) FROM offices") == small.offices
    report = await restore(target, cfg, small)
    assert report.route == "spare"
    assert await digests(target) == source_digests


async def test_a_spare_of_another_day_or_template_is_not_used(
    server: Database,
    target: Database,
    cfg: Config,
    small: Scale,
    source_digests: dict[str, str],
) -> None:
    made = await build(server, cfg, small)
    later = ANCHOR + dt.timedelta(days=5)
    moved = await restore(target, cfg, small, as_of=later)
    assert moved.route == "clone" and moved.shifted_days == 5  # the template moved first
    rebuilt = await build(server, cfg, small)  # the stale one is replaced
    assert rebuilt.anchor_date == later and rebuilt.name == made.name
    # the template replaced under the same name (another oid): its old spare is stale
    await restore(target, cfg, small, as_of=later, method="file", keep_template=True)
    async with server.admin() as admin:
        assert await spares.ready(
            admin, template_name=template_of(cfg, small), owner=template.owner_of(cfg.state_dir)
        ) is None  # fmt: skip
    back = await restore(target, cfg, small, as_of=later)
    assert back.route == "clone"
    assert not await exists(server, made.name)


async def test_a_killed_background_build_leaves_nothing_taken_for_ready(
    server: Database,
    target: Database,
    cfg: Config,
    small: Scale,
    source_digests: dict[str, str],
) -> None:
    """The real background process, killed (SIGKILL) after its clone and before any mark:
    a session holds back every comment on databases, so the build stops right there."""
    name = spare_of(cfg, small)
    async with server.admin() as holder, holder.conn.transaction():
        await holder.conn.execute("LOCK TABLE pg_catalog.pg_shdescription IN SHARE MODE")
        child = start_background_build(server, cfg, small)
        assert child is not None
        try:
            for _ in range(600):  # the clone made, its comment waiting on our lock
                stuck = await holder.conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = "
                    "'pg_catalog.pg_shdescription'::regclass"
                )
                made = await holder.conn.fetchval(
                    "SELECT count(*) FROM pg_database WHERE datname = $1", name
                )
                if stuck and made:
                    break
                await asyncio.sleep(0.05)
            assert stuck and made, (child.poll(), spares_log(cfg, small))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    async with server.admin() as admin:
        for _ in range(100):  # its server session ends once it finds its client gone
            if not await admin.conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid() AND query LIKE 'COMMENT ON DATABASE%'"
            ):
                break
            await asyncio.sleep(0.05)
        assert await admin.exists(name)
        assert await admin.comment_of(name) in (None, CREATED_BY_PERFKIT)  # never marked
        assert await spares.ready(
            admin, template_name=template_of(cfg, small), owner=template.owner_of(cfg.state_dir)
        ) is None  # fmt: skip
        assert name in await admin.leftovers()  # prune would remove it
    said: list[str] = []
    report = await restore(target, cfg, small, progress=said.append)
    assert report.route == "clone" and await digests(target) == source_digests
    assert any("not marked ready" in line for line in said), said
    assert not await exists(server, name)
    assert (await build(server, cfg, small)).name == name  # the next build makes a good one


def spares_log(cfg: Config, small: Scale) -> str:
    path = spares.log_path(cfg.state_dir, template_of(cfg, small))
    return path.read_text() if path.exists() else "(no log)"


async def test_prune_and_template_drops_take_spares_with_them(
    server: Database, target: Database, cfg: Config, small: Scale
) -> None:
    tpl_name = template_of(cfg, small)
    made = await build(server, cfg, small)
    dry = await prune(Run(cfg, db=server), dry_run=True)
    assert made.name not in dry.databases  # a ready spare of a live template is kept
    # its template is dropped by hand (not through perfkit): the spare is an orphan
    async with server.admin() as admin:
        await admin.drop(tpl_name)
        assert made.name in await admin.leftovers()
    done = await prune(Run(cfg, db=server))
    assert made.name in done.databases and not await exists(server, made.name)

    # a template dropped through perfkit takes its spares along
    await restore(target, cfg, small, method="file", keep_template=True)
    made = await build(server, cfg, small)
    async with server.admin() as admin:
        info = await template.find(admin, small.name, expected_key(Run(cfg), small))
        assert info is not None
        await template.drop(admin, info)
        assert not await admin.exists(made.name)

    # spares turned off: prune removes this project's
    await restore(target, cfg, small, method="file", keep_template=True)
    made = await build(server, cfg, small)
    off = msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, spare=False)
    )
    assert made.name in (await prune(Run(off, db=server))).databases
    assert not await exists(server, made.name)


async def test_a_restore_does_not_wait_for_a_build_in_progress(
    server: Database, target: Database, cfg: Config, small: Scale
) -> None:
    """The spare's lock, held by a build, does not hold the restore up: it clones the
    template at once and leaves the lock (and the build's spare) alone; the next restore,
    once the spare is built, takes it."""
    name = spare_of(cfg, small)
    said: list[str] = []
    async with server.admin() as admin:
        assert await admin.conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(name))
        try:
            report = await asyncio.wait_for(
                restore(target, cfg, small, progress=said.append), timeout=60
            )
            assert report.route == "clone"
            assert any(line.startswith(f"spare {name} is being built") for line in said)
            # still ours: the restore never took it
            held = await admin.conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid()"
            )
            assert held == 1
        finally:
            await admin.conn.execute("SELECT pg_advisory_unlock($1)", lock_key(name))
    await build(server, cfg, small)
    assert (await restore(target, cfg, small)).route == "spare"


async def test_a_clone_leaves_the_old_target_to_the_background_build(
    server: Database, target: Database, cfg: Config, small: Scale, source_digests: dict[str, str]
) -> None:
    """With a background build to follow, a restore that clones drops nothing and empties
    nothing before it returns: the target it replaced waits under a helper name, and the
    build it started drops it (and readies the next spare)."""
    await restore(target, cfg, small)  # the target exists: the next restore replaces it
    async with server.admin() as admin:
        for leftover in await admin.leftovers(TARGET):
            await admin.drop(leftover)
    report = await restore(target, cfg, small, build_spare=True)
    assert report.route == "clone" and await digests(target) == source_digests
    async with server.admin() as admin:
        left = await admin.leftovers(TARGET)
    assert [helper_kind(n) for n in left] in (["old"], [])  # [] when the build was quicker
    made = await spares.wait_until_ready(
        server,
        template_name=template_of(cfg, small),
        owner=template.owner_of(cfg.state_dir),
        seconds=60,
    )
    assert made is not None
    async with server.admin() as admin:
        assert await admin.leftovers(TARGET) == []


async def test_a_build_drops_the_replaced_target_under_its_own_lock_only(
    server: Database, target: Database, cfg: Config, small: Scale
) -> None:
    """What a spare replaced (``..__pkold_..``) is the background build's to drop, under the
    lock of its own name, never the target's: a restore holding the target's lock does not
    stop it, and a restore's sweep leaves one whose lock is held."""
    await build(server, cfg, small)
    assert (await restore(target, cfg, small)).route == "spare"
    async with server.admin() as admin:
        old = [n for n in await admin.leftovers(TARGET) if helper_kind(n) == "old"]
        assert len(old) == 1
        # a restore's sweep, while a build holds the old one's lock, leaves it
        assert await admin.conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(old[0]))
        try:
            async with server.admin() as other, exclusive(target, conn=other.conn):
                await drop_leftovers(target, other)
            assert await admin.exists(old[0])
        finally:
            await admin.conn.execute("SELECT pg_advisory_unlock($1)", lock_key(old[0]))
        # the build drops it while a command holds the target
        async with server.admin() as other, exclusive(target, conn=other.conn):
            await spare_build.build(
                server,
                template_name=template_of(cfg, small),
                owner=template.owner_of(cfg.state_dir),
                tables=application().tables,
                target=TARGET,
            )
        assert not await admin.exists(old[0])


async def test_restores_and_background_builds_at_once_never_fail(
    server: Database,
    target: Database,
    cfg: Config,
    small: Scale,
    source_digests: dict[str, str],
) -> None:
    """In-process builds racing restores, then the real background process after each
    restore with the next restore right behind it: every restore succeeds with the right
    data, whichever took the spare."""
    routes = []
    for _ in range(4):
        report, _made = await asyncio.gather(
            restore(target, cfg, small), spare_build.build(
                server,
                template_name=template_of(cfg, small),
                owner=template.owner_of(cfg.state_dir),
                tables=application().tables,
                target=TARGET,
            )
        )  # fmt: skip
        routes.append(report.route)
        assert await digests(target) == source_digests
    assert set(routes) <= {"spare", "clone"}
    for _ in range(4):  # each starts a background build; the next one does not wait for it
        report = await restore(target, cfg, small, build_spare=True)
        assert report.route in ("spare", "clone")
        assert await digests(target) == source_digests
    ready = await spares.wait_until_ready(
        server, template_name=template_of(cfg, small), owner=template.owner_of(cfg.state_dir)
    )
    assert ready is not None, spares_log(cfg, small)
    await builds_finished()
    assert (await restore(target, cfg, small)).route == "spare"
    assert await digests(target) == source_digests


async def test_prepare_renames_the_spare_its_last_run_left(
    server: Database, cfg: Config, small: Scale
) -> None:
    """invoke prepare: from the module's snapshot (a template kept, a spare built in the
    background), then the data changed, then prepared again: the template route takes the
    spare."""
    db = server.other("perfkit_spare_prepare_test")
    async with server.admin() as admin:
        await admin.drop(db.name)
        for info in await template.list_templates(admin):
            await template.drop(admin, info)
    try:
        first = await perfkit_prepare(Run(cfg, db=db), small)
        assert first.how == "file"
        ready = await spares.wait_until_ready(
            server, template_name=template_of(cfg, small), owner=template.owner_of(cfg.state_dir)
        )
        assert ready is not None, spares_log(cfg, small)
        await builds_finished()
        async with db.connect() as conn:
            await conn.execute(CHANGE_ONE_ROW)
        again = await perfkit_prepare(Run(cfg, db=db), small, build_spare=False)
        assert again.how == "template" and "spare" in again.steps and "clone" not in again.steps
        assert again.info.row_counts == first.info.row_counts
        assert (await perfkit_prepare(Run(cfg, db=db), small, build_spare=False)).how == "kept"
    finally:
        async with server.admin() as admin:
            for name in [db.name, *await admin.leftovers(db.name)]:
                await admin.drop(name)
            for info in await template.list_templates(admin):
                await template.drop(admin, info)


async def test_the_background_build_gets_its_job_on_stdin_and_runs_on_its_own(
    server: Database, target: Database, cfg: Config, small: Scale
) -> None:
    """The background build's job (the URL, password included) goes through stdin: the
    command line of the process shows none of it."""
    child = start_background_build(server, cfg, small)
    assert child is not None
    try:
        argv = [p for p in Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0") if p]
        assert argv[-2:] == [b"-m", b"perfkit.snapshot.spare_build"]
        assert all(server.url.encode() not in part for part in argv)
        assert os.getsid(child.pid) == child.pid  # a session of its own: outlives the command
    finally:
        child.wait(timeout=60)
    assert child.returncode == 0, spares_log(cfg, small)
    assert "ready" in spares_log(cfg, small)


async def test_a_perf_session_builds_no_spare_beside_its_measurements(
    server: Database, cfg: Config, small: Scale
) -> None:
    """The pipeline's data step (what every perf session runs before measuring) starts no
    background build, spares on or not: nothing runs beside the first measurement."""
    db = server.other("perfkit_spare_session_test")
    async with server.admin() as admin:
        await admin.drop(db.name)
        for info in await template.list_templates(admin):
            await template.drop(admin, info)
    await builds_finished()
    try:
        data = await prepare_data(Run(cfg, db=db), small)
        assert data.preparations[0].report.how == "file"  # a template kept: a spare could be
        assert background_builds() == []
        async with server.admin() as admin:
            assert await admin.ready_spares(template_of(cfg, small)) == []
    finally:
        async with server.admin() as admin:
            for name in [db.name, *await admin.leftovers(db.name)]:
                await admin.drop(name)
            for info in await template.list_templates(admin):
                await template.drop(admin, info)
