"""The application's schema as perfkit builds, loads and swaps it.

An application hands perfkit its SQLAlchemy ``MetaData`` (see :mod:`perfkit.app`); a
:class:`Schema` turns it into what a bulk loader needs. A bulk load is fastest into bare
tables: :meth:`Schema.create_tables_sql` makes the tables with their primary keys only; after
the rows are in, :meth:`Schema.post_load_steps` adds everything else (unique and check
constraints, secondary indexes, foreign keys). The result is the schema that
``metadata.create_all`` makes, name for name (a test compares the catalogues).

Every statement takes the target schema, so a loader can build a complete copy in a staging
schema and move it into place with :meth:`Schema.swap_sql` in one transaction: readers see
either the old tables or the new ones, never a half-loaded state. The seeder and snapshot
restore share this.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DefaultClause,
    Index,
    MetaData,
    Table,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.schema import AddConstraint, CreateIndex

from perfkit.sqlnames import DATASET_TABLE as DATASET_TABLE  # re-exported: its old home
from perfkit.sqlnames import quote_ident as quote_ident


def _dialect() -> Dialect:
    return postgresql.dialect()  # type: ignore[no-untyped-call]


def _compact(stmt: str) -> str:
    return " ".join(stmt.split())


def _index_key(index: Index) -> tuple[bool, tuple[str, ...]]:
    """What identifies an index across copies of its table: unique or not, and its columns
    (or expressions) in order."""
    return bool(index.unique), tuple(str(e) for e in index.expressions)


def _setval_sql(schema: str, table: str, column: str) -> str:
    """Move ``table.column``'s sequence past the loaded ids (the next id is max + 1)."""
    qualified = f"{quote_ident(schema)}.{quote_ident(table)}"
    return (
        f"SELECT setval(pg_get_serial_sequence({_literal(qualified)}, {_literal(column)}), "  # noqa: S608 - identifiers quoted, names are the schema's
        f"coalesce(max({quote_ident(column)}), 0) + 1, false) FROM {qualified}"
    )


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _drop_primary_key_sql(target: str) -> str:
    """Drop the primary key of ``target`` (a quoted, qualified table name) whatever it is
    named: the name is read from the catalogue by the statement itself."""
    # the name goes in as an escaped literal, read as a regclass
    body = (
        "DECLARE pk name; BEGIN "  # noqa: S608
        f"SELECT conname INTO pk FROM pg_constraint WHERE conrelid = {_literal(target)}::regclass "
        "AND contype = 'p'; "
        f"EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {_literal(target)}::regclass, pk); "
        "END"
    )
    tag = "$pk$"
    while tag in body:  # a dollar quote the body does not hold
        tag = f"${tag.strip('$')}x$"
    return f"DO {tag}{body}{tag}"


def _fed_by_sequence(column: Column[Any]) -> bool:
    if column.identity is not None or (column.server_default is None and column.default is None):
        return True
    default = column.server_default
    return isinstance(default, DefaultClause) and "nextval(" in str(getattr(default, "arg", ""))


class SchemaError(ValueError):
    """An application's schema that perfkit cannot load (a bug in its configuration)."""


class Schema:
    """An application's tables, parents first, and the DDL perfkit runs for them.

    ``tables`` picks a subset of the metadata (an application whose whole metadata does not
    build, or holds much the workloads never read); the subset must be closed under foreign
    keys. PostgreSQL ENUM types of those tables are created with them, and integer keys fed by
    a sequence (``SERIAL``) get their sequence set past the loaded ids.
    """

    def __init__(self, metadata: MetaData, *, tables: Sequence[str] | None = None) -> None:
        self.metadata = metadata
        chosen = [t for t in metadata.sorted_tables if tables is None or t.name in tables]
        if tables is not None:
            missing = sorted(set(tables) - {t.name for t in chosen})
            if missing:
                raise SchemaError(f"the metadata has no table(s) {', '.join(missing)}")
            names = {t.name for t in chosen}
            outside = sorted(
                f"{t.name}.{fk.parent.name} -> {fk.column.table.name}"
                for t in chosen
                for fk in t.foreign_keys
                if fk.column.table.name not in names
            )
            if outside:
                raise SchemaError(
                    "the chosen tables are not closed under foreign keys: " + ", ".join(outside)
                )
        self._chosen: tuple[Table, ...] = tuple(chosen)
        #: The application's tables in dependency order (parents first).
        self.tables: tuple[str, ...] = tuple(t.name for t in chosen)
        #: Every table a seeded database holds: the application's, then the metadata table.
        self.all_tables: tuple[str, ...] = (*self.tables, DATASET_TABLE)
        self._fingerprint: Callable[[], str] | None = None

    def __repr__(self) -> str:
        return f"Schema({', '.join(self.tables)})"

    # -- identity -------------------------------------------------------------------------------

    def bind_fingerprint(self, compute: Callable[[], str]) -> None:
        """Say how :attr:`fingerprint` is found (:func:`perfkit.loading.load_application` binds
        :func:`perfkit.schema_source.schema_fingerprint`)."""
        self._fingerprint = compute

    @property
    def fingerprint(self) -> str:
        """16 hex digits read from the catalogue of these tables as PostgreSQL builds them
        (:mod:`perfkit.catalog`): equal fingerprints mean data fits the schema. The first use
        in a process may build the tables in a scratch database (see
        :mod:`perfkit.schema_source`)."""
        if self._fingerprint is None:
            raise RuntimeError("Schema.fingerprint: no way to build the schema was bound")
        return self._fingerprint()

    @functools.cached_property
    def digest(self) -> str:
        """A hash of the DDL perfkit runs for these tables: equal digests build equal
        catalogues on one server (a memo key; the fingerprint itself is read from the
        catalogue, see :mod:`perfkit.catalog`)."""
        statements = [
            *self.create_types_sql("public"),
            *self.create_tables_sql("public"),
            *self.post_load_sql("public"),
        ]
        normalized = "\n".join(_compact(stmt) for stmt in statements)
        return hashlib.sha256(normalized.encode()).hexdigest()[:16]

    # -- bulk-load DDL --------------------------------------------------------------------------

    @functools.cache  # noqa: B019 - one Schema per application, kept for the process
    def _tables(self, schema: str) -> tuple[Table, ...]:
        """The tables re-homed in ``schema`` (foreign keys follow), parents first."""
        target = MetaData(naming_convention=self.metadata.naming_convention)
        for table in self._chosen:
            copy = table.to_metadata(target, schema=schema)
            for column in copy.columns:  # the table's ENUM types live beside it
                if isinstance(column.type, SAEnum) and column.type.native_enum:
                    column.type.schema = schema
            # Indexes named by convention are renamed for the new schema by SQLAlchemy
            # (ix_<schema>_<table>_<column>); keep the names the application's own DDL gives.
            names = {_index_key(ix): ix.name for ix in table.indexes}
            for ix in copy.indexes:
                original = names.get(_index_key(ix))
                if original is not None:
                    ix.name = original
        return tuple(target.tables[f"{schema}.{name}"] for name in self.tables)

    @functools.cached_property
    def enum_types(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(type name, labels) of every native ENUM type the tables use, by name."""
        found: dict[str, tuple[str, ...]] = {}
        for table in self._chosen:
            for column in table.columns:
                kind = column.type
                if isinstance(kind, SAEnum) and kind.native_enum and kind.name:
                    found[kind.name] = tuple(kind.enums)
        return tuple(sorted(found.items()))

    def create_types_sql(self, schema: str = "public") -> list[str]:
        """``CREATE TYPE ... AS ENUM`` for the tables' ENUM types, in ``schema``."""
        return [
            f"CREATE TYPE {quote_ident(schema)}.{quote_ident(name)} AS ENUM ("
            + ", ".join(_literal(label) for label in labels)
            + ")"
            for name, labels in self.enum_types
        ]

    @functools.cached_property
    def serial_columns(self) -> tuple[tuple[str, str], ...]:
        """(table, column) of every integer key fed by a sequence (``SERIAL``, an identity, or
        a ``nextval`` default read back from a database)."""
        return tuple(
            (table.name, column.name)
            for table in self._chosen
            if (column := table._autoincrement_column) is not None and _fed_by_sequence(column)
        )

    @functools.cache  # noqa: B019
    def _create_tables(self, schema: str) -> tuple[str, ...]:
        dialect = _dialect()
        compiler = dialect.ddl_compiler(dialect, None)  # type: ignore[arg-type]
        out = []
        for table in self._tables(schema):
            parts = [compiler.get_column_specification(column) for column in table.columns]
            if table.primary_key.columns:  # a table read back from a database may have none
                parts.append(compiler.process(table.primary_key))
            body = ",\n    ".join(parts)
            out.append(f"CREATE TABLE {compiler.preparer.format_table(table)} (\n    {body}\n)")
        return tuple(out)

    def create_tables_sql(self, schema: str = "public") -> list[str]:
        """``CREATE TABLE`` for each table, parents first: columns (types, defaults, NOT NULL)
        and the primary key only, ready for COPY."""
        return list(self._create_tables(schema))

    def primary_keys(self, schema: str = "public") -> dict[str, tuple[str, str]]:
        """Table -> (what drops its primary key, what adds it again), for the tables as
        :meth:`create_tables_sql` makes them in ``schema`` (tables without one left out).

        A bulk load drops each primary key from the bare table and adds it after the rows, as
        ``pg_restore`` does: one sorted build instead of an index insert per row (random UUID
        keys made a seed of 1.5 M rows spend most of its server time there). The key comes
        back as ``CREATE TABLE`` gives it (its name, ``DEFERRABLE``...); the drop reads the
        key's name from the catalogue, so a name PostgreSQL chose is dropped too.
        """
        return dict(self._primary_keys(schema))

    @functools.cache  # noqa: B019 - one Schema per application, kept for the process
    def _primary_keys(self, schema: str) -> tuple[tuple[str, tuple[str, str]], ...]:
        """:meth:`primary_keys`, compiled once per schema."""
        dialect = _dialect()
        compiler = dialect.ddl_compiler(dialect, None)  # type: ignore[arg-type]
        out = []
        for table in self._tables(schema):
            if not table.primary_key.columns:  # a table read back from a database may have none
                continue
            clause = compiler.process(table.primary_key)
            target = compiler.preparer.format_table(table)
            drop, add = _drop_primary_key_sql(target), f"ALTER TABLE {target} ADD {clause}"
            out.append((table.name, (drop, add)))
        return tuple(out)

    @functools.cache  # noqa: B019
    def _post_load_parts(
        self, schema: str
    ) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
        """((table, (constraints and indexes, ...)), ...) and (foreign keys, ...), by name."""
        dialect = _dialect()
        per_table = []
        foreign_keys: list[str] = []
        for table in self._tables(schema):
            # Sorted by their text, not by name: unnamed constraints (no naming convention)
            # would otherwise come in set order, which changes from one process to the next.
            own = (
                c for c in table.constraints if isinstance(c, UniqueConstraint | CheckConstraint)
            )
            stmts = sorted(str(AddConstraint(c).compile(dialect=dialect)) for c in own)
            stmts += sorted(
                str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes
            )
            stmts += [
                _setval_sql(schema, table.name, column)
                for name, column in self.serial_columns
                if name == table.name
            ]
            per_table.append((table.name, tuple(_compact(s) for s in stmts)))
            foreign_keys += self._foreign_keys(table)
        return tuple(per_table), tuple(foreign_keys)

    @staticmethod
    def _foreign_keys(table: Table) -> list[str]:
        dialect = _dialect()
        fks = table.foreign_key_constraints
        return sorted(_compact(str(AddConstraint(fk).compile(dialect=dialect))) for fk in fks)

    def post_load_sql(self, schema: str = "public") -> list[str]:
        """What :meth:`create_tables_sql` leaves out, to run after the load, in this order:
        unique and check constraints and secondary indexes per table, then every foreign key."""
        per_table, foreign_keys = self._post_load_parts(schema)
        return [stmt for _, stmts in per_table for stmt in stmts] + list(foreign_keys)

    def post_load_steps(self, schema: str = "public") -> tuple[dict[str, list[str]], list[str]]:
        """:meth:`post_load_sql` split for parallel work: ``({table: [constraints and
        indexes]}, [foreign keys])``. Each table's list may run concurrently with the others';
        the foreign keys run after them, one at a time (each locks the table it references)."""
        per_table, foreign_keys = self._post_load_parts(schema)
        return {name: list(stmts) for name, stmts in per_table}, list(foreign_keys)

    def foreign_keys_by_table(self, schema: str = "public") -> dict[str, list[str]]:
        """Each table's ``ADD CONSTRAINT ... FOREIGN KEY`` statements (tables without any left
        out): they can run once the table and :meth:`referenced_tables` hold all their rows."""
        return {t.name: fks for t in self._tables(schema) if (fks := self._foreign_keys(t))}

    def referenced_tables(self, table: str) -> set[str]:
        """The application tables that ``table``'s foreign keys point at."""
        fks = self.metadata.tables[table].foreign_key_constraints
        return {fk.referred_table.name for fk in fks}

    def drop_tables_sql(self, schema: str = "public", *, include_dataset: bool = True) -> list[str]:
        """One ``DROP TABLE IF EXISTS ... CASCADE`` of the tables (and, by default, the
        ``perfkit_dataset`` metadata table) in ``schema``.

        ``CASCADE`` also drops foreign keys that other tables hold on these, so only call it
        after the safety check (:func:`perfkit.safety.ensure_test_database`).
        """
        from perfkit.schema_record import drop_tables_sql

        names = self.all_tables if include_dataset else self.tables
        return drop_tables_sql(schema, names, tuple(n for n, _ in self.enum_types))

    def swap_sql(self, staging: str, target: str = "public", *, replace: bool) -> list[str]:
        """Move every table of :attr:`all_tables` from ``staging`` into ``target`` and drop the
        staging schema; with ``replace``, drop the target's tables first.

        Run the statements in one transaction: the switch is then all or nothing.
        """
        out = self.drop_tables_sql(target) if replace else []
        for name, _labels in self.enum_types:  # the new tables' types replace the old ones
            out.append(
                f"ALTER TYPE {quote_ident(staging)}.{quote_ident(name)} "
                f"SET SCHEMA {quote_ident(target)}"
            )
        out += [
            f"ALTER TABLE {quote_ident(staging)}.{quote_ident(name)} "
            f"SET SCHEMA {quote_ident(target)}"
            for name in self.all_tables
        ]
        out.append(f"DROP SCHEMA {quote_ident(staging)}")
        return out
