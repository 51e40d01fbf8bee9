"""Restore: make a database hold exactly a snapshot's dataset, moved to a target date.

The order of events is what makes it safe:

1. **Verify** the snapshot before anything else: its manifest checksum, the schema
   fingerprint (a snapshot made for another schema is *stale*), and every data file's size and
   SHA-256 (hashed in a thread while step 2 runs; nothing is built before they pass). A bad
   snapshot is refused with one line and a hint; nothing is touched.
2. **Check the target** with the safety rule (:mod:`perfkit.safety`) and take its lock
   (:func:`perfkit.locks.exclusive`).
3. **Build beside it** a staging database: when the scale's template holds this snapshot (the
   fast path), its ready spare if one passes its check (:mod:`perfkit.snapshot.spares`: the
   database is already there, so nothing is built), else a clone of the template; otherwise
   a database created empty and loaded from the files (tables, COPY over two connections,
   then constraints and indexes in parallel, then foreign keys, then ``ANALYZE``). Dates are
   shifted on the way (:mod:`perfkit.snapshot.dates`). A snapshot of inferred data replays
   the schema it holds instead of the models' DDL (:mod:`perfkit.snapshot.replay`, imported
   only then: a restore from the template or a spare needs none of it).
4. **Swap** the names in one transaction (other sessions on the target are ended first), then
   drop the old database. A failure or Ctrl-C before the swap drops the staging database and
   leaves the target as it was; a kill -9 leaves a marked helper database that the next run
   removes.

After a restore from file in ``auto`` mode the staging copy also becomes the scale's template,
so the next restore takes the fast path. After a restore that leaves a template, a spare of it
is built in the background (``snapshots.spare``), so the next restore is a rename.

Over 500 lines: verify, build beside the target (clone or files), swap and clean up are the
steps of one guarantee (the target is either untouched or fully replaced), kept together.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import asyncpg

from perfkit.config import Scale
from perfkit.database import (
    Admin,
    Database,
    empty_database,
    helper_kind,
    helper_name,
    spare_name,
)
from perfkit.datagen.changes import record_load_baseline
from perfkit.datagen.metadata import create_dataset_table_sql
from perfkit.db import connect, publish_counters
from perfkit.env.base import CREATED_BY_PERFKIT
from perfkit.errors import PerfkitError
from perfkit.locks import LockTimeout, exclusive
from perfkit.measure import Stopwatch, timed
from perfkit.safety import check_name, created_by_perfkit
from perfkit.snapshot import spares, template
from perfkit.snapshot.dates import (
    Shifted,
    shift_days,
    shifted_columns,
    shifted_select,
    target_date,
)
from perfkit.snapshot.errors import (
    CorruptSnapshotError,
    InterruptedAfterSwapError,
    RestoreFailedError,
    SnapshotNotFoundError,
    StaleSnapshotError,
)
from perfkit.snapshot.fileformat import load_table, verify_files
from perfkit.snapshot.manifest import TableFile
from perfkit.snapshot.parallel import JOBS, spread
from perfkit.snapshot.store import Snapshot, SnapshotStore
from perfkit.sqlnames import DATASET_TABLE, quote_ident
from perfkit.urls import mask_url

if TYPE_CHECKING:
    from perfkit.app import Application
    from perfkit.run import Run
    from perfkit.schema_record import RecordedModels

Method = Literal["auto", "template", "file"]
#: How the data came: the template's ready spare renamed into place, a clone of the template,
#: or the snapshot's files.
Route = Literal["spare", "clone", "file"]
Progress = Callable[[str], None]
#: The application, loaded when first called (a restore from a template seldom needs it).
AppLoader = Callable[[], "Application"]


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did: which snapshot, how, how long, and the dates it moved."""

    scale: str
    snapshot_id: str | None
    database: str
    method: Literal["template", "file"]
    seconds: float
    anchor_date: dt.date
    shifted_days: int
    #: The template cloned, or the one made from the files (None: neither).
    template: str | None = None
    steps: Mapping[str, float] = field(default_factory=dict)
    #: How the data came (``method`` ``template`` is ``spare`` or ``clone``).
    route: Route = "file"


def verify_snapshot(snapshot: Snapshot, app: Application) -> None:
    """Refuse a stale or damaged snapshot: schema fingerprint first, then every file (and,
    for inferred data, the schema it replays)."""
    check_snapshot(snapshot, fingerprint=app.data.fingerprint, tables=app.all_tables)


def check_snapshot(
    snapshot: Snapshot,
    *,
    fingerprint: str | None,
    tables: Sequence[str] | None,
    files: bool = True,
) -> None:
    """:func:`verify_snapshot` against a schema's ``fingerprint`` and ``tables`` (perfkit's
    included); None skips that check (the schema was never built: ``perfkit verify``). A
    snapshot of inferred data has its schema file checked too. ``files`` false leaves the
    data files to :func:`check_files`."""
    m = snapshot.manifest
    if fingerprint is not None and m.schema_fingerprint != fingerprint:
        raise StaleSnapshotError(
            snapshot.label, scale=m.scale, found=m.schema_fingerprint, expected=fingerprint
        )
    missing = [t for t in tables or () if t not in m.row_counts]
    if missing:
        raise CorruptSnapshotError(
            snapshot.label, reason=f"no data for table(s) {', '.join(missing)}", scale=m.scale
        )
    if files:
        check_files(snapshot)


def check_files(snapshot: Snapshot) -> None:
    """Every data file of ``snapshot`` present, of its size and SHA-256, or one clear error."""
    m = snapshot.manifest
    try:
        verify_files(snapshot.path, m.tables, label=snapshot.label)
        if m.schema_file is not None:
            from perfkit.snapshot.replay import read_schema_file  # inferred data's own schema

            read_schema_file(snapshot)
    except CorruptSnapshotError as exc:
        raise CorruptSnapshotError(snapshot.label, reason=exc.reason, scale=m.scale) from None


def pick_snapshot(store: SnapshotStore, scale: Scale, snapshot_id: str | None) -> Snapshot:
    """The snapshot asked for, else the scale's latest; a clear error when there is none."""
    if snapshot_id:
        return store.get(scale.name, snapshot_id)
    found = store.latest(scale.name, strict=True)
    if found is None:
        raise SnapshotNotFoundError(scale.name, None, where=str(store.directory))
    return found


async def restore_snapshot(
    run: Run,
    scale: Scale,
    *,
    snapshot_id: str | None = None,
    as_of: dt.date | str | None = None,
    method: Method = "auto",
    keep_template: bool | None = None,
    confirm: str | None = None,
    build_spare: bool = True,
) -> RestoreReport:
    """Make the run's database hold the snapshot (default: the scale's latest) as of
    ``as_of`` (default: the run's day). See the module docstring for the guarantees.

    ``method``: ``auto`` takes the template's ready spare or clones the template when it holds
    this snapshot, else loads the files; ``file`` always loads the files; ``template`` insists
    on the template. ``keep_template`` (default: in ``auto`` mode, for the scale's latest
    snapshot) makes a restore from file leave a template behind. With ``snapshots.spare`` on,
    a spare of the template is then built in the background, unless ``build_spare`` is false
    (a caller that starts the build itself, or a benchmark).
    """
    if method not in ("auto", "template", "file"):
        raise PerfkitError(
            f"--method: expected auto, template or file, got {method!r}", hint="see --help"
        )
    db, cfg = run.db, run.cfg
    steps: dict[str, float] = {}
    # Before the clock: importing the application is not restoring. From a template only the
    # schema's fingerprint and tables are needed: models on record, unchanged since, are not
    # imported unless the files must be loaded (or a spare checked inside).
    recorded = None if method == "file" else models_on_record(run)
    if recorded is None:
        app = run.app
        fingerprint, all_tables = app.data.fingerprint, app.all_tables
        relations = app.data.relations
    else:
        fingerprint, all_tables = recorded.fingerprint, recorded.all_tables
        relations = recorded.tables

    def application() -> Application:
        return run.app

    total = Stopwatch()
    store = SnapshotStore.for_run(run, tables=all_tables)
    target_day = target_date(as_of) if as_of else run.today
    say = run.say

    say("verifying the snapshot")
    with timed(steps, "verify"):
        snap = pick_snapshot(store, scale, snapshot_id)
        check_snapshot(snap, fingerprint=fingerprint, tables=all_tables, files=False)
    # The files are hashed in a thread while the target is checked and locked; nothing is
    # built, cloned or swapped before they pass (``build`` waits for them first).
    files_checked = asyncio.ensure_future(asyncio.to_thread(check_files, snap))
    if keep_template is None:
        keep_template = method == "auto" and store.latest_id(scale.name) in (None, snap.id)
    used: list[str] = []  # the template cloned
    built: list[str] = []  # the template made from the files
    routes: list[Route] = []
    owner = template.owner_of(cfg.state_dir)

    async def build(admin: Admin, staging: Replacement) -> None:
        with timed(steps, "verify_files"):
            await files_checked
        tpl = await template.find(admin, scale.name, snap.manifest.dataset_key)
        if tpl is not None and tpl.snapshot_id != snap.id:
            tpl = None
        if method == "template" and tpl is None:
            raise SnapshotNotFoundError(
                scale.name, None, where=f"the server's templates (for {snap.label})"
            )
        if tpl is not None and method != "file":
            routes.append(
                await stage_from_template(
                    db,
                    admin,
                    staging,
                    tpl,
                    app=application,
                    target_day=target_day,
                    owner=owner if cfg.snapshots.spare else None,
                    steps=steps,
                    progress=say,
                )
            )
            used.append(tpl.name)
            return
        app = run.app
        if recorded is not None:  # checked against the models on record: now against them
            check_snapshot(
                snap, fingerprint=app.data.fingerprint, tables=app.all_tables, files=False
            )
        name = await staging.reuse_spare()
        await load_from_files(
            db,
            admin,
            snap,
            app=app,
            staging=name,
            target_day=target_day,
            create=False,
            steps=steps,
            progress=say,
        )
        if keep_template:
            say("keeping a template for the fast path")
            with timed(steps, "template"):
                built.append(
                    await install_template(
                        db,
                        admin,
                        source=name,
                        snap=snap,
                        anchor=target_day,
                        owner=owner,
                    )
                )

    try:
        name = await replace_database(
            run,
            build=build,
            confirm=confirm,
            steps=steps,
            recorded=recorded,
            tidy_in_background=build_spare and cfg.snapshots.spare,
        )
    finally:  # refused before ``build`` (an unsafe target, say): that refusal is the error
        if not files_checked.done():
            files_checked.cancel()
        elif not files_checked.cancelled():
            files_checked.exception()
    kept = used[0] if used else (built[0] if built else None)
    seconds = total.stop()
    if kept is not None and build_spare and cfg.snapshots.spare:
        spares.start_build(
            db,
            state_dir=cfg.state_dir,
            template_name=kept,
            owner=owner,
            tables=relations,
            target=db.name,
        )
    return RestoreReport(
        scale=scale.name,
        snapshot_id=snap.id,
        database=name,
        method="template" if used else "file",
        seconds=seconds,
        anchor_date=target_day,
        shifted_days=shift_days(snap.manifest.anchor_date, target_day),
        template=kept,
        steps=steps,
        route=routes[0] if routes else "file",
    )


class Replacement:
    """Where ``build`` makes the new database, beside the target (see :func:`replace_database`).

    A restore from files loads into the target's *spare* (the previous database, emptied): no
    ``CREATE DATABASE`` and no ``DROP DATABASE``, whose forced checkpoint would flush every
    dirty buffer of the server. A clone needs a new database instead: :meth:`fresh` names it.
    A template's ready spare is there already: :meth:`ready` names it.
    """

    def __init__(
        self,
        db: Database,
        admin: Admin,
        drop_sql: Callable[[], list[str]],
        hold: AsyncExitStack,
        *,
        tidy_in_background: bool = False,
    ) -> None:
        self._db = db
        self._drop_sql = drop_sql
        self._admin = admin
        self.target = db.name
        self.spare = spare_name(db.name)
        self.name: str | None = None
        #: What stays held until the swap is done (a ready spare's lock).
        self.hold = hold
        #: The database carries its own load record and its old self needs no tidying (a
        #: ready spare): the swap is all that is left to do.
        self.prepared = False
        #: A background build follows the restore (:mod:`perfkit.snapshot.spare_build`): a
        #: clone leaves the old target under a helper name for it to drop.
        self.tidy_in_background = tidy_in_background
        #: The old target is left for that build (nothing to drop or empty here).
        self.leaves_old = False

    def ready(self, name: str) -> None:
        """``build`` chose ``name``, a complete database with its load recorded in it (a
        template's ready spare): it is swapped in as it is, and the old target, left under a
        helper name, is the background build's to drop (no ``DROP DATABASE`` here)."""
        self.name = name
        self.prepared = True

    async def reuse_spare(self) -> str:
        """An empty database to load into: the spare, emptied, or a new one."""
        self.name = self.spare
        if await self._admin.exists(self.spare):
            if await _empty(self._db.other(self.spare), self._drop_sql()):
                return self.spare
            await self._admin.drop(self.spare)
        await self._admin.create_empty(self.spare)
        return self.spare

    async def fresh(self) -> str:
        """A name for a database ``build`` creates itself (a clone). With a background build
        to follow, the old target is left to it under a helper name, as a ready spare's swap
        leaves it: no ``DROP DATABASE`` and no emptying before the command returns (about 50 ms
        of a restore from the template). Otherwise the spare goes first, so that the old
        target can take its place after the swap."""
        if self.tidy_in_background:
            self.leaves_old = True
        else:
            await self._admin.drop(self.spare)
        self.name = helper_name(self.target, "new")
        return self.name


def models_on_record(run: Run) -> RecordedModels | None:
    """The run's models as last imported, when unchanged since and the application is not
    loaded yet (:func:`perfkit.schema_record.models_on_record`; a recipe's data only)."""
    if run.app_loaded or run.cfg.app.recipe is None:
        return None
    from perfkit.schema_record import models_on_record as on_record

    return on_record(run.cfg)


def _drop_sql(run: Run, recorded: RecordedModels | None) -> list[str]:
    """What drops the application's tables (and types) from a database."""
    if recorded is not None and not run.app_loaded:
        return recorded.drop_tables_sql()
    app = run.app
    inferred = app.inferred
    if inferred is not None:
        from perfkit.snapshot.replay import drop_inferred_sql

        return drop_inferred_sql(inferred.capture)
    return app.schema.drop_tables_sql()


async def _empty(db: Database, drop_sql: list[str]) -> bool:
    async with db.connect() as conn:
        return await empty_database(conn, drop_sql)


async def replace_database(
    run: Run,
    *,
    build: Callable[[Admin, Replacement], Awaitable[None]],
    confirm: str | None = None,
    steps: dict[str, float] | None = None,
    recorded: RecordedModels | None = None,
    tidy_in_background: bool = False,
) -> str:
    """Replace the run's database by one that ``build(admin, new)`` makes beside it.

    Safety check, lock, removal of a killed run's leftovers, then ``build``; on success the
    swap, after which the old database becomes the spare (emptied; dropped if something else
    was in it), unless a background build takes it (a ready spare's swap; a clone's with
    ``tidy_in_background``: a background spare build follows, :meth:`Replacement.fresh`). On
    any failure (or Ctrl-C) the half-built database is dropped and the target is untouched.
    Returns the database name. ``recorded``: the models as last imported, which stand for the
    application (its tables) while it is not loaded.
    """
    say = run.say
    steps = steps if steps is not None else {}
    db = run.db

    def drop_sql() -> list[str]:
        return _drop_sql(run, recorded)

    async with db.admin() as admin:
        created = await created_by_perfkit(admin.conn, db.name)
        check_name(db.name, run.cfg, confirm=confirm, created=created)
        async with exclusive(db, on_wait=run.note, conn=admin.conn):
            await drop_leftovers(db, admin)
            async with AsyncExitStack() as hold:
                new = Replacement(db, admin, drop_sql, hold, tidy_in_background=tidy_in_background)
                async with _dropped_on_failure(db, new):
                    await build(admin, new)
                    if new.name is None:  # pragma: no cover - a bug in a build function
                        raise RuntimeError("build did not choose a database to build")
                    say(f"swapping the restored copy in as {db.name!r}")
                with timed(steps, "swap"):
                    async with _dropped_on_failure(db, new):
                        old = await admin.swap(
                            target=db.name,
                            staging=new.name,
                            keep_old_as=None if new.prepared or new.leaves_old else new.spare,
                            comment=CREATED_BY_PERFKIT if new.prepared else None,
                            reopen=new.prepared,
                        )
                    if new.prepared:
                        return db.name
                    if old and not new.leaves_old:  # else the background build drops it
                        try:  # the restore has taken effect: an interruption now must say so
                            say(f"swapped: {db.name!r} holds the restored copy; tidying the old")
                            if not await _empty(db.other(old), drop_sql()):
                                await admin.drop(old)
                        except (KeyboardInterrupt, asyncio.CancelledError):
                            raise InterruptedAfterSwapError(db.name, old) from None
            # what the data looked like as loaded: later changes are then noticed
            relations = recorded.tables if recorded is not None else run.app.data.relations
            async with db.connect() as conn:
                await record_load_baseline(conn, relations)
    return db.name


async def drop_leftovers(db: Database, admin: Admin) -> None:
    """Drop ``db``'s helper leftovers (call with its lock); one that a background build is
    dropping (a swapped-out target, under its own lock: :func:`perfkit.database.lock_owner`)
    is left to it."""
    for leftover in await admin.leftovers(db.name):
        if helper_kind(leftover) != "old":
            await admin.drop(leftover)
            continue
        with contextlib.suppress(LockTimeout):
            async with exclusive(db.other(leftover).url, wait_s=0.0, conn=admin.conn):
                await admin.drop(leftover)


@asynccontextmanager
async def _dropped_on_failure(db: Database, new: Replacement) -> AsyncIterator[None]:
    """Drop the half-built staging database when the block fails (or is interrupted), so the
    target stays as it was."""
    try:
        yield
    except BaseException:
        if new.name:
            await _cleanup(db, new.name)
        raise


async def stage_from_template(
    db: Database,
    admin: Admin,
    staging: Replacement,
    tpl: template.TemplateInfo,
    *,
    app: AppLoader,
    target_day: dt.date,
    owner: str | None,
    steps: dict[str, float],
    progress: Progress | None = None,
) -> Route:
    """Put the template's dataset beside the target, as of ``target_day``: ``owner``'s ready
    spare when it passes its check (:func:`perfkit.snapshot.spares.take`; ``owner`` None:
    spares are off), else a clone (:func:`clone_template`). Returns the route taken. ``app``
    gives the application when first needed (a spare whose seal was broken, dates to move)."""
    if owner is not None:
        checked: dict[str, float] = {}
        with timed(checked, "spare"):
            name = await spares.take(
                db,
                admin,
                tpl,
                owner=owner,
                app=app,
                day=target_day,
                hold=staging.hold,
                progress=progress,
            )
        # the step says what happened: "spare" taken, or "spare_check" before a clone
        steps["spare" if name is not None else "spare_check"] = checked["spare"]
        if name is not None:
            if progress:
                progress(f"taking spare {name}")
            staging.ready(name)
            return "spare"
    await clone_template(
        db,
        admin,
        tpl,
        app=app,
        name=await staging.fresh(),
        target_day=target_day,
        steps=steps,
        progress=progress,
    )
    return "clone"


async def clone_template(
    db: Database,
    admin: Admin,
    tpl: template.TemplateInfo,
    *,
    app: AppLoader,
    name: str,
    target_day: dt.date,
    steps: dict[str, float] | None = None,
    progress: Progress | None = None,
) -> template.TemplateInfo:
    """Clone the template into a new database ``name``, its dates first moved to
    ``target_day`` (once: the template keeps them). ``app`` is called only when they move."""
    steps = steps if steps is not None else {}
    if progress:
        progress(f"cloning template {tpl.name}")
    async with template.locked(db, tpl.name):
        with timed(steps, "refresh_template"):
            if tpl.anchor_date != target_day or tpl.refreshing:  # else refresh moves nothing
                tpl = await template.refresh(
                    db, admin, tpl, target=target_day, shifted=shifted_columns(app())
                )
        with timed(steps, "clone"):
            await template.clone(admin, tpl, name=name)
    return tpl


async def install_template(
    db: Database, admin: Admin, *, source: str, snap: Snapshot, anchor: dt.date, owner: str
) -> str:
    """Make database ``source`` (holding ``snap`` as of ``anchor``) the scale's template,
    owned by ``owner`` (:func:`perfkit.snapshot.template.owner_of`)."""
    m = snap.manifest
    info = template.TemplateInfo(
        name=template.template_name(m.scale, m.dataset_key),
        scale=m.scale,
        dataset_key=m.dataset_key,
        schema_fingerprint=m.schema_fingerprint,
        snapshot_id=m.id,
        anchor_date=anchor,
        owner=owner,
    )
    async with template.locked(db, info.name):
        await template.install(admin, source=source, info=info)
    return info.name


async def load_from_files(
    db: Database,
    admin: Admin,
    snap: Snapshot,
    *,
    app: Application,
    staging: str,
    target_day: dt.date,
    create: bool = True,
    steps: dict[str, float] | None = None,
    progress: Progress | None = None,
) -> None:
    """Load ``snap`` into database ``staging`` (created first unless ``create`` is false: then
    it exists and is empty), dates moved to ``target_day``.

    Like ``pg_restore``: tables bare, COPY (``FREEZE``, into tables made in the same
    transaction), then primary keys, constraints and indexes per table in parallel, then
    foreign keys, then ``ANALYZE`` so the planner sees what a seeded database shows it.
    Inferred data replays the schema the snapshot holds
    (:func:`perfkit.snapshot.replay.load_inferred`). The caller verified the snapshot and drops
    ``staging`` if this fails.
    """
    if app.inferred is not None:
        from perfkit.snapshot.replay import load_inferred, read_schema_file

        await load_inferred(
            db,
            admin,
            snap,
            capture=read_schema_file(snap),
            staging=staging,
            target_day=target_day,
            shifted=shifted_columns(app),
            create=create,
            steps=steps,
            progress=progress,
        )
        return
    say = progress or (lambda _msg: None)
    steps = steps if steps is not None else {}
    days = shift_days(snap.manifest.anchor_date, target_day)
    if create:
        await admin.create_empty(staging)
    staging_url = db.other(staging).url
    conns = [
        await connect(staging_url, server_settings={"synchronous_commit": "off"})
        for _ in range(JOBS)
    ]
    try:
        entries = sorted(snap.manifest.tables, key=lambda e: e.raw_bytes, reverse=True)
        creates = dict(zip(app.tables, app.schema.create_tables_sql(), strict=True))
        creates[DATASET_TABLE] = create_dataset_table_sql()
        primary_keys = app.schema.primary_keys()
        shifted = shifted_columns(app)
        per_table, foreign_keys = app.schema.post_load_steps()
        for stmt in app.schema.create_types_sql():  # the tables' ENUM types, before them
            await conns[0].execute(stmt)

        async def load(conn: asyncpg.Connection, table: str) -> None:
            """COPY one table in, then at once its keys, indexes and statistics: no barrier
            between loading and indexing, so both connections stay busy to the end."""
            entry = next(e for e in entries if e.table == table)
            say(f"loading {table}")
            async with conn.transaction():
                await conn.execute(creates[table])
                if table in primary_keys:  # built after the load, as pg_restore does
                    await conn.execute(primary_keys[table][0])
                if days and table in shifted:
                    await _load_shifted(conn, entry, snap, days=days, shifted=shifted)
                else:
                    copied = await load_table(conn, entry, snap.path, freeze=True)
                    _check_rows(snap, table, copied, entry.rows)
            await publish_counters(conn)  # the ANALYZE below then counts the rows as seen
            say(f"building constraints and indexes of {table}, analyzing")
            pk = [primary_keys[table][1]] if table in primary_keys else []
            for stmt in [*pk, *per_table.get(table, [])]:
                await conn.execute(stmt)
            await conn.execute(f"ANALYZE {quote_ident(table)}")

        with timed(steps, "load_and_index"):
            await spread(conns, [e.table for e in entries], load)
        with timed(steps, "foreign_keys"):
            for stmt in foreign_keys:
                await conns[0].execute(stmt)
    except asyncpg.PostgresError as exc:
        raise RestoreFailedError(
            f"restoring {snap.label} failed on the server: {type(exc).__name__}: "
            f"{mask_url(str(exc))}; the previous database was kept",
            hint="check the server log (`perfkit db-status`); re-snapshot if the data is at fault",
        ) from None
    finally:
        for conn in conns:
            await conn.close()


async def _load_shifted(
    conn: asyncpg.Connection, entry: TableFile, snap: Snapshot, *, days: int, shifted: Shifted
) -> None:
    """COPY into a scratch table, then insert with the dates moved: no dead rows left behind."""
    table = entry.table
    columns = [
        str(r["attname"])
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            table,
        )
    ]
    scratch = "perfkit_restore_scratch"
    await conn.execute(f"CREATE TEMP TABLE {scratch} (LIKE {quote_ident(table)}) ON COMMIT DROP")
    copied = await load_table(conn, entry, snap.path, into=scratch)
    _check_rows(snap, table, copied, entry.rows)
    cols = ", ".join(quote_ident(c) for c in columns)
    body = shifted_select(table, columns, source=scratch, days=days, shifted=shifted)
    await conn.execute(f"INSERT INTO {quote_ident(table)} ({cols}) {body}")


def _check_rows(snap: Snapshot, table: str, copied: int, expected: int) -> None:
    if copied != expected:
        raise CorruptSnapshotError(
            snap.label,
            reason=f"{table}: the server copied {copied} rows, the manifest says {expected}",
            scale=snap.scale,
        )


async def _cleanup(db: Database, name: str) -> None:
    """Drop a half-built database over a fresh admin connection (best effort)."""
    try:
        async with db.admin(timeout=5.0) as admin:
            await admin.drop_quietly(name)
    except (PerfkitError, OSError):
        pass
