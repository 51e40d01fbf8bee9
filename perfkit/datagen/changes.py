"""Was a loaded dataset changed since it was loaded? Told cheaply by PostgreSQL's statistics.

Right after data is loaded (a seed's swap, a restore's or a clone's swap)
:func:`record_load_baseline` records, per application table, the cumulative statistics
counters (rows inserted, updated, deleted: ``pg_stat_get_tuples_*``, what
``pg_stat_user_tables`` shows; the changes committed since the table was last analyzed,
``n_mod_since_analyze``, and how many times it was analyzed), the table's identity (its oid
and file node: a ``TRUNCATE``, ``VACUUM FULL`` or a dropped and re-made table changes them),
the database's oid and when its statistics were last reset, the settings that apply to the
database (``pg_db_role_setting``: the database's own, and the roles' that connect to it), and
the catalogue of the tables as built (:mod:`perfkit.catalog`, to name a later difference).
:func:`changes_since_load` compares the database of now with that record: any row written and
committed, any table rewritten or analyzed, any setting added, removed or changed, and any
statistics reset (counters reset, or lower than recorded, as after a crash) count as a change.
No table is scanned.

**Committed, not rolled back.** The rows-inserted/updated/deleted counters count every
attempted change, committed or rolled back; only ``n_mod_since_analyze`` counts committed
ones. Measured on PostgreSQL 15.18 (a 1,000-row table, analyzed, then one session per step;
``ins/upd/del`` are ``n_tup_*``, ``live``/``dead`` ``n_*_tup``, ``mod`` ``n_mod_since_analyze``):

=========================================  ===============  =========  ============
step                                       ins / upd / del  live/dead  mod
=========================================  ===============  =========  ============
INSERT of 3 rows, rolled back              +3 / 0 / 0       0 / +3     0
UPDATE of 2 rows, rolled back              0 / +2 / 0       0 / +2     0
DELETE of 4 rows, rolled back              0 / 0 / +4       0 / 0      0
EXPLAIN ANALYZE INSERT, rolled back        +1 / 0 / 0       0 / +1     0
INSERT rolled back to a savepoint, COMMIT  +1 / 0 / 0       0 / +1     0
INSERT committed (+1 failed duplicate)     +2 / 0 / 0       +1 / +1    +1
UPDATE of 1 row, committed                 0 / +1 / 0       0 / +1     +1
DELETE of 1 row, committed                 0 / 0 / +1       -1 / +1    +1
INSERT and DELETE of a row, one COMMIT     +1 / 0 / +1      0 / +1     +2
SELECT ... FOR UPDATE; ON CONFLICT DO NOTHING  0 / 0 / 0    0 / 0      0
ANALYZE                                    0 / 0 / 0        (estimate) reset to 0
=========================================  ===============  =========  ============

So ``n_tup_ins - n_tup_del`` moves for a rolled-back INSERT (the issue's guess that it does not
was wrong), the live count does not but is overwritten by every VACUUM and ANALYZE, and
``n_mod_since_analyze`` grows by exactly the committed changes (an insert and a delete of the
same row in one transaction included, though the row counts are equal), until the next
ANALYZE sets it to 0. The rule is therefore: **a table was changed when its
``n_mod_since_analyze`` grew, or it was analyzed since the record.** To make that exact, the
record first ANALYZEs the tables whose ``n_mod_since_analyze`` is not 0 (a load's own ANALYZE
runs before the loading session publishes its counters, so the load's rows come back as
"modified since analyze": measured, 1,000 after a 1,000-row COPY and ANALYZE in one session).
From then on, autovacuum analyzes a table only after committed changes (its threshold is on
``n_mod_since_analyze``), and a manual ANALYZE changes the planner's statistics: both count as a
change. A record made before this rule (no ``n_mod_since_analyze`` in it) counts any attempted
change, as before.

The record is the comment of the ``perfkit_dataset`` table (``COMMENT ON TABLE``), not a row or
a column: snapshots copy that table's rows with binary COPY into the fixed columns of
:func:`~perfkit.datagen.metadata.create_dataset_table_sql`, so its columns must not change; a
comment goes with the table when a restore empties a database, is not part of a snapshot, and
needs no table of its own. A record made in another database (a template's clone carries its
source's comment) does not count: the database's oid must match. Without a usable record (a
database loaded before records existed, a clone nobody recorded, ``track_counts`` off) callers
fall back to comparing exact row counts, and the database must have no settings of its own
(perfkit never sets any).

PostgreSQL 15 publishes a session's counters when the session ends or goes idle (within about a
second, at most ``PGSTAT_IDLE_INTERVAL``, 10 s, when it keeps writing), so the record is made
after the loading sessions have left, and a change made by a session that is still open may be
seen a moment late (:func:`wait_until_gone` waits for sessions known to have written).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from perfkit.catalog import Catalog, read_catalog
from perfkit.db import publish_counters
from perfkit.sqlnames import DATASET_TABLE, quote_ident

#: What the ``perfkit_dataset`` comment starts with when it holds a load record.
BASELINE_MARK = "perfkit load baseline "
#: How long :func:`record_load_baseline` waits for the loading sessions to leave.
LOADERS_DEADLINE_S = 10.0
#: The login role perfkit's read-only sessions use (:mod:`perfkit.reader`); its settings
#: apply to what they measure, so they are part of the record.
READER_ROLE = "perfkit_reader"

_COUNTERS_SQL = """
SELECT c.relname AS name, c.oid::bigint AS relid, pg_relation_filenode(c.oid)::bigint AS node,
       pg_stat_get_tuples_inserted(c.oid) AS inserted,
       pg_stat_get_tuples_updated(c.oid) AS updated,
       pg_stat_get_tuples_deleted(c.oid) AS deleted,
       pg_stat_get_mod_since_analyze(c.oid) AS committed,
       pg_stat_get_analyze_count(c.oid) + pg_stat_get_autoanalyze_count(c.oid) AS analyses
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
"""
#: The database (``$2``; NULL: the current one), and the settings that apply to sessions on
#: it: the database's own (any role), and those of the connecting role, of perfkit's reader
#: role and of ALL roles (``ALTER ROLE ... [IN DATABASE ...] SET``). Each as
#: ``[scope, role, "name=value"]``.
_DATABASE_SQL = """
SELECT d.oid::bigint AS oid, pg_stat_get_db_stat_reset_time(d.oid)::text AS stats_reset,
       current_setting('track_counts')::bool AS tracked,
       (SELECT coalesce(json_agg(json_build_array(
                   CASE WHEN s.setdatabase = 0 THEN 'role' ELSE 'database' END,
                   coalesce(r.rolname, ''), item) ORDER BY s.setdatabase, r.rolname, item), '[]')
        FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole,
             unnest(s.setconfig) AS item
        WHERE s.setdatabase IN (0, d.oid)
          AND (s.setrole = 0 OR s.setdatabase = d.oid OR r.rolname IN (current_user, $1))
       )::text AS settings
FROM pg_database d WHERE d.datname = coalesce($2::text, current_database())
"""


@dataclass(frozen=True)
class TableCounters:
    """One table's identity and cumulative write counters.

    ``committed`` (``n_mod_since_analyze``) and ``analyses`` are None in records made before
    they were kept."""

    relid: int
    node: int
    inserted: int
    updated: int
    deleted: int
    committed: int | None = None
    analyses: int | None = None


#: A setting as recorded: (``"database"`` or ``"role"``, the role or ``""`` for all,
#: ``"name=value"``).
Setting = tuple[str, str, str]


@dataclass(frozen=True)
class Baseline:
    """The counters of a database's tables right after its data was loaded, the settings that
    applied then, and the catalogue of the tables as built."""

    database_oid: int
    stats_reset: str | None
    tables: Mapping[str, TableCounters]
    #: None in records made before settings were kept.
    settings: tuple[Setting, ...] | None = None
    #: The tables as built (None in records made before the catalogue was kept).
    catalog: Catalog | None = field(default=None, compare=False)

    def to_comment(self) -> str:
        body: dict[str, Any] = {
            "database_oid": self.database_oid,
            "stats_reset": self.stats_reset,
            "tables": {
                name: [
                    c.relid,
                    c.node,
                    c.inserted,
                    c.updated,
                    c.deleted,
                    *([c.committed, c.analyses] if c.committed is not None else []),
                ]
                for name, c in self.tables.items()
            },
        }
        if self.settings is not None:
            body["settings"] = [list(s) for s in self.settings]
        if self.catalog is not None:
            body["catalog"] = {
                "tables": self.catalog.tables,
                "enums": {k: list(v) for k, v in self.catalog.enums.items()},
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
            settings = body.get("settings")
            catalog = body.get("catalog")
            return cls(
                database_oid=int(body["database_oid"]),
                stats_reset=None if reset is None else str(reset),
                tables={
                    str(name): TableCounters(*(int(v) for v in values))
                    for name, values in body["tables"].items()
                },
                settings=None
                if settings is None
                else tuple((str(a), str(b), str(c)) for a, b, c in settings),
                catalog=None
                if catalog is None
                else Catalog(
                    tables={str(k): dict(v) for k, v in catalog["tables"].items()},
                    enums={str(k): tuple(map(str, v)) for k, v in catalog["enums"].items()},
                ),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class LoadCheck:
    """What :func:`changes_since_load` found.

    ``known`` is False when the database has no usable record of its counters (the caller
    then compares row counts); ``problem`` says what changed in one phrase, None when nothing
    did (a settings problem is found with or without a record); ``tables`` names the tables
    written or rewritten since the load, and ``reset`` tells that the statistics were reset
    (then nothing can be ruled out).
    """

    known: bool
    problem: str | None = None
    tables: tuple[str, ...] = ()
    reset: bool = False


@dataclass(frozen=True)
class _Now:
    """The database as it is: its oid, statistics reset time, ``track_counts``, settings and
    its tables' counters."""

    oid: int
    stats_reset: str | None
    tracked: bool
    settings: tuple[Setting, ...]
    tables: dict[str, TableCounters]


async def _read_now(conn: asyncpg.Connection, tables: Sequence[str], *, schema: str) -> _Now:
    """The database and its tables' counters, fresh (a new statistics snapshot)."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    db = await conn.fetchrow(_DATABASE_SQL, READER_ROLE, None)
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
            committed=int(r["committed"]),
            analyses=int(r["analyses"]),
        )
        for r in rows
    }
    settings = tuple((str(a), str(b), str(c)) for a, b, c in json.loads(db["settings"]))
    return _Now(
        oid=int(db["oid"]),
        stats_reset=db["stats_reset"],
        tracked=bool(db["tracked"]),
        settings=settings,
        tables=counters,
    )


async def settings_of(conn: asyncpg.Connection, database: str) -> tuple[Setting, ...] | None:
    """The settings that apply to sessions on ``database`` (as a load record keeps them), read
    over ``conn``, a connection to any database of the server (None: no such database)."""
    row = await conn.fetchrow(_DATABASE_SQL, READER_ROLE, database)
    if row is None:
        return None
    return tuple((str(a), str(b), str(c)) for a, b, c in json.loads(row["settings"]))


async def wait_until_gone(
    conn: asyncpg.Connection, pids: Collection[int], *, seconds: float = LOADERS_DEADLINE_S
) -> None:
    """Wait (with a deadline) until the sessions ``pids`` have ended: a session publishes its
    counters before it leaves ``pg_stat_activity``."""
    if not pids:
        return
    deadline = time.monotonic() + seconds
    while await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
    ):
        if time.monotonic() > deadline:
            return  # a record made early only errs towards "changed": a reload, never bad data
        await asyncio.sleep(0.01)


async def record_load_baseline(
    conn: asyncpg.Connection,
    tables: Sequence[str],
    *,
    loaders: Collection[int] = (),
    schema: str = "public",
) -> Baseline:
    """Record the counters of ``tables`` as they are right after a load, with the settings
    and the catalogue, in the comment of ``perfkit_dataset`` (which must exist). Call it on a
    connection to the loaded database, after the swap and after the loading sessions closed;
    ``loaders`` are their server pids, waited for (sessions that were on a database renamed by
    a swap have left already). Tables whose ``n_mod_since_analyze`` is not 0 are analyzed
    first (module docstring: that makes "committed since" exact).
    """
    await wait_until_gone(conn, loaders)
    await publish_counters(conn)
    now = await _read_now(conn, tables, schema=schema)
    stale = [t for t, c in now.tables.items() if c.committed]
    if stale:
        await conn.execute(
            "ANALYZE " + ", ".join(f"{quote_ident(schema)}.{quote_ident(t)}" for t in stale)
        )
        await publish_counters(conn)
        now = await _read_now(conn, tables, schema=schema)
    catalog = await read_catalog(conn, schema, tables)
    baseline = Baseline(
        database_oid=now.oid,
        stats_reset=now.stats_reset,
        tables=now.tables,
        settings=now.settings,
        catalog=catalog,
    )
    literal = "'" + baseline.to_comment().replace("'", "''") + "'"
    await conn.execute(
        f"COMMENT ON TABLE {quote_ident(schema)}.{quote_ident(DATASET_TABLE)} IS {literal}"
    )
    return baseline


async def read_load_baseline(
    conn: asyncpg.Connection, *, schema: str = "public"
) -> Baseline | None:
    """The record :func:`record_load_baseline` left, if any (made in this database or not)."""
    comment = await conn.fetchval(
        "SELECT obj_description(to_regclass($1), 'pg_class')",
        f"{quote_ident(schema)}.{quote_ident(DATASET_TABLE)}",
    )
    return Baseline.parse(None if comment is None else str(comment))


async def changes_since_load(
    conn: asyncpg.Connection,
    tables: Sequence[str],
    *,
    schema: str = "public",
    baseline: Baseline | None = None,
) -> LoadCheck:
    """Whether ``tables`` were written, rewritten, analyzed or had their statistics reset, or
    the settings changed, since the load's record (see the module docstring); ``known=False``
    when there is no usable record of the counters. ``baseline``: the record, when the caller
    read it already (:func:`read_load_baseline`)."""
    baseline = baseline or await read_load_baseline(conn, schema=schema)
    now = await _read_now(conn, tables, schema=schema)
    if baseline is None or now.oid != baseline.database_oid:
        # no record of this database: at least, nothing may be set on the database itself
        own = tuple(s for s in now.settings if s[0] == "database")
        return LoadCheck(known=False, problem=settings_problem((), own))
    if baseline.settings is not None and (
        found := settings_problem(baseline.settings, now.settings)
    ):
        return LoadCheck(known=True, problem=found)
    if not now.tracked:
        return LoadCheck(known=False)  # nothing is counted
    return compare(baseline, now.stats_reset, now.tables, tables)


def _setting_label(setting: Setting) -> str:
    scope, role, item = setting
    if scope == "database":
        return f"database setting {item}" + (f" for role {role}" if role else "")
    return f"role setting {item}" + (f" of {role}" if role else " of all roles")


def settings_problem(then: Sequence[Setting], now: Sequence[Setting]) -> str | None:
    """What differs between the settings recorded and those of now, in one phrase (None when
    nothing): ``database setting enable_indexscan=off was added``."""
    before = {(s[0], s[1], s[2].partition("=")[0]): s for s in then}
    after = {(s[0], s[1], s[2].partition("=")[0]): s for s in now}
    said = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None and new is not None:
            said.append(f"{_setting_label(new)} was added")
        elif new is None and old is not None:
            said.append(f"{_setting_label(old)} was removed")
        elif old is not None and new is not None:
            said.append(f"{_setting_label(new)} was {old[2].partition('=')[2]} before")
    if not said:
        return None
    return f"its settings changed since it was loaded ({', '.join(said)})"


_RESET = "its table statistics were reset since it was loaded, so changes cannot be ruled out"


def _plural(n: int, what: str) -> str:
    return f"{n:,} row{'s' if n != 1 else ''} {what}"


def compare(
    baseline: Baseline,
    stats_reset: str | None,
    now: Mapping[str, TableCounters],
    tables: Sequence[str],
) -> LoadCheck:
    """The tables' counters of now against the load's record (see :class:`LoadCheck` and the
    module docstring's rule: committed changes count, rolled-back ones do not)."""
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
        attempts = (
            current.inserted - then.inserted,
            current.updated - then.updated,
            current.deleted - then.deleted,
        )
        if min(attempts) < 0:  # counters went back: a crash, or one table's counters reset
            return LoadCheck(known=True, problem=_RESET, reset=True)
        inserted, updated, deleted = attempts
        if then.committed is None or then.analyses is None:
            committed = sum(attempts)  # an older record: every attempt counts
        elif current.analyses != then.analyses:
            # recorded at 0, only committed changes (autovacuum) or a manual ANALYZE analyze
            # it; recorded above 0 (an interrupted record), only the attempts can tell
            if not then.committed or any(attempts):
                said.append(f"{table} was analyzed since (its planner statistics changed)")
                changed.append(table)
            continue
        else:
            committed = (current.committed or 0) - then.committed
            if committed < 0:
                return LoadCheck(known=True, problem=_RESET, reset=True)
        if not committed:
            continue  # nothing, or only changes that were rolled back
        changed.append(table)
        if committed == sum(attempts):  # nothing was rolled back: the split is exact
            counts_differ = counts_differ or inserted != deleted
            for n, what in ((inserted, "inserted"), (updated, "updated"), (deleted, "deleted")):
                if n:
                    said.append(f"{_plural(n, what)} in {table}")
        else:
            said.append(
                f"{_plural(committed, 'changed')} in {table} (committed; of {inserted:,} "
                f"inserted, {updated:,} updated, {deleted:,} deleted, the rest rolled back)"
            )
    if not said:
        return LoadCheck(known=True)
    tail = "; the row counts differ" if counts_differ else ""
    return LoadCheck(
        known=True,
        problem=f"its tables were changed since it was loaded ({', '.join(said)}{tail})",
        tables=tuple(changed),
    )
