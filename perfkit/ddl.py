"""DDL for bulk loaders, derived from the SQLAlchemy models in :mod:`perfkit.schema`.

A bulk load is fastest into bare tables: :func:`create_tables_sql` makes the tables with their
primary keys only; after the rows are in, :func:`post_load_sql` adds everything else (unique
constraints, check constraints, secondary indexes, foreign keys). The result is the schema that
``metadata.create_all`` makes, name for name (a test compares the catalogues), so
:func:`perfkit.schema.schema_fingerprint` stays the single truth.

Every function takes the target schema, so a loader can build a complete copy in a staging
schema and move it into place with :func:`swap_sql` in one transaction: readers see either the
old tables or the new ones, never a half-loaded state. The seeder and snapshot restore share this.
"""

from __future__ import annotations

import functools

from sqlalchemy import CheckConstraint, MetaData, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.schema import AddConstraint, CreateIndex

from perfkit.schema import TABLES, metadata

#: The one-row table describing the dataset a database holds (see ``perfkit.datagen``).
DATASET_TABLE = "perfkit_dataset"

#: Every table a seeded database holds: the application's, parents first, then the metadata.
ALL_TABLES = (*TABLES, DATASET_TABLE)


def _dialect() -> Dialect:
    return postgresql.dialect()  # type: ignore[no-untyped-call]


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier, quoted when it needs to be."""
    return str(_dialect().identifier_preparer.quote(name))


@functools.cache
def _tables(schema: str) -> tuple[Table, ...]:
    """The application's tables re-homed in ``schema`` (foreign keys follow), parents first."""
    target = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(target, schema=schema)
    return tuple(target.tables[f"{schema}.{name}"] for name in TABLES)


@functools.cache
def _create_tables(schema: str) -> tuple[str, ...]:
    dialect = _dialect()
    compiler = dialect.ddl_compiler(dialect, None)  # type: ignore[arg-type]
    out = []
    for table in _tables(schema):
        parts = [compiler.get_column_specification(column) for column in table.columns]
        parts.append(compiler.process(table.primary_key))
        body = ",\n    ".join(parts)
        out.append(f"CREATE TABLE {compiler.preparer.format_table(table)} (\n    {body}\n)")
    return tuple(out)


def create_tables_sql(schema: str = "public") -> list[str]:
    """``CREATE TABLE`` for each application table, parents first: columns (types, defaults,
    NOT NULL) and the primary key only, ready for COPY."""
    return list(_create_tables(schema))


def _compact(stmt: str) -> str:
    return " ".join(stmt.split())


@functools.cache
def _post_load_parts(
    schema: str,
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
    """((table, (constraints and indexes, ...)), ...) and (foreign keys, ...), sorted by name."""
    dialect = _dialect()
    per_table = []
    foreign_keys: list[str] = []
    for table in _tables(schema):
        own = sorted(
            (c for c in table.constraints if isinstance(c, UniqueConstraint | CheckConstraint)),
            key=lambda c: str(c.name),
        )
        stmts = [str(AddConstraint(c).compile(dialect=dialect)) for c in own]
        stmts += [
            str(CreateIndex(index).compile(dialect=dialect))
            for index in sorted(table.indexes, key=lambda i: str(i.name))
        ]
        per_table.append((table.name, tuple(_compact(s) for s in stmts)))
        foreign_keys += [
            _compact(str(AddConstraint(fk).compile(dialect=dialect)))
            for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name))
        ]
    return tuple(per_table), tuple(foreign_keys)


def post_load_sql(schema: str = "public") -> list[str]:
    """What :func:`create_tables_sql` leaves out, to run after the load, in this order:
    unique and check constraints and secondary indexes per table, then every foreign key
    (each foreign-key check reads the referenced table's primary key).

    Run them in order on one connection, or (as the seeder does) the per-table groups of
    :func:`post_load_steps` in parallel and the foreign keys after them.
    """
    per_table, foreign_keys = _post_load_parts(schema)
    return [stmt for _, stmts in per_table for stmt in stmts] + list(foreign_keys)


def post_load_steps(schema: str = "public") -> tuple[dict[str, list[str]], list[str]]:
    """:func:`post_load_sql` split for parallel work: ``({table: [constraints and indexes]},
    [foreign keys])``. Each table's list may run concurrently with the other tables'; the
    foreign keys run after all of them, one at a time (each one locks the table it references,
    so running them concurrently only queues them, or deadlocks)."""
    per_table, foreign_keys = _post_load_parts(schema)
    return {name: list(stmts) for name, stmts in per_table}, list(foreign_keys)


def foreign_keys_by_table(schema: str = "public") -> dict[str, list[str]]:
    """Each table's ``ADD CONSTRAINT ... FOREIGN KEY`` statements (tables without any left
    out). A table's foreign keys can be added as soon as it and :func:`referenced_tables`
    hold all their rows."""
    out: dict[str, list[str]] = {}
    dialect = _dialect()
    for table in _tables(schema):
        fks = sorted(table.foreign_key_constraints, key=lambda c: str(c.name))
        if fks:
            out[table.name] = [
                _compact(str(AddConstraint(fk).compile(dialect=dialect))) for fk in fks
            ]
    return out


def referenced_tables(table: str) -> set[str]:
    """The application tables that ``table``'s foreign keys point at."""
    return {fk.referred_table.name for fk in metadata.tables[table].foreign_key_constraints}


def drop_tables_sql(schema: str = "public", *, include_dataset: bool = True) -> list[str]:
    """One ``DROP TABLE IF EXISTS ... CASCADE`` of the application's tables (and, by default,
    the ``perfkit_dataset`` metadata table) in ``schema``.

    ``CASCADE`` also drops foreign keys that other tables hold on these, so only call it after
    the safety check (:func:`perfkit.safety.ensure_test_database`).
    """
    names = ALL_TABLES if include_dataset else TABLES
    qualified = ", ".join(f"{quote_ident(schema)}.{quote_ident(n)}" for n in reversed(names))
    return [f"DROP TABLE IF EXISTS {qualified} CASCADE"]


def swap_sql(staging: str, target: str = "public", *, replace: bool) -> list[str]:
    """Move every table of :data:`ALL_TABLES` from ``staging`` into ``target`` and drop the
    staging schema; with ``replace``, drop the target's tables first.

    Run the statements in one transaction: the switch is then all or nothing. Indexes and
    constraints move with their tables; foreign keys keep pointing at the moved tables.
    """
    out = drop_tables_sql(target) if replace else []
    out += [
        f"ALTER TABLE {quote_ident(staging)}.{quote_ident(name)} SET SCHEMA {quote_ident(target)}"
        for name in ALL_TABLES
    ]
    out.append(f"DROP SCHEMA {quote_ident(staging)}")
    return out
