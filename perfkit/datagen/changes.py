"""Was a loaded dataset changed since it was loaded? Told cheaply by PostgreSQL's statistics.

Right after data is loaded (a seed's swap, a restore's or a clone's swap)
:func:`record_load_baseline` records, per application table, the cumulative statistics
counters (rows inserted, updated, deleted: ``pg_stat_get_tuples_*``, what
``pg_stat_user_tables`` shows), the table's identity (its oid and file node: a ``TRUNCATE``,
``VACUUM FULL`` or a dropped and re-made table changes them), the database's oid and when its
statistics were last reset. :func:`changes_since_load` compares the counters of now with that
record: any row written, any table rewritten, and any statistics reset (counters reset, or
lower than recorded, as after a crash) count as a change. No table is scanned.

The record is the comment of the ``perfkit_dataset`` table (``COMMENT ON TABLE``), not a row or
a column: snapshots copy that table's rows with binary COPY into the fixed columns of
:func:`~perfkit.datagen.metadata.create_dataset_table_sql`, so its columns must not change; a
comment goes with the table when a restore empties a database, is not part of a snapshot, and
needs no table of its own. A record made in another database (a template's clone carries its
source's comment) does not count: the database's oid must match. Without a usable record (a
database loaded before records existed, a clone nobody recorded, ``track_counts`` off) callers
fall back to comparing exact row counts.

PostgreSQL 15 publishes a session's counters when the session ends or goes idle (within about a
second, at most ``PGSTAT_IDLE_INTERVAL``, 10 s, when it keeps writing), so the record is made
after the loading sessions have left, and a change made by a session that is still open may be
seen a moment late.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from perfkit.schema import DATASET_TABLE, quote_ident

#: What the ``perfkit_dataset`` comment starts with when it holds a load record.
BASELINE_MARK = "perfkit load baseline "
#: How long :func:`record_load_baseline` waits for the loading sessions to leave.
LOADERS_DEADLINE_S = 10.0

_COUNTERS_SQL = """
SELECT c.relname AS name, c.oid::bigint AS relid, pg_relation_filenode(c.oid)::bigint AS node,
       pg_stat_get_tuples_inserted(c.oid) AS inserted,
       pg_stat_get_tuples_updated(c.oid) AS updated,
       pg_stat_get_tuples_deleted(c.oid) AS deleted
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
"""
_DATABASE_SQL = """
SELECT d.oid::bigint AS oid, pg_stat_get_db_stat_reset_time(d.oid)::text AS stats_reset,
       current_setting('track_counts')::bool AS tracked
FROM pg_database d WHERE d.datname = current_database()
"""


@dataclass(frozen=True)
class TableCounters:
    """One table's identity and cumulative write counters."""

    relid: int
    node: int
    inserted: int
    updated: int
    deleted: int


@dataclass(frozen=True)
class Baseline:
    """The counters of a database's tables right after its data was loaded."""

    database_oid: int
    stats_reset: str | None
    tables: Mapping[str, TableCounters]

    def to_comment(self) -> str:
        body = {
            "database_oid": self.database_oid,
            "stats_reset": self.stats_reset,
            "tables": {
                name: [c.relid, c.node, c.inserted, c.updated, c.deleted]
                for name, c in self.tables.items()
            },
        }
        return BASELINE_MARK + json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, comment: str | None) -> Baseline | None:
        """The record in a ``perfkit_dataset`` comment; None when there is none (or it is
        unreadable: then it does not count)."""
        if not comment or not comment.startswith(BASELINE_MARK):
            return None
        try:
            body = json.loads(comment[len(BASELINE_MARK) :])
            reset = body["stats_reset"]
            return cls(
                database_oid=int(body["database_oid"]),
                stats_reset=None if reset is None else str(reset),
                tables={
                    str(name): TableCounters(*(int(v) for v in values))
                    for name, values in body["tables"].items()
                },
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class LoadCheck:
    """What :func:`changes_since_load` found.

    ``known`` is False when the database has no usable record (the caller then compares row
    counts); ``problem`` says what changed in one phrase, None when nothing did; ``tables``
    names the tables written or rewritten since the load, and ``reset`` tells that the
    statistics were reset (then nothing can be ruled out).
    """

    known: bool
    problem: str | None = None
    tables: tuple[str, ...] = ()
    reset: bool = False


async def _counters(
    conn: asyncpg.Connection, tables: Sequence[str], *, schema: str
) -> tuple[int, str | None, bool, dict[str, TableCounters]]:
    """(database oid, statistics reset time, track_counts, counters per table), fresh."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    db = await conn.fetchrow(_DATABASE_SQL)
    if db is None:  # pragma: no cover - current_database() always exists
        raise RuntimeError("current database not found in pg_database")
    rows = await conn.fetch(_COUNTERS_SQL, schema, list(tables))
    counters = {
        str(r["name"]): TableCounters(
            relid=int(r["relid"]),
            node=int(r["node"] or 0),
            inserted=int(r["inserted"]),
            updated=int(r["updated"]),
            deleted=int(r["deleted"]),
        )
        for r in rows
    }
    return int(db["oid"]), db["stats_reset"], bool(db["tracked"]), counters


async def _wait_until_gone(conn: asyncpg.Connection, pids: Collection[int]) -> None:
    """Wait (with a deadline) until the sessions ``pids`` have ended: a session publishes its
    counters before it leaves ``pg_stat_activity``."""
    if not pids:
        return
    deadline = time.monotonic() + LOADERS_DEADLINE_S
    while await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
    ):
        if time.monotonic() > deadline:
            return  # a record made early only errs towards "changed": a reload, never bad data
        await asyncio.sleep(0.01)


async def _flush_own(conn: asyncpg.Connection) -> None:
    """Publish this session's own pending counters (PostgreSQL 15+: a session flushes them
    when it goes idle, before it says it is ready for the next statement; earlier versions
    send them to the statistics collector at each transaction's end)."""
    if int(await conn.fetchval("SHOW server_version_num")) >= 150000:
        await conn.execute("SELECT pg_stat_force_next_flush()")


async def record_load_baseline(
    conn: asyncpg.Connection,
    tables: Sequence[str],
    *,
    loaders: Collection[int] = (),
    schema: str = "public",
) -> Baseline:
    """Record the counters of ``tables`` as they are right after a load, in the comment of
    ``perfkit_dataset`` (which must exist). Call it on a connection to the loaded database,
    after the swap and after the loading sessions closed; ``loaders`` are their server pids,
    waited for (sessions that were on a database renamed by a swap have left already).
    """
    await _wait_until_gone(conn, loaders)
    await _flush_own(conn)
    oid, reset, _tracked, counters = await _counters(conn, tables, schema=schema)
    baseline = Baseline(database_oid=oid, stats_reset=reset, tables=counters)
    literal = "'" + baseline.to_comment().replace("'", "''") + "'"
    await conn.execute(
        f"COMMENT ON TABLE {quote_ident(schema)}.{quote_ident(DATASET_TABLE)} IS {literal}"
    )
    return baseline


async def read_load_baseline(
    conn: asyncpg.Connection, *, schema: str = "public"
) -> Baseline | None:
    """The record :func:`record_load_baseline` left, if any."""
    comment = await conn.fetchval(
        "SELECT obj_description(to_regclass($1), 'pg_class')",
        f"{quote_ident(schema)}.{quote_ident(DATASET_TABLE)}",
    )
    return Baseline.parse(None if comment is None else str(comment))


async def changes_since_load(
    conn: asyncpg.Connection, tables: Sequence[str], *, schema: str = "public"
) -> LoadCheck:
    """Whether ``tables`` were written, rewritten or had their statistics reset since the
    load's record (see the module docstring); ``known=False`` when there is no usable one."""
    baseline = await read_load_baseline(conn, schema=schema)
    if baseline is None:
        return LoadCheck(known=False)
    oid, reset, tracked, now = await _counters(conn, tables, schema=schema)
    if oid != baseline.database_oid or not tracked:
        return LoadCheck(known=False)  # recorded in another database, or nothing is counted
    return compare(baseline, reset, now, tables)


_RESET = "its table statistics were reset since it was loaded, so changes cannot be ruled out"


def compare(
    baseline: Baseline,
    stats_reset: str | None,
    now: Mapping[str, TableCounters],
    tables: Sequence[str],
) -> LoadCheck:
    """The tables' counters of now against the load's record (see :class:`LoadCheck`)."""
    if stats_reset != baseline.stats_reset:
        return LoadCheck(known=True, problem=_RESET, reset=True)
    said: list[str] = []
    changed: list[str] = []
    counts_differ = False
    for table in tables:
        then, current = baseline.tables.get(table), now.get(table)
        if then is None or current is None or current.relid != then.relid:
            said.append(f"{table} was dropped or made again")
            changed.append(table)
            continue
        if current.node != then.node:
            said.append(f"{table} was rewritten (TRUNCATE, VACUUM FULL or CLUSTER)")
            changed.append(table)
            continue
        deltas = (
            current.inserted - then.inserted,
            current.updated - then.updated,
            current.deleted - then.deleted,
        )
        if min(deltas) < 0:  # counters went back: a crash, or one table's counters reset
            return LoadCheck(known=True, problem=_RESET, reset=True)
        inserted, updated, deleted = deltas
        counts_differ = counts_differ or inserted != deleted
        for n, what in ((inserted, "inserted"), (updated, "updated"), (deleted, "deleted")):
            if n:
                said.append(f"{n:,} row{'s' if n != 1 else ''} {what} in {table}")
        if any(deltas):
            changed.append(table)
    if not said:
        return LoadCheck(known=True)
    tail = "; the row counts differ" if counts_differ else ""
    return LoadCheck(
        known=True,
        problem=f"its tables were changed since it was loaded ({', '.join(said)}{tail})",
        tables=tuple(changed),
    )
