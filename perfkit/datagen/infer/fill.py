"""Filling every table of a captured schema from a :class:`~perfkit.datagen.infer.plan.Plan`,
at COPY speed, all or nothing.

:func:`fill_database`:

1. checks that everything the capture saw can be carried over
   (:meth:`~perfkit.ddl.model.Capture.require_carried`), and drops staging schemas a killed
   run left;
2. builds the schema's bare objects in a fresh staging schema (:func:`perfkit.ddl.bare_sql`)
   and checks each ``sql:`` override with ``EXPLAIN`` before any row is written;
3. streams each table's rows through binary COPY, a few tables at a time on their own
   connections (the seeder's loaders, :mod:`perfkit.datagen.load`), biggest first; as soon
   as a table's rows are in, its constraints and indexes are replayed exactly as captured
   (in pieces, side by side) and it is ANALYZEd, and its foreign keys are added once the
   tables they reference are ready (:func:`perfkit.ddl.bulk.load_tables`). A table with
   ``sql:`` overrides waits until every table is in: the overrides run, then its
   constraints;
4. replays the rest (triggers, which so never fire during the load, row-level security,
   policies, statistics, materialized views) and moves the sequences past the loaded values;
5. moves every object into the target schema in one transaction (:func:`perfkit.ddl.emit.
   swap_sql`), replacing what is there only when asked to.

Until the swap commits, nothing outside the staging schema changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import secrets
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from perfkit.datagen import load
from perfkit.datagen.infer.model import InferenceError, Plan, Problem, TablePlan
from perfkit.datagen.infer.values import from_moment
from perfkit.datagen.metadata import DatasetInfo, create_dataset_table_sql, write_dataset_info
from perfkit.db import connect, publish_counters
from perfkit.ddl import Capture, UncarriedError, bare_sql, capture_schema, post_load
from perfkit.ddl.bulk import Unit, load_tables
from perfkit.ddl.emit import PostLoad, drop_sql, swap_sql
from perfkit.ddl.model import Uncarried
from perfkit.measure import Stopwatch, timed
from perfkit.schema import DATASET_TABLE, quote_ident


@dataclass(frozen=True)
class FillReport:
    """What :func:`fill_database` did: rows per table, seconds per phase."""

    rows: Mapping[str, int]
    phases: Mapping[str, float]
    seconds: float
    #: The capture's fingerprint, read back from the tables as built.
    fingerprint: str = ""
    #: The loading sessions' process ids (for :func:`perfkit.datagen.changes.record_load_baseline`).
    loader_pids: tuple[int, ...] = ()

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0


def encode_tsvector(words: Sequence[str]) -> bytes:
    """A ``tsvector`` in PostgreSQL's binary format: lexemes without positions, sorted and
    distinct as the server keeps them."""
    lexemes = sorted({w.encode() for w in words if w})
    out = [struct.pack("!i", len(lexemes))]
    for lexeme in lexemes:
        out.append(lexeme + b"\x00" + struct.pack("!H", 0))
    return b"".join(out)


def decode_tsvector(data: bytes) -> tuple[str, ...]:
    (count,) = struct.unpack_from("!i", data)
    offset, out = 4, []
    for _ in range(count):
        end = data.index(b"\x00", offset)
        out.append(data[offset:end].decode())
        (positions,) = struct.unpack_from("!H", data, end + 1)
        offset = end + 3 + 2 * positions
    return tuple(out)


async def register_codecs(conn: asyncpg.Connection, codecs: frozenset[str]) -> None:
    """Binary codecs asyncpg lacks, for the types a plan writes (``tsvector``, ``citext``),
    and timestamps written as :func:`~perfkit.datagen.infer.values.moment` tuples."""
    for name, aware in (("timestamptz", True), ("timestamp", False)):
        await conn.set_type_codec(
            name,
            schema="pg_catalog",
            encoder=tuple,  # plans write moment() tuples: passed through, in C
            decoder=functools.partial(from_moment, aware=aware),
            format="tuple",
        )
    if "tsvector" in codecs:
        await conn.set_type_codec(
            "tsvector",
            schema="pg_catalog",
            encoder=encode_tsvector,
            decoder=decode_tsvector,
            format="binary",
        )
    if "citext" in codecs:
        schema = await conn.fetchval(
            "SELECT typnamespace::regnamespace::text FROM pg_type WHERE typname = 'citext'"
        )
        await conn.set_type_codec(
            "citext",
            schema=str(schema).strip('"'),
            encoder=str.encode,
            decoder=bytes.decode,
            format="binary",
        )


async def fill_database(
    url: str,
    capture: Capture,
    plan: Plan,
    *,
    target: str = "public",
    replace: bool = False,
    skip_uncarried: bool = False,
    connections: int = load.LOADER_CONNECTIONS,
    progress: load.SeedProgress | None = None,
    dataset: DatasetInfo | None = None,
) -> FillReport:
    """Build ``capture`` with ``plan``'s rows in schema ``target`` of the database at ``url``
    (see the module docstring). The caller has checked the safety rule and holds the
    database's lock. With ``replace`` the capture's objects already in ``target`` are
    dropped in the swap; otherwise a name taken there stops it.

    Before the swap the staging schema is captured again: anything the replay did not
    rebuild exactly stops the fill (:class:`~perfkit.ddl.model.UncarriedError`). With
    ``dataset``, the ``perfkit_dataset`` row (its fingerprint the one read back) is written
    and moved in the same transaction as the tables."""
    capture.require_carried(skip_uncarried=skip_uncarried)
    shown = progress or load.SeedProgress()
    total = Stopwatch()
    phases: dict[str, float] = {}
    staging = load.STAGING_PREFIX + secrets.token_hex(4)
    conn = await connect(url, server_settings=load._SESSION)
    opening = asyncio.ensure_future(load._open_loaders(url, connections))
    loaders: list[asyncpg.Connection] = []
    swapped = False
    try:
        await load._drop_stale_staging(conn)
        with timed(phases, "schema"):
            shown.phase("schema")
            await conn.execute(f"CREATE SCHEMA {quote_ident(staging)}")
            await conn.execute(";\n".join(bare_sql(capture, target=staging, home=target)))
            if dataset is not None:
                await conn.execute(create_dataset_table_sql(staging))
            await _check_updates(conn, plan, staging)
            steps = post_load(capture, target=staging, home=target)
            loaders = await opening
            codecs = frozenset().union(*(t.codecs for t in plan.tables))
            for loader in loaders:
                await loader.execute(steps.search_path)
                await register_codecs(loader, codecs)
        with timed(phases, "load"):
            shown.phase("load")
            rows = await _load(loaders, plan, steps, staging, shown)
        with timed(phases, "after"):
            await conn.execute(";\n".join([steps.search_path, *steps.after]))
            await conn.execute("RESET search_path")
            fingerprint = await _as_built(conn, capture, staging, target)
        pids = tuple(loader.get_server_pid() for loader in loaders)
        with timed(phases, "swap"):
            shown.phase("swap")
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{load.SWAP_LOCK_TIMEOUT}'")
                statements = drop_sql(capture, target) if replace else []
                moves = swap_sql(capture, staging, target)
                if dataset is not None:
                    recorded = dataclasses.replace(dataset, schema_fingerprint=fingerprint)
                    await write_dataset_info(conn, recorded, schema=staging)
                    if replace:
                        statements.append(f"DROP TABLE IF EXISTS {_dataset(target)}")
                    moves.insert(
                        -1, f"ALTER TABLE {_dataset(staging)} SET SCHEMA {quote_ident(target)}"
                    )
                await conn.execute(";\n".join([*statements, *moves]))
            swapped = True
    finally:
        if not opening.done():
            opening.cancel()
        for loader in loaders:
            loader.terminate()
        if not swapped:
            await load._drop_staging(url, staging)
        await load._close_quietly(conn)
    return FillReport(
        rows=rows, phases=phases, seconds=total.stop(), fingerprint=fingerprint, loader_pids=pids
    )


def _dataset(schema: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(DATASET_TABLE)}"


async def _as_built(conn: asyncpg.Connection, capture: Capture, staging: str, target: str) -> str:
    """The fingerprint of what the staging schema holds, which must be the capture's: a
    difference is something the replay lost, and stops the fill before the swap."""
    built = await capture_schema(conn, staging, tables=capture.table_names, home=target)
    carried = dataclasses.replace(capture, uncarried=())  # skipped ones are not there
    if built.fingerprint != carried.fingerprint:
        mine, theirs = built.as_json(), carried.as_json()
        parts = sorted(k for k in mine if mine[k] != theirs[k])
        raise UncarriedError(
            [Uncarried("schema", part, "rebuilt differently from the capture") for part in parts]
        )
    return built.fingerprint


async def _check_updates(conn: asyncpg.Connection, plan: Plan, staging: str) -> None:
    """Every ``sql:`` override, planned by the server on the empty tables: a mistake stops
    here, before any row."""
    problems = []
    for update in plan.updates:
        try:
            await conn.execute("EXPLAIN " + update.statement(staging))
        except asyncpg.PostgresError as exc:
            problems.append(
                Problem(
                    update.table,
                    update.column,
                    "override",
                    f"the sql override of {update.table}.{update.column} does not run: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                    "the expression may use t (the row) and each parent by its table name",
                )
            )
    if problems:
        raise InferenceError(problems)


async def _load(
    loaders: Sequence[asyncpg.Connection],
    plan: Plan,
    steps: PostLoad,
    staging: str,
    progress: load.SeedProgress,
) -> dict[str, int]:
    """Every table's rows and post-load statements over the loaders
    (:func:`perfkit.ddl.bulk.load_tables`); a table with ``sql:`` overrides, and the foreign
    keys that reference one, wait until every row is in and the overrides ran."""
    late = {t.name for t in plan.tables if t.updates}
    # Tables whose foreign keys reference a late table add them after it, at the end too.
    late_links = late | {t.name for t in plan.tables if steps.references.get(t.name, set()) & late}
    counts: dict[str, int] = {}

    async def copy(conn: asyncpg.Connection, unit: Unit) -> None:
        counts[unit.name] = await _copy(conn, plan.table(unit.name), staging, progress)

    with load._gc_paused():
        await load_tables(
            loaders,
            steps,
            [Unit(t.name, t.name, t.rows) for t in plan.tables],
            copy,
            schema=staging,
            deferred=frozenset(late),
            unlinked=frozenset(late_links),
        )
    if late:
        conn = loaders[0]
        for update in plan.updates:
            await conn.execute(update.statement(staging))
        await publish_counters(conn)  # the updates count as seen by the ANALYZE below
        for table in plan.tables:
            if table.name in late:
                target = f"{quote_ident(staging)}.{quote_ident(table.name)}"
                await conn.execute(
                    ";\n".join([*steps.per_table.get(table.name, ()), f"ANALYZE {target}"])
                )
        for table in plan.tables:
            if table.name in late_links:
                statements = [
                    *steps.foreign_keys.get(table.name, ()),
                    *steps.validations.get(table.name, ()),
                ]
                if statements:
                    await conn.execute(";\n".join(statements))
    return {t.name: counts[t.name] for t in plan.tables}


async def _copy(
    conn: asyncpg.Connection, table: TablePlan, staging: str, progress: load.SeedProgress
) -> int:
    done = 0
    progress.rows(table.name, 0, table.rows)
    for chunk in load._chunks(table.generate(), load.CHUNK_ROWS):
        status = await conn.copy_records_to_table(
            table.name, records=chunk, columns=list(table.columns), schema_name=staging
        )
        done += int(status.split()[-1])
        progress.rows(table.name, done, table.rows)
    return done
