"""Write a snapshot of the dataset a database holds (``invoke snapshot`` seeds it first when
needed: :func:`perfkit.prepare.create_snapshot`).

The tables are read over two connections that share one exported snapshot
(``pg_export_snapshot``), so the files are consistent with each other and with the
``perfkit_dataset`` row written into the manifest, even if something writes meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import asyncpg

import perfkit
from perfkit.app import load_application
from perfkit.config import Config, Scale
from perfkit.datagen import read_dataset_info
from perfkit.db import connect
from perfkit.snapshot.dataset import expected_key, info_problem
from perfkit.snapshot.errors import SnapshotError
from perfkit.snapshot.fileformat import LEVEL, dump_tables
from perfkit.snapshot.manifest import Manifest, scale_shape
from perfkit.snapshot.parallel import JOBS
from perfkit.snapshot.store import Snapshot, SnapshotStore, new_snapshot_id

Progress = Callable[[str], None]


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
