"""What the catalogue says about a schema, as frozen dataclasses (see :mod:`perfkit.ddl`).

Every definition is the text PostgreSQL itself printed (``pg_get_constraintdef``,
``pg_get_indexdef``, ``pg_get_triggerdef``, ``pg_get_functiondef``, ``pg_get_viewdef``,
``pg_get_expr``, ``format_type``), read with the captured schema first on ``search_path`` and
the schema's own name taken out, so a capture of the same tables reads alike in ``public`` and
in a staging schema. :attr:`Capture.fingerprint` hashes all of it: tables, columns,
constraints, indexes, triggers, policies, types, functions, views and sequences.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from perfkit.errors import PerfkitError


@dataclass(frozen=True)
class Extension:
    """An extension of the database: ``schema`` is where it lives; empty when that is the
    captured schema itself (it is then installed beside the tables' final home)."""

    name: str
    schema: str
    version: str


@dataclass(frozen=True)
class EnumType:
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Domain:
    name: str
    #: The base type as ``format_type`` prints it, e.g. ``integer`` or ``character varying(8)``.
    base: str
    not_null: bool
    default: str | None
    #: ``COLLATE`` clause text when it is not the base type's, else None.
    collation: str | None
    #: (name, ``pg_get_constraintdef``) of each CHECK, by name.
    checks: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CompositeType:
    name: str
    #: (attribute, type) in order.
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SequenceDef:
    name: str
    data_type: str
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool
    #: (table, column) that owns it (``SERIAL``, ``OWNED BY``), else None.
    owned_by: tuple[str, str] | None = None
    #: True for an identity column's own sequence (made by the column, not on its own).
    identity: bool = False


@dataclass(frozen=True)
class ColumnType:
    """A column's type as inference needs it: domains resolved to their base."""

    #: ``format_type(atttypid, atttypmod)``, e.g. ``numeric(5,2)`` or ``mpaa_rating``.
    sql: str
    #: The base type's internal name (domains resolved): ``int4``, ``varchar``, ``_text``...
    base: str
    #: The base type's ``typcategory`` (``N`` numeric, ``S`` string, ``A`` array, ``E`` enum..).
    category: str
    #: The type modifier in force (the column's, else the innermost domain's), -1 for none.
    typmod: int = -1
    #: For arrays: the element type's internal name and category.
    element: str | None = None
    element_category: str | None = None
    #: The domains the column's type goes through, outermost first.
    domains: tuple[str, ...] = ()
    #: The labels of the ENUM type the column (or its array's element) holds.
    labels: tuple[str, ...] | None = None
    #: The CHECK definitions of those domains (``VALUE`` stands for the column).
    domain_checks: tuple[str, ...] = ()
    #: A domain along the way is NOT NULL.
    domain_not_null: bool = False
    #: The innermost domain's default, when the column has none of its own.
    domain_default: str | None = None


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    not_null: bool
    default: str | None = None
    #: ``a`` (ALWAYS) or ``d`` (BY DEFAULT) for an identity column, else empty.
    identity: str = ""
    #: ``s`` for a stored generated column (``default`` is then its expression), else empty.
    generated: str = ""
    #: ``COLLATE`` clause text when the column's collation is not its type's default.
    collation: str | None = None
    #: The sequence its default (``nextval``) or identity draws from.
    sequence: str | None = None
    #: ``attstattarget`` when set (``ALTER COLUMN ... SET STATISTICS``), else -1.
    statistics: int = -1

    @property
    def fed_by_sequence(self) -> bool:
        return self.sequence is not None

    @property
    def required(self) -> bool:
        """NOT NULL, by the column or by its domain."""
        return self.not_null or self.type.domain_not_null


@dataclass(frozen=True)
class Constraint:
    name: str
    #: ``p`` primary key, ``u`` unique, ``c`` check, ``f`` foreign key, ``x`` exclusion,
    #: ``t`` constraint trigger.
    kind: str
    #: ``pg_get_constraintdef``.
    definition: str
    columns: tuple[str, ...] = ()
    deferrable: bool = False
    deferred: bool = False
    validated: bool = True
    #: Foreign keys: the table and columns referenced.
    references: str | None = None
    ref_columns: tuple[str, ...] = ()
    #: The index behind a primary key, unique or exclusion constraint.
    index: str | None = None
    #: A partition's copy of its parent's constraint: the parent's index to attach to
    #: (primary key, unique, exclusion), or "" for one the parent makes by itself.
    parent_index: str | None = None


@dataclass(frozen=True)
class Index:
    """An index that backs no constraint."""

    name: str
    #: ``pg_get_indexdef`` with the table's schema taken out.
    definition: str
    unique: bool
    #: Each key as ``pg_get_indexdef(index, k, true)`` prints it: a column name or an
    #: expression.
    keys: tuple[str, ...]
    #: Each key's column name, None for an expression.
    key_columns: tuple[str | None, ...]
    #: The partial index's WHERE clause, else None.
    predicate: str | None = None
    #: The partitioned parent index this partition's index is attached to.
    parent: str | None = None
    clustered: bool = False


@dataclass(frozen=True)
class Trigger:
    name: str
    #: ``pg_get_triggerdef`` with the table's schema taken out.
    definition: str
    #: ``O`` enabled, ``D`` disabled, ``R`` replica, ``A`` always.
    enabled: str = "O"


@dataclass(frozen=True)
class Policy:
    name: str
    #: ``ALL``, ``SELECT``, ``INSERT``, ``UPDATE`` or ``DELETE``.
    command: str
    permissive: bool
    roles: tuple[str, ...]
    using: str | None
    with_check: str | None


@dataclass(frozen=True)
class Table:
    name: str
    #: ``r`` ordinary or ``p`` partitioned.
    kind: str
    columns: tuple[Column, ...]
    unlogged: bool = False
    #: ``pg_get_partkeydef`` of a partitioned table.
    partition_key: str | None = None
    #: A partition's parent and bound (``pg_get_expr(relpartbound)``).
    partition_of: str | None = None
    partition_bound: str | None = None
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    policies: tuple[Policy, ...] = ()
    row_security: bool = False
    force_row_security: bool = False
    #: Storage parameters (``reloptions``), e.g. ``fillfactor=70``.
    options: tuple[str, ...] = ()
    access_method: str | None = None
    comment: str | None = None
    #: (column, comment) of commented columns.
    column_comments: tuple[tuple[str, str], ...] = ()

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def foreign_keys(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.kind == "f")

    @property
    def is_partition(self) -> bool:
        return self.partition_of is not None


@dataclass(frozen=True)
class Function:
    """A function or procedure of the schema (not an extension's)."""

    name: str
    #: ``pg_get_function_identity_arguments``.
    arguments: str
    #: ``pg_get_functiondef`` with the schema taken out of its name.
    definition: str
    #: Its signature names a table's row type: it is created after the tables.
    after_tables: bool = False


@dataclass(frozen=True)
class Aggregate:
    name: str
    arguments: str
    #: ``CREATE AGGREGATE`` built from ``pg_aggregate`` (plain aggregates only).
    definition: str


@dataclass(frozen=True)
class View:
    name: str
    materialized: bool
    #: ``pg_get_viewdef``.
    query: str
    options: tuple[str, ...] = ()
    #: A materialized view that held data (it is refreshed after the load).
    populated: bool = False
    indexes: tuple[Index, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    comment: str | None = None


@dataclass(frozen=True)
class Statistics:
    name: str
    #: ``pg_get_statisticsobjdef`` with the schema taken out.
    definition: str


@dataclass(frozen=True)
class Uncarried:
    """Something the capture saw but cannot rebuild: ``kind`` and ``name`` name it,
    ``reason`` says why."""

    kind: str
    name: str
    reason: str

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.reason}"


class UncarriedError(PerfkitError):
    """The schema holds objects perfkit cannot carry over (exit status 2); ``objects`` lists
    them as (kind, name, reason). The caller may choose to go on without them."""

    exit_code = 2

    def __init__(self, objects: Sequence[Uncarried]) -> None:
        first = objects[0]
        more = f" and {len(objects) - 1} more" if len(objects) > 1 else ""
        super().__init__(
            f"perfkit cannot carry over {first.line()}{more}",
            hint="change the schema, or say to skip what cannot be carried over "
            "(the rest is rebuilt exactly)",
        )
        self.objects = tuple((o.kind, o.name, o.reason) for o in objects)


class CaptureError(PerfkitError):
    """The tables asked for cannot be captured (exit status 2). ``problem`` is
    ``missing_table`` (not in the schema) or ``not_closed`` (a foreign key leaves the list);
    ``names`` lists what is meant."""

    exit_code = 2

    def __init__(self, message: str, *, problem: str, names: Sequence[str], hint: str) -> None:
        super().__init__(message, hint=hint)
        self.problem = problem
        self.names = tuple(names)


@dataclass(frozen=True)
class Capture:
    """A schema as the catalogue describes it (see the module docstring)."""

    #: The schema it was read from (not part of the fingerprint).
    schema: str
    extensions: tuple[Extension, ...] = ()
    enums: tuple[EnumType, ...] = ()
    domains: tuple[Domain, ...] = ()
    composites: tuple[CompositeType, ...] = ()
    sequences: tuple[SequenceDef, ...] = ()
    functions: tuple[Function, ...] = ()
    aggregates: tuple[Aggregate, ...] = ()
    #: Tables and partitions by name (partitions after their parents when built).
    tables: tuple[Table, ...] = ()
    #: Views in an order that creates each after those it reads.
    views: tuple[View, ...] = ()
    statistics: tuple[Statistics, ...] = ()
    uncarried: tuple[Uncarried, ...] = ()

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    @property
    def data_tables(self) -> tuple[Table, ...]:
        """The tables rows are generated for: every table but partitions (their rows go
        through the partitioned parent)."""
        return tuple(t for t in self.tables if not t.is_partition)

    def partitions(self, parent: str) -> tuple[Table, ...]:
        return tuple(t for t in self.tables if t.partition_of == parent)

    def as_json(self) -> dict[str, Any]:
        """Everything but :attr:`schema`, as plain JSON values."""
        body = dataclasses.asdict(self)
        body.pop("schema")
        return body

    def to_text(self) -> str:
        """:meth:`as_json` as compact JSON text (keys sorted): :meth:`from_text` reads it."""
        return json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str | bytes, *, schema: str = "public") -> Capture:
        """A capture written by :meth:`to_text`, read from ``schema``; ``ValueError`` when it
        is not one (the fingerprint is the caller's to check)."""
        try:
            body = json.loads(text)
            return msgspec.convert({**body, "schema": schema}, cls)
        except (msgspec.ValidationError, TypeError, RecursionError) as exc:
            raise ValueError(str(exc)[:200]) from None

    @property
    def fingerprint(self) -> str:
        """16 hex digits: equal for captures of the same schema, wherever it lives."""
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def require_carried(self, *, skip_uncarried: bool = False) -> None:
        """Raise :class:`UncarriedError` when something cannot be carried over, unless
        ``skip_uncarried``."""
        if self.uncarried and not skip_uncarried:
            raise UncarriedError(self.uncarried)
