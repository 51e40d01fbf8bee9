"""Reading a schema from PostgreSQL's catalogue into a :class:`~perfkit.ddl.model.Capture`.

:func:`capture_schema` reads, in one transaction, with the schema first on ``search_path``
(and the schemas of the database's extensions after it, so an operator class such as
``gin_trgm_ops`` prints the same wherever the tables live):

- extensions (name, schema, version), ENUM types, domains (base, NOT NULL, default, CHECKs),
  composite types, sequences (options, owner), functions and procedures
  (``pg_get_functiondef``), plain aggregates;
- tables and partitions: columns (``format_type``, NOT NULL, default, identity, generated,
  collation, statistics target), partition keys and bounds, constraints
  (``pg_get_constraintdef``), indexes that back no constraint (``pg_get_indexdef``), triggers
  (``pg_get_triggerdef``, user triggers only), row-level security and policies, storage
  parameters, comments;
- views and materialized views (``pg_get_viewdef``, in dependency order), extended statistics.

Constants print in UTC and ISO styles whatever the session's settings. What it sees but
cannot rebuild (rules, table inheritance, foreign tables, base and range
types, user-defined operators, collations or operator classes, non-plain aggregates, a
tablespace, non-default column storage) is listed in :attr:`Capture.uncarried`, one entry per
object. Objects that belong to an extension are the extension's and are not listed.

Over 500 lines: one catalogue query per kind of object, each beside the few lines that turn
its rows into dataclasses.
"""

from __future__ import annotations

import graphlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from perfkit.ddl.model import (
    Aggregate,
    Capture,
    CaptureError,
    Column,
    ColumnType,
    CompositeType,
    Constraint,
    Domain,
    EnumType,
    Extension,
    Function,
    Index,
    Policy,
    SequenceDef,
    Statistics,
    Table,
    Trigger,
    Uncarried,
    View,
)
from perfkit.sqlnames import quote_ident

_EXTENSIONS_SQL = """
SELECT e.extname AS name, n.nspname AS schema, e.extversion AS version
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql' ORDER BY e.extname
"""

_RELATIONS_SQL = """
SELECT c.oid, c.relname AS name, c.relkind::text AS kind, c.relpersistence::text AS persistence,
       c.relispartition AS is_partition, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
       coalesce(c.reloptions, '{}') AS options, c.reltablespace <> 0 AS tablespace,
       CASE WHEN am.amname IS NOT NULL AND am.amname <> 'heap' THEN am.amname END AS am,
       c.relispopulated AS populated,
       (SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
        WHERE i.inhrelid = c.oid) AS parent,
       (SELECT p.relkind::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
        WHERE i.inhrelid = c.oid) AS parent_kind,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
LEFT JOIN pg_am am ON am.oid = c.relam
WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
    AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY c.relname
"""

_COLUMNS_SQL = """
SELECT a.attrelid AS rel, a.attname AS name, a.atttypid AS type, a.atttypmod AS typmod,
       format_type(a.atttypid, a.atttypmod) AS sql, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text AS identity,
       a.attgenerated::text AS generated, a.attstattarget AS statistics,
       CASE WHEN a.attcollation <> t.typcollation THEN
           CASE WHEN co.collnamespace = 'pg_catalog'::regnamespace THEN quote_ident(co.collname)
                ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
       END AS collation,
       a.attstorage <> t.typstorage OR a.attcompression <> '' AS storage,
       coalesce(
           (SELECT s.relname FROM pg_depend x JOIN pg_class s ON s.oid = x.refobjid
            WHERE x.classid = 'pg_attrdef'::regclass AND x.objid = d.oid
              AND x.refclassid = 'pg_class'::regclass AND s.relkind = 'S' LIMIT 1),
           (SELECT s.relname FROM pg_depend x JOIN pg_class s ON s.oid = x.objid
            WHERE x.classid = 'pg_class'::regclass AND x.refobjid = a.attrelid
              AND x.refobjsubid = a.attnum AND x.deptype = 'i' AND s.relkind = 'S' LIMIT 1)
       ) AS sequence,
       col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_TYPES_SQL = """
WITH RECURSIVE ty(oid) AS (
    SELECT unnest($1::oid[])
    UNION
    SELECT v.x FROM ty JOIN pg_type t ON t.oid = ty.oid,
        LATERAL (VALUES (t.typbasetype),
                        (CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END)) v(x)
    WHERE v.x <> 0
)
SELECT t.oid, t.typname AS name, t.typtype::text AS kind, t.typcategory::text AS category,
       t.typbasetype AS basetype, t.typtypmod AS typmod,
       CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END AS element,
       t.typnotnull AS not_null, pg_get_expr(t.typdefaultbin, 0) AS default,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel FROM pg_enum e
            WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
       ARRAY(SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
             WHERE k.contypid = t.oid AND k.contype = 'c' ORDER BY k.conname) AS checks
FROM pg_type t WHERE t.oid IN (SELECT oid FROM ty)
"""

_CONSTRAINTS_SQL = """
SELECT k.conrelid AS rel, k.conname AS name, k.contype::text AS kind,
       pg_get_constraintdef(k.oid) AS definition, k.condeferrable AS deferrable,
       k.condeferred AS deferred, k.convalidated AS validated,
       k.conparentid <> 0 AS inherited, NOT k.conislocal AS not_local,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n
             ORDER BY u.i) AS columns,
       r.relname AS references,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n
             ORDER BY u.i) AS ref_columns,
       CASE WHEN k.contype IN ('p', 'u', 'x') THEN ix.relname END AS index,
       (SELECT pi.relname FROM pg_constraint pk JOIN pg_class pi ON pi.oid = pk.conindid
        WHERE pk.oid = k.conparentid AND k.contype IN ('p', 'u', 'x')) AS parent_index,
       rn.nspname AS ref_schema
FROM pg_constraint k
LEFT JOIN pg_class r ON r.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
LEFT JOIN pg_class ix ON ix.oid = k.conindid
WHERE k.conrelid = ANY($1::oid[])
ORDER BY k.conrelid, k.conname
"""

_INDEXES_SQL = """
SELECT x.indrelid AS rel, i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition,
       x.indisunique AS unique, x.indisclustered AS clustered,
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
             FROM generate_series(1, x.indnkeyatts) k ORDER BY k) AS keys,
       ARRAY(SELECT a.attname FROM generate_series(1, x.indnkeyatts) k
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid
                  AND a.attnum = x.indkey[k - 1] AND x.indkey[k - 1] <> 0
             ORDER BY k) AS key_columns,
       pg_get_expr(x.indpred, x.indrelid, true) AS predicate,
       (SELECT p.relname FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent
        WHERE h.inhrelid = x.indexrelid) AS parent,
       i.reltablespace <> 0 AS tablespace
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = ANY($1::oid[]) AND NOT EXISTS (
    SELECT FROM pg_constraint k
    WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))
ORDER BY x.indrelid, i.relname
"""

_TRIGGERS_SQL = """
SELECT t.tgrelid AS rel, t.tgname AS name, pg_get_triggerdef(t.oid) AS definition,
       t.tgenabled::text AS enabled
FROM pg_trigger t
WHERE t.tgrelid = ANY($1::oid[]) AND NOT t.tgisinternal AND t.tgparentid = 0
ORDER BY t.tgrelid, t.tgname
"""

_POLICIES_SQL = """
SELECT p.polrelid AS rel, p.polname AS name, p.polcmd::text AS command,
       p.polpermissive AS permissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE quote_ident(a.rolname) END
             FROM unnest(p.polroles) r LEFT JOIN pg_roles a ON a.oid = r
             ORDER BY 1) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using,
       pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_policy p WHERE p.polrelid = ANY($1::oid[])
ORDER BY p.polrelid, p.polname
"""

_RULES_SQL = """
SELECT c.relname AS rel, r.rulename AS name FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
WHERE r.ev_class = ANY($1::oid[]) AND r.rulename <> '_RETURN' ORDER BY 1, 2
"""

_VIEW_DEPENDENCIES_SQL = """
SELECT DISTINCT r.ev_class AS view, d.refobjid AS uses
FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
WHERE r.ev_class = ANY($1::oid[]) AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid <> r.ev_class
"""

_TYPES_OF_SCHEMA_SQL = """
SELECT t.oid, t.typname AS name, t.typtype::text AS kind,
       format_type(t.typbasetype, t.typtypmod) AS base, t.typnotnull AS not_null,
       pg_get_expr(t.typdefaultbin, 0) AS default,
       CASE WHEN t.typtype = 'd' AND t.typcollation <> b.typcollation THEN
           quote_ident(co.collname) END AS collation,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel FROM pg_enum e
            WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
       ARRAY(SELECT json_build_array(k.conname, pg_get_constraintdef(k.oid))::text
             FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'
             ORDER BY k.conname) AS checks,
       CASE WHEN t.typtype = 'c' THEN ARRAY(
           SELECT json_build_array(a.attname, format_type(a.atttypid, a.atttypmod))::text
           FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
             AND NOT a.attisdropped ORDER BY a.attnum) END AS attributes,
       (SELECT c.relkind::text FROM pg_class c WHERE c.oid = t.typrelid) AS relkind
FROM pg_type t
LEFT JOIN pg_type b ON b.oid = t.typbasetype
LEFT JOIN pg_collation co ON co.oid = t.typcollation
WHERE t.typnamespace = $1 AND t.typcategory <> 'A' AND t.typtype <> 'm'
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_type'::regclass
    AND e.objid = t.oid AND e.deptype = 'e')
ORDER BY t.typname
"""

_SEQUENCES_SQL = """
SELECT c.relname AS name, format_type(s.seqtypid, NULL) AS data_type, s.seqstart AS start,
       s.seqincrement AS increment, s.seqmin AS minimum, s.seqmax AS maximum,
       s.seqcache AS cache, s.seqcycle AS cycle,
       (SELECT json_build_array(t.relname, a.attname, d.deptype::text)::text
        FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) AS owner
FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE c.relnamespace = $1 AND c.relkind = 'S'
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
    AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY c.relname
"""

_FUNCTIONS_SQL = """
SELECT p.oid, p.proname AS name, p.prokind::text AS kind,
       pg_get_function_identity_arguments(p.oid) AS arguments,
       CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END AS definition,
       EXISTS (SELECT FROM unnest(array_append(
                   coalesce(p.proallargtypes, p.proargtypes::oid[]), p.prorettype)) u(t)
               JOIN pg_type ty ON ty.oid = u.t
               JOIN pg_type el ON el.oid = CASE WHEN ty.typcategory = 'A'
                                                THEN ty.typelem ELSE ty.oid END
               JOIN pg_class r ON r.oid = el.typrelid AND r.relkind <> 'c') AS after_tables,
       a.aggkind::text AS aggkind, a.aggtransfn::regproc::text AS sfunc,
       format_type(a.aggtranstype, NULL) AS stype,
       CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::regproc::text END AS finalfunc,
       CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::regproc::text END AS combinefunc,
       a.agginitval AS initcond,
       (a.aggserialfn <> 0 OR a.aggdeserialfn <> 0 OR a.aggmtransfn <> 0
        OR a.aggsortop <> 0 OR a.aggfinalextra OR a.aggtransspace <> 0) AS aggextra
FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
WHERE p.pronamespace = $1
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass
    AND e.objid = p.oid AND e.deptype = 'e')
ORDER BY p.proname, 4
"""

_STATISTICS_SQL = """
SELECT s.stxname AS name, pg_get_statisticsobjdef(s.oid) AS definition
FROM pg_statistic_ext s WHERE s.stxrelid = ANY($1::oid[]) ORDER BY s.stxname
"""

_OTHER_OBJECTS_SQL = """
SELECT 'operator' AS kind, o.oprname AS name FROM pg_operator o
WHERE o.oprnamespace = $1
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_operator'::regclass
    AND e.objid = o.oid AND e.deptype = 'e')
UNION ALL
SELECT 'operator class', c.opcname FROM pg_opclass c
WHERE c.opcnamespace = $1
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_opclass'::regclass
    AND e.objid = c.oid AND e.deptype = 'e')
UNION ALL
SELECT 'collation', c.collname FROM pg_collation c
WHERE c.collnamespace = $1
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_collation'::regclass
    AND e.objid = c.oid AND e.deptype = 'e')
UNION ALL
SELECT 'text search configuration', c.cfgname FROM pg_ts_config c
WHERE c.cfgnamespace = $1
  AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = 'pg_ts_config'::regclass
    AND e.objid = c.oid AND e.deptype = 'e')
ORDER BY 1, 2
"""

_COMMANDS = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}


@dataclass(frozen=True)
class _Names:
    """How PostgreSQL prints the captured schema's name (``quote_ident``), to take it out of
    the definitions that always qualify a name."""

    schema: str
    printed: str

    def strip_on(self, text: str) -> str:
        """A definition's ``ON schema.table`` (and ``FROM schema.table``) without the schema."""
        for word in (" ON ONLY ", " ON ", " FROM "):
            text = text.replace(f"{word}{self.printed}.", word, 1)
        return text

    def strip_prefix(self, text: str, keyword: str, name: str) -> str:
        """``keyword schema.name`` -> ``keyword name`` (the first one only)."""
        return text.replace(f"{keyword} {self.printed}.{name}", f"{keyword} {name}", 1)


async def capture_schema(
    conn: asyncpg.Connection,
    schema: str,
    *,
    tables: Sequence[str] | None = None,
    home: str | None = None,
) -> Capture:
    """What the catalogue says about ``schema`` (see the module docstring).

    ``tables`` limits the capture to those tables (and their partitions), which must be
    closed under foreign keys (:class:`~perfkit.ddl.model.CaptureError` otherwise), and the
    views that read nothing else. Types, domains, sequences and functions of
    the schema are captured whatever the tables. ``home`` names the schema the tables are
    built for when ``schema`` is a staging schema: extensions that live there count as the
    schema's own, as they do for a capture of ``home`` itself.
    """
    async with conn.transaction():
        extensions = await conn.fetch(_EXTENSIONS_SQL)
        path = [schema, *sorted({r["schema"] for r in extensions} - {schema}), "pg_catalog"]
        await conn.execute("SET LOCAL search_path = " + ", ".join(quote_ident(p) for p in path))
        # Constants in defaults, checks and partition bounds print in these settings.
        await conn.execute(
            "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, MDY'; "
            "SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 1"
        )
        printed = str(await conn.fetchval("SELECT quote_ident($1)", schema))
        names = _Names(schema, printed)
        nsp = await conn.fetchval("SELECT oid FROM pg_namespace WHERE nspname = $1", schema)
        if nsp is None:
            raise CaptureError(
                f"there is no schema {schema!r}",
                problem="missing_table",
                names=[schema],
                hint="build the schema first",
            )
        own = {schema, home or schema}
        return await _read(conn, nsp, names, extensions, tables, own)


async def _read(
    conn: asyncpg.Connection,
    nsp: int,
    names: _Names,
    extension_rows: Sequence[asyncpg.Record],
    wanted: Sequence[str] | None,
    own: set[str],
) -> Capture:
    uncarried: list[Uncarried] = []
    relations = await conn.fetch(_RELATIONS_SQL, nsp)
    chosen = _choose(relations, wanted)
    if wanted is not None:
        chosen += await _views_within(conn, relations, chosen)
    tables_rows = [r for r in chosen if r["kind"] in ("r", "p")]
    view_rows = [r for r in chosen if r["kind"] in ("v", "m")]
    for r in chosen:
        if r["kind"] == "f":
            uncarried.append(Uncarried("foreign table", r["name"], "foreign tables are not copied"))
        elif r["parent"] is not None and r["parent_kind"] == "r":
            uncarried.append(
                Uncarried("table", r["name"], f"inherits from {r['parent']} (not a partition)")
            )
        if r["tablespace"]:
            uncarried.append(Uncarried("table", r["name"], "lives in a tablespace of its own"))
    oids = [r["oid"] for r in tables_rows + view_rows]
    columns = await conn.fetch(_COLUMNS_SQL, oids)
    types = {r["oid"]: r for r in await conn.fetch(_TYPES_SQL, list({c["type"] for c in columns}))}
    constraints = await conn.fetch(_CONSTRAINTS_SQL, oids)
    indexes = await conn.fetch(_INDEXES_SQL, oids)
    triggers = await conn.fetch(_TRIGGERS_SQL, oids)
    policies = await conn.fetch(_POLICIES_SQL, oids)
    by_rel = _group(columns, constraints, indexes, triggers, policies)
    if wanted is not None:
        _check_closed(tables_rows, by_rel, names.schema)
    for r in await conn.fetch(_RULES_SQL, oids):
        uncarried.append(Uncarried("rule", f"{r['name']} on {r['rel']}", "rules are not copied"))
    for c in columns:
        if c["storage"]:
            uncarried.append(Uncarried("column", c["name"], "non-default storage or compression"))
    for kind, rows in (("index", indexes), ("constraint", constraints)):
        for row in rows:
            if kind == "constraint" and row["kind"] == "f" and row["ref_schema"] != names.schema:
                uncarried.append(
                    Uncarried("constraint", row["name"], "references a table in another schema")
                )
            if kind == "index" and row["tablespace"]:
                uncarried.append(Uncarried("index", row["name"], "lives in its own tablespace"))
    tables = tuple(_table(r, by_rel, types, names) for r in tables_rows)
    views = await _views(conn, view_rows, by_rel, types, names)
    kinds = await _schema_types(conn, nsp, uncarried)
    functions, aggregates = await _functions(conn, nsp, names, uncarried)
    sequences = await _sequences(conn, nsp)
    statistics = tuple(
        Statistics(
            r["name"],
            names.strip_on(names.strip_prefix(r["definition"], "STATISTICS", r["name"])),
        )
        for r in await conn.fetch(_STATISTICS_SQL, [r["oid"] for r in tables_rows])
    )
    for r in await conn.fetch(_OTHER_OBJECTS_SQL, nsp):
        uncarried.append(Uncarried(r["kind"], r["name"], "user-defined; not copied"))
    return Capture(
        schema=names.schema,
        extensions=tuple(
            Extension(r["name"], "" if r["schema"] in own else r["schema"], r["version"])
            for r in extension_rows
        ),
        enums=kinds[0],
        domains=kinds[1],
        composites=kinds[2],
        sequences=sequences,
        functions=functions,
        aggregates=aggregates,
        tables=tables,
        views=views,
        statistics=statistics,
        uncarried=tuple(sorted(set(uncarried), key=lambda u: (u.kind, u.name, u.reason))),
    )


def _choose(
    relations: Sequence[asyncpg.Record], wanted: Sequence[str] | None
) -> list[asyncpg.Record]:
    """The relations to capture: all, or ``wanted`` and their partitions (recursively)."""
    if wanted is None:
        return list(relations)
    by_name = {r["name"]: r for r in relations}
    missing = sorted(n for n in wanted if by_name.get(n) is None or by_name[n]["kind"] not in "rp")
    if missing:
        raise CaptureError(
            f"the schema has no table(s) {', '.join(missing)}",
            problem="missing_table",
            names=missing,
            hint="check the table list (app.schema.tables)",
        )
    chosen = set(wanted)
    grew = True
    while grew:
        more = {r["name"] for r in relations if r["parent"] in chosen and r["kind"] in "rp"}
        grew = not more <= chosen
        chosen |= more
    return [r for r in relations if r["name"] in chosen]


async def _views_within(
    conn: asyncpg.Connection,
    relations: Sequence[asyncpg.Record],
    chosen: Sequence[asyncpg.Record],
) -> list[asyncpg.Record]:
    """The views that read only ``chosen`` tables (or such views)."""
    views = {r["oid"]: r for r in relations if r["kind"] in ("v", "m")}
    if not views:
        return []
    uses: dict[int, set[int]] = {oid: set() for oid in views}
    for d in await conn.fetch(_VIEW_DEPENDENCIES_SQL, list(views)):
        uses[d["view"]].add(d["uses"])
    inside = {r["oid"] for r in chosen}
    added: list[asyncpg.Record] = []
    grew = True
    while grew:
        grew = False
        for oid, used in uses.items():
            if oid not in inside and used <= inside:
                inside.add(oid)
                added.append(views[oid])
                grew = True
    return added


def _check_closed(
    tables: Sequence[asyncpg.Record], by_rel: Mapping[int, dict[str, list[Any]]], schema: str
) -> None:
    names = {r["name"] for r in tables}
    outside = sorted(
        f"{r['name']}.{k['name']} -> {k['references']}"
        for r in tables
        for k in by_rel[r["oid"]]["constraints"]
        if k["kind"] == "f" and k["ref_schema"] == schema and k["references"] not in names
    )
    if outside:
        raise CaptureError(
            "the chosen tables are not closed under foreign keys: " + ", ".join(outside),
            problem="not_closed",
            names=outside,
            hint="add the referenced tables to the list",
        )


def _group(*parts: Iterable[asyncpg.Record]) -> dict[int, dict[str, list[Any]]]:
    keys = ("columns", "constraints", "indexes", "triggers", "policies")
    out: dict[int, dict[str, list[Any]]] = {}
    for key, rows in zip(keys, parts, strict=True):
        for row in rows:
            out.setdefault(row["rel"], {k: [] for k in keys})[key].append(row)
    return out


def _column_type(
    oid: int, typmod: int, sql: str, types: Mapping[int, asyncpg.Record]
) -> ColumnType:
    """The type of a column, domains resolved (see :class:`~perfkit.ddl.model.ColumnType`)."""
    domains: list[str] = []
    checks: list[str] = []
    not_null = False
    default = None
    t = types[oid]
    while t["kind"] == "d":
        domains.append(t["name"])
        checks += list(t["checks"])
        not_null = not_null or t["not_null"]
        default = default or t["default"]
        typmod = t["typmod"] if typmod == -1 else typmod
        t = types[t["basetype"]]
    element = types.get(t["element"]) if t["element"] else None
    while element is not None and element["kind"] == "d":
        element = types[element["basetype"]]
    labels = t["labels"] if t["labels"] is not None else (element and element["labels"])
    return ColumnType(
        sql=sql,
        base=t["name"],
        category=t["category"],
        typmod=typmod,
        element=None if element is None else element["name"],
        element_category=None if element is None else element["category"],
        domains=tuple(domains),
        labels=None if labels is None else tuple(labels),
        domain_checks=tuple(checks),
        domain_not_null=not_null,
        domain_default=default,
    )


def _columns(
    rows: Sequence[asyncpg.Record], types: Mapping[int, asyncpg.Record], names: _Names
) -> tuple[Column, ...]:
    return tuple(
        Column(
            name=c["name"],
            type=_column_type(c["type"], c["typmod"], c["sql"], types),
            not_null=c["not_null"],
            default=c["default"],
            identity=c["identity"],
            generated=c["generated"],
            collation=c["collation"],
            sequence=c["sequence"],
            statistics=c["statistics"],
        )
        for c in rows
    )


def _index(row: asyncpg.Record, names: _Names) -> Index:
    return Index(
        name=row["name"],
        definition=names.strip_on(row["definition"]),
        unique=row["unique"],
        keys=tuple(row["keys"]),
        key_columns=tuple(row["key_columns"]),
        predicate=row["predicate"],
        parent=row["parent"],
        clustered=row["clustered"],
    )


def _trigger(row: asyncpg.Record, names: _Names) -> Trigger:
    return Trigger(row["name"], names.strip_on(row["definition"]), row["enabled"])


def _table(
    r: asyncpg.Record,
    by_rel: Mapping[int, dict[str, list[Any]]],
    types: Mapping[int, asyncpg.Record],
    names: _Names,
) -> Table:
    parts = by_rel.get(r["oid"]) or {k: [] for k in ("columns", "constraints", "indexes",
                                                      "triggers", "policies")}  # fmt: skip
    partition = r["is_partition"] and r["parent_kind"] == "p"
    return Table(
        name=r["name"],
        kind=r["kind"],
        columns=_columns(parts["columns"], types, names),
        unlogged=r["persistence"] == "u",
        partition_key=r["partition_key"],
        partition_of=r["parent"] if partition else None,
        partition_bound=r["bound"] if partition else None,
        constraints=tuple(
            Constraint(
                name=k["name"],
                kind=k["kind"],
                definition=k["definition"],
                columns=tuple(k["columns"]),
                deferrable=k["deferrable"],
                deferred=k["deferred"],
                validated=k["validated"],
                references=k["references"],
                ref_columns=tuple(k["ref_columns"]),
                index=k["index"],
                parent_index=(k["parent_index"] or "")
                if k["inherited"] or k["not_local"]
                else None,
            )
            for k in parts["constraints"]
        ),
        indexes=tuple(_index(i, names) for i in parts["indexes"]),
        triggers=tuple(_trigger(t, names) for t in parts["triggers"]),
        policies=tuple(
            Policy(
                name=p["name"],
                command=_COMMANDS[p["command"]],
                permissive=p["permissive"],
                roles=tuple(p["roles"]),
                using=p["using"],
                with_check=p["with_check"],
            )
            for p in parts["policies"]
        ),
        row_security=r["rls"],
        force_row_security=r["force"],
        options=tuple(r["options"]),
        access_method=r["am"],
        comment=r["comment"],
        column_comments=tuple((c["name"], c["comment"]) for c in parts["columns"] if c["comment"]),
    )


async def _views(
    conn: asyncpg.Connection,
    rows: Sequence[asyncpg.Record],
    by_rel: Mapping[int, dict[str, list[Any]]],
    types: Mapping[int, asyncpg.Record],
    names: _Names,
) -> tuple[View, ...]:
    """Views in an order that creates each after the views it reads."""
    if not rows:
        return ()
    oids = {r["oid"]: r for r in rows}
    deps = await conn.fetch(_VIEW_DEPENDENCIES_SQL, list(oids))
    graph: dict[int, set[int]] = {oid: set() for oid in oids}
    for d in deps:
        if d["uses"] in oids:
            graph[d["view"]].add(d["uses"])
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    order: list[int] = []
    while sorter.is_active():  # ready views by name: the same order every time
        ready = sorted(sorter.get_ready(), key=lambda oid: oids[oid]["name"])
        order += ready
        sorter.done(*ready)
    out = []
    for oid in order:
        r = oids[oid]
        query = await conn.fetchval("SELECT pg_get_viewdef($1::oid)", oid)
        parts = by_rel.get(oid) or {"indexes": [], "triggers": []}
        out.append(
            View(
                name=r["name"],
                materialized=r["kind"] == "m",
                query=str(query),
                options=tuple(r["options"]),
                populated=r["kind"] == "m" and r["populated"],
                indexes=tuple(_index(i, names) for i in parts["indexes"]),
                triggers=tuple(_trigger(t, names) for t in parts["triggers"]),
                comment=r["comment"],
            )
        )
    return tuple(out)


async def _schema_types(
    conn: asyncpg.Connection, nsp: int, uncarried: list[Uncarried]
) -> tuple[tuple[EnumType, ...], tuple[Domain, ...], tuple[CompositeType, ...]]:
    enums, domains, composites = [], [], []
    for r in await conn.fetch(_TYPES_OF_SCHEMA_SQL, nsp):
        if r["kind"] == "e":
            enums.append(EnumType(r["name"], tuple(r["labels"])))
        elif r["kind"] == "d":
            checks = tuple(tuple(json.loads(c)) for c in r["checks"])
            domains.append(
                Domain(
                    name=r["name"],
                    base=r["base"],
                    not_null=r["not_null"],
                    default=r["default"],
                    collation=r["collation"],
                    checks=checks,
                )
            )
        elif r["kind"] == "c":
            if r["relkind"] == "c":  # a table's row type is the table's
                attributes = tuple(tuple(json.loads(a)) for a in r["attributes"])
                composites.append(CompositeType(r["name"], attributes))
        elif r["kind"] in ("b", "r", "p"):
            what = {"b": "base type", "r": "range type", "p": "pseudo-type"}[r["kind"]]
            uncarried.append(Uncarried("type", r["name"], f"a user-defined {what}; not copied"))
    return tuple(enums), tuple(domains), tuple(composites)


async def _functions(
    conn: asyncpg.Connection, nsp: int, names: _Names, uncarried: list[Uncarried]
) -> tuple[tuple[Function, ...], tuple[Aggregate, ...]]:
    functions, aggregates = [], []
    for r in await conn.fetch(_FUNCTIONS_SQL, nsp):
        printed = await conn.fetchval("SELECT quote_ident($1)", r["name"])
        signature = f"{r['name']}({r['arguments']})"
        if r["kind"] == "a":
            if r["aggkind"] != "n" or r["aggextra"]:
                uncarried.append(
                    Uncarried("aggregate", signature, "only plain aggregates are copied")
                )
                continue
            options = [f"SFUNC = {r['sfunc']}", f"STYPE = {r['stype']}"]
            if r["finalfunc"]:
                options.append(f"FINALFUNC = {r['finalfunc']}")
            if r["combinefunc"]:
                options.append(f"COMBINEFUNC = {r['combinefunc']}")
            if r["initcond"] is not None:
                options.append("INITCOND = '" + str(r["initcond"]).replace("'", "''") + "'")
            definition = f"CREATE AGGREGATE {printed}({r['arguments']}) ({', '.join(options)})"
            aggregates.append(Aggregate(r["name"], r["arguments"], definition))
            continue
        keyword = "PROCEDURE" if r["kind"] == "p" else "FUNCTION"
        definition = names.strip_prefix(str(r["definition"]), keyword, f"{printed}(")
        functions.append(Function(r["name"], r["arguments"], definition, r["after_tables"]))
    return tuple(functions), tuple(aggregates)


async def _sequences(conn: asyncpg.Connection, nsp: int) -> tuple[SequenceDef, ...]:
    out = []
    for r in await conn.fetch(_SEQUENCES_SQL, nsp):
        owner = json.loads(r["owner"]) if r["owner"] else None
        out.append(
            SequenceDef(
                name=r["name"],
                data_type=r["data_type"],
                start=r["start"],
                increment=r["increment"],
                minimum=r["minimum"],
                maximum=r["maximum"],
                cache=r["cache"],
                cycle=r["cycle"],
                owned_by=(owner[0], owner[1]) if owner else None,
                identity=owner is not None and owner[2] == "i",
            )
        )
    return tuple(out)
