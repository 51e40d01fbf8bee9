"""Write a snapshot of the dataset a database holds (``perfkit snapshot`` seeds it first when
needed: :func:`perfkit.prepare.create_snapshot`).

The tables are read over two connections that share one exported snapshot
(``pg_export_snapshot``), so the files are consistent with each other and with the
``perfkit_dataset`` row written into the manifest, even if something writes meanwhile.
Inferred data (no recipe) is dumped table by table too, partitions rather than their
partitioned parents (PostgreSQL 15 copies no rows out of those), and the capture of its
tables as they are goes beside the files (:func:`perfkit.snapshot.replay.write_schema_file`):
a restore replays it.

Nothing waits forever: every query has a deadline (:data:`CALL_S`), each table's COPY the
scale's own ``timeout``. After a failure the connections get :data:`CLOSE_S` to end (their
transactions are read-only, so nothing is lost), then they are cut; a COPY whose writer
failed is cut at once. The half-written folder is removed, and a full disk is one line
naming the device and the file (:class:`perfkit.disks.DiskFullError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg

import perfkit
from perfkit.config import Scale
from perfkit.datagen import read_dataset_info
from perfkit.db import connect
from perfkit.ddl import Capture, capture_schema
from perfkit.disks import disk_full, is_disk_full
from perfkit.snapshot.dataset import expected_key, info_problem
from perfkit.snapshot.errors import SnapshotError
from perfkit.snapshot.fileformat import LEVEL, dump_tables
from perfkit.snapshot.manifest import Manifest, scale_shape
from perfkit.snapshot.parallel import JOBS
from perfkit.snapshot.replay import write_schema_file
from perfkit.snapshot.store import Snapshot, SnapshotBuilder, SnapshotStore, new_snapshot_id

if TYPE_CHECKING:
    from perfkit.app import Application
    from perfkit.run import Run

Progress = Callable[[str], None]

#: Seconds any one of the snapshot's own queries may take (the COPYs have the scale's
#: ``timeout``); a server that does not answer by then ends the command.
CALL_S = 60.0
#: Seconds a failed snapshot's connections get to see their cancelled queries end (so the
#: server's sessions end too, even one waiting for a lock); then they are cut.
CLOSE_S = 5.0


async def write_snapshot(
    run: Run,
    scale: Scale,
    *,
    store: SnapshotStore,
    level: int = LEVEL,
    make_latest: bool = True,
) -> Snapshot:
    """Write what the run's database holds now as a snapshot (no checks, no seeding);
    progress goes to the run.

    A full disk raises :class:`~perfkit.disks.DiskFullError` once the half-written folder
    is gone (``kept`` says whether anything of it remains)."""
    conns: list[asyncpg.Connection] = []
    app = run.app
    all_tables = app.all_tables
    db = run.db
    progress: Progress = run.say
    done = False
    try:
        for _ in range(JOBS):
            conns.append(await connect(db.url, pin=db.pin, command_timeout=CALL_S))
        lead = conns[0]
        capture = await _live_capture(lead, app)
        for conn in conns:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        exported = await lead.fetchval("SELECT pg_export_snapshot()")
        for conn in conns[1:]:
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{exported}'")
        info = await read_dataset_info(lead, order=all_tables)
        if info is None:
            raise SnapshotError(
                "the database holds no perfkit dataset to snapshot",
                hint=f"seed it: `perfkit seed --scale {scale.name}`",
            )
        mismatch = info_problem(info, run, scale)
        if capture is not None and capture.fingerprint != info.schema_fingerprint:
            mismatch = mismatch or "its tables are not as they were built"
        if mismatch is not None:
            raise SnapshotError(
                f"the database does not hold scale {scale.name} as configured: {mismatch}",
                hint=f"`perfkit snapshot --scale {scale.name}` seeds it first",
            )
        server_version = str(await lead.fetchval("SHOW server_version"))
        sizes = {
            str(r["t"]): int(r["s"])
            for r in await lead.fetch(
                "SELECT t, pg_relation_size(t::regclass) AS s FROM unnest($1::text[]) AS t",
                list(all_tables),
            )
        }
        tables = sorted(sizes, key=lambda t: sizes[t], reverse=True)
        now = dt.datetime.now(dt.UTC)
        snapshot_id = new_snapshot_id(now)
        building: SnapshotBuilder | None = None
        try:
            with store.building(scale.name, snapshot_id) as builder:
                building = builder
                files = await dump_tables(
                    conns,
                    tables,
                    builder.dir,
                    level=level,
                    progress=progress,
                    timeout=scale.timeout,
                )
                order = {t: i for i, t in enumerate(all_tables)}
                schema_file = (
                    write_schema_file(builder.dir, capture) if capture is not None else None
                )
                manifest = Manifest(
                    id=snapshot_id,
                    scale=scale.name,
                    shape=scale_shape(scale),
                    seed=info.seed,
                    mode=info.mode,
                    generator_version=info.generator_version,
                    anchor_date=info.anchor_date,
                    schema_fingerprint=info.schema_fingerprint,
                    dataset_key=expected_key(run, scale),
                    server_version=server_version,
                    perfkit_version=perfkit.__version__,
                    created_at=now,
                    dataset_created_at=info.created_at,
                    tables=tuple(sorted(files, key=lambda f: order[f.table])),
                    schema_file=schema_file,
                )
                snapshot = builder.publish(manifest, make_latest=make_latest)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # ``store.building`` has removed the half-written folder, unless it was published
            # (then only the ``LATEST`` pointer failed: the snapshot is kept)
            folder = building.dir if building else store.scale_dir(scale.name)
            kept = building is not None and (building.published or building.dir.exists())
            written = exc.filename if isinstance(exc.filename, str) else folder
            raise disk_full(written, kept=kept) from None
        done = True
        return snapshot
    except TimeoutError:  # asyncpg's deadline: the query was cancelled, the folder removed
        raise SnapshotError(
            f"the server did not answer in time (a table's COPY may take {scale.timeout} s, "
            f"scale {scale.name}'s timeout; any other query {CALL_S:g} s); nothing was kept",
            hint="`perfkit db-status` shows the server, and pg_stat_activity what holds it up; "
            "raise the scale's `timeout` in scales.yaml if its tables really take that long",
        ) from None
    finally:
        for conn in conns:
            await _close(conn, timeout=CALL_S if done else CLOSE_S)


async def _live_capture(conn: asyncpg.Connection, app: Application) -> Capture | None:
    """For inferred data, the capture of the tables as they are (read before the dump's
    transaction: the caller holds the database's lock); None for a recipe's data."""
    inferred = app.inferred
    if inferred is None:
        return None
    return await capture_schema(conn, "public", tables=inferred.capture.table_names)


async def _close(conn: asyncpg.Connection, *, timeout: float) -> None:
    """Close ``conn`` within ``timeout`` (after a failure asyncpg first waits for the cancel
    of a query it gave up on, so the server's session ends rather than waiting on); a
    connection that does not say goodbye by then is cut."""
    try:
        await conn.close(timeout=timeout)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        conn.terminate()
