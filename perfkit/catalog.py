"""The schema as the server built it, read from PostgreSQL's catalogue and fingerprinted.

A snapshot fits a database when the tables it was made for are the tables the database would
have now. perfkit decides that on what PostgreSQL itself holds, not on how the schema was
written: models, a SQL file and a chain of migrations that build the same tables give the same
fingerprint, and any change a load or a query could notice gives another one.

:func:`read_catalog` reads, for each table: its columns in order (name, type as
``format_type`` prints it, NOT NULL, default expression, identity, generated, a collation other
than the default), its constraints (name, kind, ``pg_get_constraintdef``), its other indexes
(name, ``pg_get_indexdef``), and the labels of the ENUM types its columns use. Everything is
read with ``search_path`` set to the tables' schema, so PostgreSQL prints names without that
schema: a staging schema and ``public`` give the same text. Triggers, policies, grants,
comments and storage parameters are not part of it (a bulk load does not use them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from perfkit.sqlnames import quote_ident

#: The whole catalogue in one query, as JSON text (no per-type decoding on a new connection):
#: ``{"tables": [[name, columns, constraints, indexes], ...], "enums": [[name, labels], ...]}``.
_CATALOG_SQL = """
WITH t AS (
    SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
), described AS (
SELECT t.relname AS name,
    (SELECT json_agg(json_build_array(
                a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
                CASE WHEN a.attcollation NOT IN (0, 100) THEN co.collname END)
            ORDER BY a.attnum)
     FROM pg_attribute a
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     LEFT JOIN pg_collation co ON co.oid = a.attcollation
     WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
    (SELECT json_agg(json_build_array(k.conname, k.contype, pg_get_constraintdef(k.oid))
            ORDER BY k.conname)
     FROM pg_constraint k WHERE k.conrelid = t.oid) AS constraints,
    (SELECT json_agg(json_build_array(
                i.relname,
                replace(pg_get_indexdef(x.indexrelid), ' ON ' || quote_ident($1) || '.', ' ON ')
            ) ORDER BY i.relname)
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
     WHERE x.indrelid = t.oid AND NOT EXISTS (
         SELECT FROM pg_constraint k
         WHERE k.conindid = x.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x')
     )) AS indexes
FROM t
), enums AS (
SELECT ty.typname AS name, json_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
FROM pg_type ty JOIN pg_enum e ON e.enumtypid = ty.oid
WHERE ty.oid IN (
    SELECT CASE WHEN u.typcategory = 'A' THEN u.typelem ELSE u.oid END
    FROM pg_attribute a JOIN pg_type u ON u.oid = a.atttypid
    WHERE a.attrelid IN (SELECT oid FROM t) AND a.attnum > 0
)
GROUP BY ty.typname
)
SELECT json_build_object(
    'tables', (SELECT coalesce(json_agg(json_build_array(name, columns, constraints, indexes)),
                               '[]') FROM described),
    'enums', (SELECT coalesce(json_agg(json_build_array(name, labels)), '[]') FROM enums)
)::text
"""


@dataclass(frozen=True)
class Catalog:
    """The catalogue's description of some tables: ``{table: description}`` and ``{enum type:
    labels}``, in a form that compares and hashes the same wherever the tables live."""

    tables: Mapping[str, Mapping[str, Any]]
    enums: Mapping[str, tuple[str, ...]]

    @property
    def fingerprint(self) -> str:
        """16 hex digits: equal for catalogues that describe the same tables."""
        body = {"tables": self.tables, "enums": {k: list(v) for k, v in self.enums.items()}}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def differences(self, other: Catalog) -> list[str]:
        """What differs from ``other``, one short phrase per table or type (empty when equal)."""
        out = []
        for name in sorted(set(self.tables) | set(other.tables)):
            mine, theirs = self.tables.get(name), other.tables.get(name)
            if mine is None or theirs is None:
                out.append(f"table {name} is only in {'the other' if mine is None else 'one'}")
                continue
            for part in ("columns", "constraints", "indexes"):
                a, b = mine.get(part) or [], theirs.get(part) or []
                if a != b:
                    changed = sorted({str(x[0]) for x in a} ^ {str(x[0]) for x in b}) or sorted(
                        str(x[0]) for x, y in zip(a, b, strict=False) if x != y
                    )
                    out.append(f"{name}: {part} differ ({', '.join(changed[:3]) or 'order'})")
        for name in sorted(set(self.enums) | set(other.enums)):
            if self.enums.get(name) != other.enums.get(name):
                out.append(f"enum type {name} differs")
        return out

    def changes_since(self, built: Catalog) -> list[str]:
        """What changed from ``built`` (the tables as they were built) to this catalogue, one
        phrase per object: ``index ix_foo of offices was dropped``, ``column offices.note was
        added``, ``constraint ck_x of staffs was changed``, ``enum type state was changed``."""
        out = []
        kinds = (("columns", "column"), ("constraints", "constraint"), ("indexes", "index"))
        for table in sorted(set(self.tables) | set(built.tables)):
            now, then = self.tables.get(table), built.tables.get(table)
            if now is None or then is None:
                out.append(f"table {table} was {'dropped' if now is None else 'added'}")
                continue
            for part, kind in kinds:
                old = {str(x[0]): x for x in then.get(part) or []}
                new = {str(x[0]): x for x in now.get(part) or []}
                for name in sorted(set(old) | set(new)):
                    label = (
                        f"column {table}.{name}"
                        if kind == "column"
                        else f"{kind} {name} of {table}"
                    )
                    if name not in new:
                        out.append(f"{label} was dropped")
                    elif name not in old:
                        out.append(f"{label} was added")
                    elif old[name] != new[name]:
                        out.append(f"{label} was changed")
                if kind == "column" and list(old) != list(new) and set(old) == set(new):
                    out.append(f"the columns of {table} were reordered")
        for name in sorted(set(self.enums) | set(built.enums)):
            if self.enums.get(name) != built.enums.get(name):
                out.append(f"enum type {name} was changed")
        return out


async def read_catalog(conn: asyncpg.Connection, schema: str, tables: Sequence[str]) -> Catalog:
    """The catalogue of ``tables`` in ``schema``, read in one query (one transaction) on
    ``conn``."""
    async with conn.transaction():  # (a savepoint inside a caller's transaction)
        await conn.execute(f"SET LOCAL search_path = {quote_ident(schema)}, pg_catalog")
        body = json.loads(await conn.fetchval(_CATALOG_SQL, schema, list(tables)))
    found = {
        str(name): {
            "columns": columns or [],
            "constraints": constraints or [],
            "indexes": indexes or [],
        }
        for name, columns, constraints, indexes in body["tables"]
    }
    return Catalog(tables=found, enums={str(name): tuple(labels) for name, labels in body["enums"]})
