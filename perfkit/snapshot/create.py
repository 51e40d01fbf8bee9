"""Create a snapshot of the dataset a database holds (seeding it first when it is not there).

The tables are read over two connections that share one exported snapshot
(``pg_export_snapshot``), so the files are consistent with each other and with the
``perfkit_dataset`` row written into the manifest, even if something writes meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

import perfkit
from perfkit.app import load_application
from perfkit.config import Config, Scale
from perfkit.datagen import read_dataset_info, seed_database
from perfkit.db import connect, connection
from perfkit.env.base import ensure_database
from perfkit.measure import Stopwatch, stopwatch
from perfkit.snapshot import dbadmin
from perfkit.snapshot.dataset import SaySeedProgress, database_problem, expected_key, info_problem
from perfkit.snapshot.errors import SnapshotError
from perfkit.snapshot.fileformat import LEVEL, dump_tables
from perfkit.snapshot.manifest import Manifest, scale_shape
from perfkit.snapshot.parallel import JOBS
from perfkit.snapshot.prune import PruneReport, prune
from perfkit.snapshot.store import Snapshot, SnapshotStore, new_snapshot_id
from perfkit.urls import database_name, with_database

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SnapshotReport:
    """A new snapshot, how long it took, and whether the data had to be seeded first."""

    snapshot: Snapshot
    seconds: float
    write_seconds: float
    seeded: bool = False
    seed_seconds: float | None = None
    seed_reason: str | None = None
    pruned: PruneReport | None = None


async def create_snapshot(
    url: str,
    cfg: Config,
    scale: Scale,
    *,
    store: SnapshotStore | None = None,
    confirm: str | None = None,
    level: int = LEVEL,
    make_latest: bool = True,
    prune_after: bool = False,
    progress: Progress | None = None,
) -> SnapshotReport:
    """Save the URL's dataset of ``scale`` as a new snapshot (seeding it first if the database
    does not hold it) and point the scale's ``LATEST`` at it. With ``prune_after`` (what
    ``invoke snapshot`` does), :func:`~perfkit.snapshot.prune.prune` runs right after."""
    total = Stopwatch()
    say = progress or (lambda _msg: None)
    store = store or SnapshotStore(cfg.snapshots.directory)
    seeded_for: str | None = None
    seed_seconds: float | None = None
    problem: str | None = "the database does not exist"
    async with connection(with_database(url, "postgres")) as admin:
        exists = await dbadmin.exists(admin, database_name(url))
    if exists:
        async with connection(url) as conn:
            _, problem = await database_problem(conn, cfg, scale)
    if problem is not None:
        say(f"seeding scale {scale.name} first: {problem}")
        with stopwatch() as seeding:
            if not exists:
                await ensure_database(url)
            await seed_database(
                url, cfg, scale, reset=True, confirm=confirm, progress=SaySeedProgress(say)
            )
        seed_seconds = seeding.seconds
        seeded_for = problem
    with stopwatch() as writing:
        snap = await write_snapshot(
            url, cfg, scale, store=store, level=level, make_latest=make_latest, progress=say
        )
    pruned = await prune(cfg, url=url, scale=scale.name) if prune_after else None
    return SnapshotReport(
        snapshot=snap,
        seconds=total.stop(),
        write_seconds=writing.seconds,
        pruned=pruned,
        seeded=seeded_for is not None,
        seed_seconds=seed_seconds,
        seed_reason=seeded_for,
    )


async def write_snapshot(
    url: str,
    cfg: Config,
    scale: Scale,
    *,
    store: SnapshotStore,
    level: int = LEVEL,
    make_latest: bool = True,
    progress: Progress | None = None,
) -> Snapshot:
    """Write what the database holds now as a snapshot (no checks, no seeding)."""
    conns: list[asyncpg.Connection] = []
    all_tables = load_application(cfg).schema.all_tables
    try:
        conns = [await connect(url) for _ in range(JOBS)]
        lead = conns[0]
        for conn in conns:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        exported = await lead.fetchval("SELECT pg_export_snapshot()")
        for conn in conns[1:]:
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{exported}'")
        info = await read_dataset_info(lead, order=all_tables)
        if info is None:
            raise SnapshotError(
                "the database holds no perfkit dataset to snapshot",
                hint=f"seed it: `invoke seed --scale {scale.name}`",
            )
        mismatch = info_problem(info, cfg, scale)
        if mismatch is not None:
            raise SnapshotError(
                f"the database does not hold scale {scale.name} as configured: {mismatch}",
                hint=f"`invoke snapshot --scale {scale.name}` seeds it first",
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
        with store.building(scale.name, snapshot_id) as builder:
            files = await dump_tables(conns, tables, builder.dir, level=level, progress=progress)
            order = {t: i for i, t in enumerate(all_tables)}
            manifest = Manifest(
                id=snapshot_id,
                scale=scale.name,
                shape=scale_shape(scale),
                seed=info.seed,
                mode=info.mode,
                generator_version=info.generator_version,
                anchor_date=info.anchor_date,
                schema_fingerprint=info.schema_fingerprint,
                dataset_key=expected_key(cfg, scale),
                server_version=server_version,
                perfkit_version=perfkit.__version__,
                created_at=now,
                dataset_created_at=info.created_at,
                tables=tuple(sorted(files, key=lambda f: order[f.table])),
            )
            return builder.publish(manifest, make_latest=make_latest)
    finally:
        for conn in conns:
            await conn.close()
