"""Snapshots of inferred data: the captured schema kept beside the rows, and replayed around
them on a restore from files.

A dataset inferred from the catalogue has no models to rebuild its tables from: its schema is
the capture (:class:`perfkit.ddl.Capture`), replayed exactly (``pg_get_*def`` texts). So
:func:`write_schema_file` stores the capture of the tables as they were dumped beside the
data files (``schema.json``; the manifest names its size and SHA-256, which its checksum and
signature cover), and :func:`read_schema_file` reads it back only when it is that very file
and its fingerprint is the manifest's.

:func:`load_inferred` is the restore from files for such a snapshot, in the order a seed
builds it (:mod:`perfkit.ddl.emit`): the bare objects (extensions, types, domains, sequences,
functions, tables with their partitions attached, views); each table's rows by binary COPY
(``FREEZE``; partitioned parents hold no rows in PostgreSQL 15, their partitions were dumped
and are loaded), over two connections, biggest first; as soon as every partition of a table
is in, its keys, constraints and indexes replayed and the table analyzed, and its foreign
keys once their tables are built (:func:`perfkit.ddl.bulk.load_tables`, as a seed does);
then what must not run during the load (triggers, so none fires; row-level security,
policies, statistics, materialized views) and the sequences moved past the loaded values.
Last, the database is captured again: anything not rebuilt exactly stops the restore before
the swap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncpg

from perfkit.database import Admin, Database
from perfkit.datagen.metadata import create_dataset_table_sql
from perfkit.db import connect
from perfkit.ddl import Capture, bare_sql, capture_schema, post_load
from perfkit.ddl.bulk import Unit, load_tables
from perfkit.ddl.emit import data_table, drop_sql
from perfkit.measure import timed
from perfkit.snapshot.dates import Shifted, shift_days, shift_sql
from perfkit.snapshot.errors import CorruptSnapshotError, RestoreFailedError
from perfkit.snapshot.fileformat import load_table, open_data_file
from perfkit.snapshot.manifest import SCHEMA_NAME, SchemaFile
from perfkit.snapshot.parallel import JOBS
from perfkit.snapshot.store import Snapshot
from perfkit.sqlnames import DATASET_TABLE, quote_ident
from perfkit.urls import mask_url

Progress = Callable[[str], None]


def write_schema_file(directory: Path, capture: Capture) -> SchemaFile:
    """Write ``capture`` as ``schema.json`` into the snapshot folder ``directory``."""
    body = capture.to_text().encode()
    (directory / SCHEMA_NAME).write_bytes(body)
    return SchemaFile(file=SCHEMA_NAME, bytes=len(body), sha256=hashlib.sha256(body).hexdigest())


def read_schema_file(snap: Snapshot) -> Capture:
    """The capture ``snap`` replays: its ``schema.json``, of the size and SHA-256 its manifest
    names, whose fingerprint is the manifest's schema fingerprint. Anything else (no schema
    file, a file that differs, one that does not parse) is a
    :class:`~perfkit.snapshot.errors.CorruptSnapshotError`."""
    m = snap.manifest
    label = snap.label
    named = m.schema_file
    if named is None:
        raise CorruptSnapshotError(
            label,
            reason="it holds no schema file (it was made for an application with a recipe)",
            scale=m.scale,
        )
    with open_data_file(snap.path, named.file, label=label) as fh:
        body = fh.read(named.bytes + 1)
    if len(body) != named.bytes or hashlib.sha256(body).hexdigest() != named.sha256:
        raise CorruptSnapshotError(
            label, reason=f"{named.file} fails its size or SHA-256 check", scale=m.scale
        )
    try:
        capture = Capture.from_text(body)
    except ValueError as exc:
        raise CorruptSnapshotError(
            label, reason=f"{named.file} is not a captured schema ({str(exc)[:80]})", scale=m.scale
        ) from None
    if capture.fingerprint != m.schema_fingerprint:
        raise CorruptSnapshotError(
            label,
            reason=f"{named.file} is not the schema its manifest names "
            f"({capture.fingerprint}, not {m.schema_fingerprint})",
            scale=m.scale,
        )
    return capture


def drop_inferred_sql(capture: Capture) -> list[str]:
    """One statement dropping ``capture``'s objects from ``public``, the dataset's table and
    the extensions the capture installs (so that a database emptied this way is as empty as
    a new one). Only for a database the safety rule allows writing to."""
    statements = [
        *drop_sql(capture, "public"),
        f"DROP TABLE IF EXISTS public.{quote_ident(DATASET_TABLE)}",
        *(f"DROP EXTENSION IF EXISTS {quote_ident(e.name)} CASCADE" for e in capture.extensions),
    ]
    return ["BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT"]


async def load_inferred(
    db: Database,
    admin: Admin,
    snap: Snapshot,
    *,
    capture: Capture,
    staging: str,
    target_day: dt.date,
    shifted: Shifted,
    create: bool = True,
    steps: dict[str, float] | None = None,
    progress: Progress | None = None,
) -> None:
    """Load ``snap`` (inferred data; ``capture`` read from it by :func:`read_schema_file`) into
    database ``staging`` (created first unless ``create`` is false: then it exists and is
    empty), the ``shifted`` columns moved to ``target_day``. See the module docstring; the
    caller verified the snapshot and drops ``staging`` if this fails."""
    say = progress or (lambda _msg: None)
    steps = steps if steps is not None else {}
    days = shift_days(snap.manifest.anchor_date, target_day)
    if create:
        await admin.create_empty(staging)
    url = db.other(staging).url
    conns = [await connect(url, server_settings={"synchronous_commit": "off"}) for _ in range(JOBS)]
    try:
        replay = post_load(capture, target="public")
        with timed(steps, "schema"):
            await conns[0].execute(";\n".join(bare_sql(capture, target="public")))
            await conns[0].execute(create_dataset_table_sql())
            for conn in conns:
                await conn.execute(replay.search_path)
        entries = {e.table: e for e in snap.manifest.tables}

        async def load(conn: asyncpg.Connection, unit: Unit) -> None:
            entry = entries[unit.name]
            say(f"loading {unit.name}")
            async with conn.transaction():
                await conn.execute(f"TRUNCATE {quote_ident(unit.name)}")  # lets COPY freeze
                copied = await load_table(conn, entry, snap.path, freeze=True)
                if copied != entry.rows:
                    raise CorruptSnapshotError(
                        snap.label,
                        reason=f"{unit.name}: the server copied {copied} rows, the manifest "
                        f"says {entry.rows}",
                        scale=snap.scale,
                    )
                await _shift(conn, unit.name, days, shifted)

        units = [Unit(e.table, _owner(capture, e.table), e.raw_bytes) for e in entries.values()]
        with timed(steps, "load_and_index"):
            await load_tables(conns, replay, units, load, schema="public")
        with timed(steps, "after"):
            if replay.after:
                await conns[0].execute(";\n".join(replay.after))
            await _check_rebuilt(conns[0], capture, snap)
    except asyncpg.PostgresError as exc:
        raise RestoreFailedError(
            f"restoring {snap.label} failed on the server: {type(exc).__name__}: "
            f"{mask_url(str(exc))}; the previous database was kept",
            hint="check the server log (`invoke db-status`); re-snapshot if the data is at fault",
        ) from None
    finally:
        for conn in conns:
            await conn.close()


def _owner(capture: Capture, table: str) -> str:
    """The table whose constraints and indexes ``table``'s rows wait for: a partition's
    topmost parent, else itself (the dataset's own table too)."""
    if table == DATASET_TABLE:
        return table
    return data_table(capture, table)


async def _shift(conn: asyncpg.Connection, table: str, days: int, shifted: Shifted) -> None:
    """Move ``table``'s shifted columns by ``days`` (the dataset's anchor, and the columns
    ``app.data`` says move with the run day)."""
    columns: Sequence[str] = shifted.get(table, ())
    if not days or not columns:
        return
    sets = ", ".join(f"{quote_ident(c)} = {shift_sql(c, '$1::int')}" for c in columns)
    await conn.execute(f"UPDATE {quote_ident(table)} SET {sets}", days)  # noqa: S608


async def _check_rebuilt(conn: asyncpg.Connection, capture: Capture, snap: Snapshot) -> None:
    """The restored schema must be the capture, definition for definition."""
    await conn.execute("RESET search_path")
    built = await capture_schema(conn, "public", tables=capture.table_names)
    carried = dataclasses.replace(capture, uncarried=())
    if built.fingerprint != carried.fingerprint:
        mine, theirs = built.as_json(), carried.as_json()
        parts = sorted(k for k in mine if mine[k] != theirs[k])
        raise RestoreFailedError(
            f"restoring {snap.label} rebuilt the schema differently from its capture "
            f"({', '.join(parts[:5])}); the previous database was kept",
            hint="report it: perfkit replays captured definitions exactly",
        )
