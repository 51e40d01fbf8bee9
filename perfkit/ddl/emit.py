"""The DDL that rebuilds a :class:`~perfkit.ddl.model.Capture` in a schema, split for a bulk
load.

:func:`bare_sql` makes what rows need: extensions, types, domains, sequences, functions,
tables with their columns (types, collations, defaults, NOT NULL, identity, generated),
partitions attached to their parents, views, comments. No constraint, index or trigger.

:func:`post_load` gives the rest, replayed from the captured definitions as they are:
per table, its primary key, unique, check and exclusion constraints and its indexes (a
partitioned table's with ``ONLY``, its partitions' own, then attached, as ``pg_dump`` does);
the foreign keys; and, once every table is in, triggers (so none fires during the load),
row-level security and policies, extended statistics, materialized views refreshed and
indexed, sequences moved past the loaded values.

Every statement runs with :func:`search_path_sql` in force: the captured definitions name
the schema's objects without their schema, so they land where the path points first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from perfkit.ddl.model import Capture, Column, SequenceDef, Table, Trigger
from perfkit.sqlnames import quote_ident

_ENABLE = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def extension_schema(capture: Capture, home: str) -> dict[str, str]:
    """Each extension's schema when rebuilt: its own, or ``home`` (the tables' final schema)
    for one that lived in the captured schema itself."""
    return {e.name: e.schema or home for e in capture.extensions}


def search_path_sql(capture: Capture, target: str, *, home: str | None = None) -> str:
    """The ``SET search_path`` every statement of :func:`bare_sql` and :func:`post_load` runs
    under: ``target`` first, then the extensions' schemas."""
    schemas = [target]
    for schema in sorted(set(extension_schema(capture, home or target).values())):
        if schema not in schemas:
            schemas.append(schema)
    return "SET search_path = " + ", ".join(quote_ident(s) for s in [*schemas, "pg_catalog"])


def _q(target: str, name: str) -> str:
    return f"{quote_ident(target)}.{quote_ident(name)}"


def _sequence_options(seq: SequenceDef) -> str:
    return (
        f"AS {seq.data_type} INCREMENT BY {seq.increment} MINVALUE {seq.minimum} "
        f"MAXVALUE {seq.maximum} START WITH {seq.start} CACHE {seq.cache}"
        + (" CYCLE" if seq.cycle else " NO CYCLE")
    )


def _column_sql(column: Column, identity: Mapping[tuple[str, str], SequenceDef], table: str) -> str:
    parts = [quote_ident(column.name), column.type.sql]
    if column.collation:
        parts.append(f"COLLATE {column.collation}")
    if column.generated == "s":
        parts.append(f"GENERATED ALWAYS AS ({column.default}) STORED")
    elif column.identity:
        how = "ALWAYS" if column.identity == "a" else "BY DEFAULT"
        seq = identity.get((table, column.name))
        options = "" if seq is None else f" (SEQUENCE NAME {quote_ident(seq.name)} "
        if seq is not None:
            options += _sequence_options(seq).removeprefix(f"AS {seq.data_type} ") + ")"
        parts.append(f"GENERATED {how} AS IDENTITY{options}")
    elif column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.not_null:
        parts.append("NOT NULL")
    return " ".join(parts)


def _create_table(
    table: Table, target: str, identity: Mapping[tuple[str, str], SequenceDef]
) -> str:
    body = ",\n    ".join(_column_sql(c, identity, table.name) for c in table.columns)
    unlogged = "UNLOGGED " if table.unlogged else ""
    stmt = f"CREATE {unlogged}TABLE {_q(target, table.name)} (\n    {body}\n)"
    if table.partition_key:
        stmt += f" PARTITION BY {table.partition_key}"
    if table.access_method:
        stmt += f" USING {quote_ident(table.access_method)}"
    if table.options:
        stmt += f" WITH ({', '.join(table.options)})"
    return stmt


def _tables_in_order(capture: Capture) -> list[Table]:
    """Tables with every partition after its parent."""
    done: set[str] = set()
    out: list[Table] = []
    pending = list(capture.tables)
    while pending:
        rest = []
        for table in pending:
            if table.partition_of is None or table.partition_of in done:
                out.append(table)
                done.add(table.name)
            else:
                rest.append(table)
        if len(rest) == len(pending):  # a parent outside the capture: cannot happen
            out += rest
            break
        pending = rest
    return out


def bare_sql(capture: Capture, *, target: str, home: str | None = None) -> list[str]:
    """The statements that build ``capture``'s objects in schema ``target`` without any
    constraint, index or trigger (see the module docstring). ``home`` is the schema the
    tables end up in (default ``target``): extensions of the captured schema go there.
    ``target`` must exist."""
    out = [search_path_sql(capture, target, home=home)]
    homes = extension_schema(capture, home or target)
    out += [f"CREATE SCHEMA IF NOT EXISTS {quote_ident(s)}" for s in sorted(set(homes.values()))]
    for ext in capture.extensions:
        schema = homes[ext.name]
        out.append(
            f"CREATE EXTENSION IF NOT EXISTS {quote_ident(ext.name)} WITH SCHEMA "
            f"{quote_ident(schema)} VERSION {_literal(ext.version)}"
        )
    for enum in capture.enums:
        labels = ", ".join(_literal(label) for label in enum.labels)
        out.append(f"CREATE TYPE {_q(target, enum.name)} AS ENUM ({labels})")
    for domain in capture.domains:
        stmt = f"CREATE DOMAIN {_q(target, domain.name)} AS {domain.base}"
        if domain.collation:
            stmt += f" COLLATE {domain.collation}"
        if domain.default is not None:
            stmt += f" DEFAULT {domain.default}"
        if domain.not_null:
            stmt += " NOT NULL"
        stmt += "".join(f" CONSTRAINT {quote_ident(n)} {d}" for n, d in domain.checks)
        out.append(stmt)
    for composite in capture.composites:
        attributes = ", ".join(f"{quote_ident(n)} {t}" for n, t in composite.attributes)
        out.append(f"CREATE TYPE {_q(target, composite.name)} AS ({attributes})")
    out.append("SET check_function_bodies = false")
    out += [f.definition for f in capture.functions if not f.after_tables]
    identity = {seq.owned_by: seq for seq in capture.sequences if seq.identity and seq.owned_by}
    out += [
        f"CREATE SEQUENCE {_q(target, seq.name)} {_sequence_options(seq)}"
        for seq in capture.sequences
        if not seq.identity
    ]
    for table in _tables_in_order(capture):
        out.append(_create_table(table, target, identity))
        if table.partition_of is not None:
            out.append(
                f"ALTER TABLE {_q(target, table.partition_of)} ATTACH PARTITION "
                f"{_q(target, table.name)} {table.partition_bound}"
            )
        out += [
            f"ALTER TABLE {_q(target, table.name)} ALTER COLUMN {quote_ident(c.name)} "
            f"SET STATISTICS {c.statistics}"
            for c in table.columns
            if c.statistics >= 0
        ]
    out += [
        f"ALTER SEQUENCE {_q(target, seq.name)} OWNED BY "
        f"{_q(target, seq.owned_by[0])}.{quote_ident(seq.owned_by[1])}"
        for seq in capture.sequences
        if seq.owned_by and not seq.identity
    ]
    out += [f.definition for f in capture.functions if f.after_tables]
    out += [a.definition for a in capture.aggregates]
    for view in capture.views:
        kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
        options = f" WITH ({', '.join(view.options)})" if view.options else ""
        query = view.query.strip().removesuffix(";")
        tail = " WITH NO DATA" if view.materialized else ""
        out.append(f"CREATE {kind} {_q(target, view.name)}{options} AS {query}{tail}")
    out += _comments(capture, target)
    return out


def _comments(capture: Capture, target: str) -> list[str]:
    out = []
    for table in capture.tables:
        if table.comment is not None:
            out.append(f"COMMENT ON TABLE {_q(target, table.name)} IS {_literal(table.comment)}")
        out += [
            f"COMMENT ON COLUMN {_q(target, table.name)}.{quote_ident(column)} IS {_literal(text)}"
            for column, text in table.column_comments
        ]
    for view in capture.views:
        if view.comment is not None:
            kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
            out.append(f"COMMENT ON {kind} {_q(target, view.name)} IS {_literal(view.comment)}")
    return out


@dataclass(frozen=True)
class PostLoad:
    """What :func:`bare_sql` leaves out, split for parallel work (see the module docstring).

    Run :attr:`search_path` on each connection first. Each table's :attr:`per_table` list may
    run once its rows are in, concurrently with other tables'; its :attr:`foreign_keys` once
    the tables of :attr:`references` hold theirs too (one table's at a time: each locks the
    tables it references; they are added ``NOT VALID`` where PostgreSQL allows, which checks
    no row); then its :attr:`validations`, which check the rows and may run concurrently with
    anything but the same table's other steps; :attr:`after` last, on one connection.
    """

    search_path: str
    #: Data table (partitioned parents stand for their partitions) -> constraints and indexes.
    per_table: Mapping[str, tuple[str, ...]]
    #: :attr:`per_table` in pieces: the first (a partitioned table's own) runs before the
    #: others, which may run concurrently (each physical table's constraints; each index);
    #: :attr:`attaches` after them all.
    pieces: Mapping[str, tuple[tuple[str, ...], ...]]
    #: Data table -> the statements attaching its partitions' indexes to its own.
    attaches: Mapping[str, tuple[str, ...]]
    #: Data table -> its foreign keys (and its partitions').
    foreign_keys: Mapping[str, tuple[str, ...]]
    #: Data table -> the ``VALIDATE CONSTRAINT`` of each foreign key added ``NOT VALID``.
    validations: Mapping[str, tuple[str, ...]]
    #: Data table -> the data tables its foreign keys reference (itself left out).
    references: Mapping[str, frozenset[str]]
    #: Triggers, row-level security, policies, statistics, materialized views, sequences.
    after: tuple[str, ...]

    def statements(self) -> list[str]:
        """Everything, in an order that runs on one connection."""
        out = [self.search_path]
        for stmts in self.per_table.values():
            out += stmts
        for stmts in self.foreign_keys.values():
            out += stmts
        for stmts in self.validations.values():
            out += stmts
        return out + list(self.after)


def data_table(capture: Capture, name: str) -> str:
    """The table whose rows ``name`` holds: a partition's topmost parent, else itself."""
    by_name = {t.name: t for t in capture.tables}
    table = by_name.get(name)
    while table is not None and table.partition_of is not None:
        name = table.partition_of
        table = by_name.get(name)
    return name


def _own_constraints_and_indexes(table: Table, target: str) -> tuple[list[list[str]], list[str]]:
    """(``table``'s own constraints and indexes, in pieces that may run concurrently: its
    constraints, then each index; statements attaching them to its parent's)."""
    only = "ONLY " if table.kind == "p" else ""
    make: list[str] = []
    indexes: list[list[str]] = []
    attach: list[str] = []
    for k in table.constraints:
        if k.kind not in ("p", "u", "x", "c"):
            continue
        if k.parent_index == "":  # made by the parent's own constraint
            continue
        if k.kind == "c" and k.parent_index is not None:
            continue
        keep_only = only if k.kind != "c" else ""
        make.append(
            f"ALTER TABLE {keep_only}{_q(target, table.name)} ADD CONSTRAINT "
            f"{quote_ident(k.name)} {k.definition}"
        )
        if k.parent_index:
            attach.append(
                f"ALTER INDEX {_q(target, k.parent_index)} ATTACH PARTITION "
                f"{_q(target, k.index or k.name)}"
            )
    for index in table.indexes:
        piece = [index.definition]
        if index.parent:
            attach.append(
                f"ALTER INDEX {_q(target, index.parent)} ATTACH PARTITION {_q(target, index.name)}"
            )
        if index.clustered:
            piece.append(
                f"ALTER TABLE {_q(target, table.name)} CLUSTER ON {quote_ident(index.name)}"
            )
        indexes.append(piece)
    return [make, *indexes] if make else indexes, attach


def post_load(capture: Capture, *, target: str, home: str | None = None) -> PostLoad:
    """The post-load statements of ``capture`` built in ``target`` (see :class:`PostLoad`)."""
    first: dict[str, list[str]] = {}
    pieces: dict[str, list[tuple[str, ...]]] = {}
    attaches: dict[str, list[str]] = {}
    foreign_keys: dict[str, list[str]] = {}
    validations: dict[str, list[str]] = {}
    references: dict[str, set[str]] = {}
    for table in _tables_in_order(capture):
        owner = data_table(capture, table.name)
        made, attach = _own_constraints_and_indexes(table, target)
        if table.kind == "p":  # a partitioned table's own (no rows: quick), before the rest
            first.setdefault(owner, []).extend(s for piece in made for s in piece)
        else:
            pieces.setdefault(owner, []).extend(tuple(piece) for piece in made)
        attaches.setdefault(owner, []).extend(attach)
        for fk in table.foreign_keys:
            if fk.parent_index == "":  # a partition's copy of its parent's foreign key
                continue
            add = (
                f"ALTER TABLE {_q(target, table.name)} ADD CONSTRAINT {quote_ident(fk.name)} "
                f"{fk.definition}"
            )
            # Checked later, in parallel: NOT VALID then VALIDATE ends as the one statement
            # would (PostgreSQL 15 takes no NOT VALID foreign key on a partitioned table).
            if fk.validated and table.kind != "p":
                add += " NOT VALID"
                validations.setdefault(owner, []).append(
                    f"ALTER TABLE {_q(target, table.name)} VALIDATE CONSTRAINT "
                    f"{quote_ident(fk.name)}"
                )
            foreign_keys.setdefault(owner, []).append(add)
            if fk.references is not None:
                references.setdefault(owner, set()).add(data_table(capture, fk.references))
    after: list[str] = []
    for table in _tables_in_order(capture):
        after += _triggers(table.name, table.triggers, target)
        if table.row_security:
            after.append(f"ALTER TABLE {_q(target, table.name)} ENABLE ROW LEVEL SECURITY")
        if table.force_row_security:
            after.append(f"ALTER TABLE {_q(target, table.name)} FORCE ROW LEVEL SECURITY")
        for p in table.policies:
            stmt = (
                f"CREATE POLICY {quote_ident(p.name)} ON {_q(target, table.name)} AS "
                f"{'PERMISSIVE' if p.permissive else 'RESTRICTIVE'} FOR {p.command} "
                f"TO {', '.join(p.roles)}"
            )
            if p.using is not None:
                stmt += f" USING ({p.using})"
            if p.with_check is not None:
                stmt += f" WITH CHECK ({p.with_check})"
            after.append(stmt)
    after += [s.definition for s in capture.statistics]
    for view in capture.views:
        if view.populated:
            after.append(f"REFRESH MATERIALIZED VIEW {_q(target, view.name)}")
        after += [index.definition for index in view.indexes]
        after += _triggers(view.name, view.triggers, target)
    after += sequence_sql(capture, target)
    owners = [*dict.fromkeys([*first, *pieces, *attaches])]
    steps = {k: (tuple(first.get(k, ())), *pieces.get(k, ())) for k in owners}
    return PostLoad(
        search_path=search_path_sql(capture, target, home=home),
        per_table={
            k: (*(s for piece in steps[k] for s in piece), *attaches.get(k, ())) for k in owners
        },
        pieces=steps,
        attaches={k: tuple(attaches.get(k, ())) for k in owners},
        foreign_keys={k: tuple(v) for k, v in foreign_keys.items()},
        validations={k: tuple(v) for k, v in validations.items()},
        references={k: frozenset(v - {k}) for k, v in references.items()},
        after=tuple(after),
    )


def _triggers(relation: str, triggers: Sequence[Trigger], target: str) -> list[str]:
    out = []
    for trigger in triggers:
        out.append(trigger.definition)
        state = _ENABLE.get(trigger.enabled)
        if state is not None:
            out.append(f"ALTER TABLE {_q(target, relation)} {state} {quote_ident(trigger.name)}")
    return out


def sequence_sql(capture: Capture, target: str) -> list[str]:
    """Move every sequence that feeds loaded columns past the largest value loaded (the next
    value is max + increment; an empty table leaves the sequence at its start)."""
    users: dict[str, list[tuple[str, str]]] = {}
    for table in capture.data_tables:
        for column in table.columns:
            if column.sequence is not None:
                users.setdefault(column.sequence, []).append((table.name, column.name))
    by_name = {s.name: s for s in capture.sequences}
    out = []
    for name, columns in sorted(users.items()):
        seq = by_name.get(name)
        if seq is None or seq.increment < 0:
            continue
        largest = ", ".join(
            f"(SELECT max({quote_ident(c)}) FROM {_q(target, t)})"  # noqa: S608 - quoted names
            for t, c in columns
        )
        out.append(
            f"SELECT setval({_literal(_q(target, name))}, "
            f"coalesce(greatest({largest}) + {seq.increment}, {seq.start}), false)"
        )
    return out


def swap_sql(capture: Capture, staging: str, target: str) -> list[str]:
    """Move every object :func:`bare_sql` made in ``staging`` into ``target``, then drop
    ``staging``: aggregates and functions first (their signatures name types still in
    ``staging``), views, then tables (with their indexes, constraints, triggers, policies and
    owned sequences), other sequences, types and domains. Run in one transaction, with
    ``staging`` first on ``search_path``."""
    dest = quote_ident(target)
    out = [f"SET LOCAL search_path = {quote_ident(staging)}, {dest}, pg_catalog"]
    out += [
        f"ALTER AGGREGATE {_q(staging, a.name)}({a.arguments}) SET SCHEMA {dest}"
        for a in capture.aggregates
    ]
    for f in capture.functions:
        kind = (
            "PROCEDURE"
            if f.definition.lstrip().startswith("CREATE OR REPLACE PROCEDURE")
            else "FUNCTION"
        )
        out.append(f"ALTER {kind} {_q(staging, f.name)}({f.arguments}) SET SCHEMA {dest}")
    for view in capture.views:
        kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
        out.append(f"ALTER {kind} {_q(staging, view.name)} SET SCHEMA {dest}")
    out += [f"ALTER TABLE {_q(staging, t.name)} SET SCHEMA {dest}" for t in capture.tables]
    out += [
        f"ALTER SEQUENCE {_q(staging, s.name)} SET SCHEMA {dest}"
        for s in capture.sequences
        if s.owned_by is None
    ]
    out += [f"ALTER STATISTICS {_q(staging, s.name)} SET SCHEMA {dest}" for s in capture.statistics]
    out += [f"ALTER TYPE {_q(staging, t.name)} SET SCHEMA {dest}" for t in capture.composites]
    out += [f"ALTER DOMAIN {_q(staging, d.name)} SET SCHEMA {dest}" for d in capture.domains]
    out += [f"ALTER TYPE {_q(staging, e.name)} SET SCHEMA {dest}" for e in capture.enums]
    out.append(f"DROP SCHEMA {quote_ident(staging)}")
    return out


def drop_sql(capture: Capture, target: str) -> list[str]:
    """Drop ``capture``'s objects from ``target`` where they exist (``CASCADE``: run it only
    on a database the safety rule allows writing to)."""
    out = [f"SET LOCAL search_path = {quote_ident(target)}, pg_catalog"]
    for view in reversed(capture.views):
        kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
        out.append(f"DROP {kind} IF EXISTS {_q(target, view.name)} CASCADE")
    if capture.tables:
        names = ", ".join(_q(target, t.name) for t in capture.tables)
        out.append(f"DROP TABLE IF EXISTS {names} CASCADE")
    out += [
        f"DROP AGGREGATE IF EXISTS {_q(target, a.name)}({a.arguments}) CASCADE"
        for a in capture.aggregates
    ]
    for f in capture.functions:
        kind = (
            "PROCEDURE"
            if f.definition.lstrip().startswith("CREATE OR REPLACE PROCEDURE")
            else "FUNCTION"
        )
        out.append(f"DROP {kind} IF EXISTS {_q(target, f.name)}({f.arguments}) CASCADE")
    out += [f"DROP SEQUENCE IF EXISTS {_q(target, s.name)} CASCADE" for s in capture.sequences
            if s.owned_by is None]  # fmt: skip
    out += [f"DROP TYPE IF EXISTS {_q(target, t.name)} CASCADE" for t in capture.composites]
    out += [f"DROP DOMAIN IF EXISTS {_q(target, d.name)} CASCADE" for d in capture.domains]
    out += [f"DROP TYPE IF EXISTS {_q(target, e.name)} CASCADE" for e in capture.enums]
    return out
