"""Checking an application's recipe against the tables it fills, before any row is written.

A recipe (:mod:`perfkit.datagen.recipe`) is the application's own code, so it can name a
column the table does not have, leave out a NOT NULL column that has no default, or give
values of the wrong type. COPY would then fail half-way through a load with a driver error
that names neither the column nor the recipe, or (a ``datetime`` into a ``date``) quietly
store something else. :func:`validate_recipe` runs once the staging tables exist (step 2 of
:mod:`perfkit.datagen.load`) and reads them back from the catalog in one query: each
column's name, type (domains resolved to their base type), NOT NULL, whether it has a
default (a ``DEFAULT``, an identity, ``SERIAL``, a domain default) or is generated, the
length of ``varchar(n)`` and ``char(n)``, and the labels of ENUM types. Then, per table:

1. every column the recipe fills exists (else ``unknown_column``, with a did-you-mean) and
   is not a generated column;
2. every NOT NULL column without a default is filled (else ``not_filled``);
3. the first :data:`SAMPLE_ROWS` generated rows fit the column types (:func:`misfit`);
4. each of :attr:`Recipe.dated_columns <perfkit.datagen.recipe.Recipe.dated_columns>` is a
   date or timestamp column of the table.

The type rules are those of the loader's binary COPY (asyncpg's encoders, and perfkit's own
for ``timestamptz``), so a value that passes loads, and one that fails would have stopped
the load (or been stored as something else):

=====================  ==============================================================
column type            values that fit
=====================  ==============================================================
boolean                ``bool``
smallint, integer,     ``int`` within the type's range (not ``bool``)
bigint
numeric, real,         ``int``, ``float`` or ``Decimal`` (not ``bool``)
double precision
text, varchar(n),      ``str`` of at most ``n`` characters, without NUL characters
char(n), other text
uuid                   ``uuid.UUID``, or a ``str`` that reads as one
date                   ``datetime.date`` (not a ``datetime``: its time would be lost)
timestamptz            timezone-aware ``datetime``
timestamp              naive ``datetime``
time, timetz           ``datetime.time``
interval               ``datetime.timedelta``
json, jsonb            ``str`` holding JSON (asyncpg's default codec takes text only:
                       a ``dict`` or ``list`` fails, so the rule says ``json.dumps`` it)
bytea                  ``bytes``, ``bytearray`` or ``memoryview``
ENUM types             ``str``, one of the type's labels
arrays                 ``list`` or ``tuple`` (elements are not checked)
=====================  ==============================================================

Other types are not checked. ``None`` fits only a nullable column (in COPY a default
applies to a column left out, never to a NULL given).

Every problem is one line that names ``table.column``, where the recipe takes its values
from (entity field, ``Const``, ``Computed`` or ``rows`` function) and what fits; values are
quoted through :func:`perfkit.text.quoted`, never in full. :func:`validate_recipe` raises
:class:`~perfkit.errors.RecipeError` (exit status 2) with the first problem, and lists the
others by name. The cost: one catalog query, and the first block of each table's generator.

Over 400 lines: one small rule per column type, and a message and hint per problem, kept
together so each rule reads beside the words it reports.

Over 500 lines: one check per way a recipe can misfit its tables, each with the message that
names ``table.column``; they share the tables' description built once here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from perfkit.datagen.entities import entity_blocks
from perfkit.datagen.recipe import Computed, Const, Row, Shape, TableRecipe
from perfkit.errors import RecipeError
from perfkit.sqlnames import quote_ident
from perfkit.text import clipped, quoted

if TYPE_CHECKING:
    import asyncpg

    from perfkit.app import Application
    from perfkit.datagen.recipe import Recipe

#: Rows of each table whose values are checked against the column types.
SAMPLE_ROWS = 20
#: Offices the sample rows come from.
SAMPLE_OFFICES = 2
#: Problems named in the error's message besides the first (the rest are counted).
NAMED_PROBLEMS = 3

_INT_RANGES: Mapping[str, tuple[int, int]] = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
}
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})
_DATE_CATEGORY = "D"

# One query for every table: base types of domains, their NOT NULL and defaults, ENUM labels.
_CATALOG_SQL = """
SELECT c.relname AS table_name,
       a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type_sql,
       b.typname AS type_name,
       b.typcategory::text AS category,
       (a.attnotnull OR t.typnotnull) AS not_null,
       (a.atthasdef OR a.attidentity <> '' OR t.typdefault IS NOT NULL
        OR t.typdefaultbin IS NOT NULL) AS has_default,
       a.attgenerated <> '' AS generated,
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
       CASE WHEN b.typtype = 'e' THEN ARRAY(
           SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = b.oid ORDER BY e.enumsortorder
       ) END AS labels
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a table as the catalog describes it."""

    name: str
    #: The type as PostgreSQL writes it, e.g. ``character varying(20)``.
    type_sql: str
    #: The (base) type's internal name, e.g. ``varchar``, ``int4``, ``timestamptz``.
    type_name: str
    #: The (base) type's ``pg_type.typcategory``: ``B`` boolean, ``N`` numeric, ``S`` string,
    #: ``D`` date/time, ``E`` enum, ``A`` array, ``U`` user-defined (uuid, json) ...
    category: str
    not_null: bool = False
    #: A ``DEFAULT`` (``SERIAL`` included), an identity, or a domain default.
    has_default: bool = False
    generated: bool = False
    #: The most characters a ``varchar(n)`` or ``char(n)`` holds.
    max_length: int | None = None
    #: An ENUM type's labels, in order.
    labels: tuple[str, ...] | None = None

    @property
    def needs_value(self) -> bool:
        """True when a row without this column breaks NOT NULL (nothing else fills it)."""
        return self.not_null and not self.has_default and not self.generated


@dataclass(frozen=True)
class Misfit:
    """Why a value does not fit a column: ``problem`` (a :class:`~perfkit.errors.RecipeError`
    problem name), what was ``found``, and what would fit (``wanted``)."""

    problem: str
    found: str
    wanted: str


@dataclass(frozen=True)
class RecipeProblem:
    """One problem of a recipe: where it is, which rule it broke, a one-line description and
    what to do about it."""

    table: str
    #: Empty for a problem of the whole table.
    column: str
    problem: str
    message: str
    hint: str
    #: Where the recipe takes the column's values from, when known.
    source: str | None = None


# --------------------------------------------------------------------------------------------
# the type rules


def misfit(value: Any, column: ColumnInfo) -> Misfit | None:
    """Why ``value`` cannot go into ``column`` through the loader's COPY; None when it fits
    (or when perfkit has no rule for the column's type). See the module docstring's table."""
    if value is None:
        if column.not_null:
            return Misfit("null", "None", "a value in every row (the column is NOT NULL)")
        return None
    if column.category == "E":  # by category first: an ENUM type may have any name
        return _enum(value, column)
    rule = _RULES.get(column.type_name) or _CATEGORY_RULES.get(column.category)
    return rule(value, column) if rule is not None else None


def _found(value: Any) -> str:
    """``value`` described for a message: its type and a bounded quote of it."""
    if isinstance(value, str) and len(value) > 40:
        return f"a str of {len(value)} characters, {quoted(value, limit=40)}"
    return f"{type(value).__name__} {quoted(value, limit=60)}"


def _wrong(value: Any, wanted: str) -> Misfit:
    return Misfit("wrong_type", _found(value), wanted)


def _boolean(value: Any, column: ColumnInfo) -> Misfit | None:
    return None if isinstance(value, bool) else _wrong(value, "bool values")


def _integer(value: Any, column: ColumnInfo) -> Misfit | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return _wrong(value, "int values")
    low, high = _INT_RANGES[column.type_name]
    if not low <= value <= high:
        return Misfit("out_of_range", _found(value), f"int values from {low} to {high}")
    return None


def _number(value: Any, column: ColumnInfo) -> Misfit | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return _wrong(value, "int, float or Decimal values")
    return None


def _text(value: Any, column: ColumnInfo) -> Misfit | None:
    if not isinstance(value, str):
        return _wrong(value, "str values")
    if "\x00" in value:
        return Misfit("bad_text", _found(value), "text without NUL characters ('\\x00')")
    if column.max_length is not None and len(value) > column.max_length:
        return Misfit("too_long", _found(value), f"at most {column.max_length} characters")
    return None


def _uuid(value: Any, column: ColumnInfo) -> Misfit | None:
    if isinstance(value, uuid.UUID):
        return None
    if isinstance(value, str):
        try:
            uuid.UUID(value)
        except ValueError:
            return _wrong(value, "uuid.UUID values")
        return None
    return _wrong(value, "uuid.UUID values")


def _date(value: Any, column: ColumnInfo) -> Misfit | None:
    if isinstance(value, dt.datetime):
        return _wrong(value, "datetime.date values (a datetime's time would be lost)")
    return None if isinstance(value, dt.date) else _wrong(value, "datetime.date values")


def _timestamptz(value: Any, column: ColumnInfo) -> Misfit | None:
    wanted = "timezone-aware datetimes (e.g. tzinfo=datetime.UTC)"
    if not isinstance(value, dt.datetime):
        return _wrong(value, wanted)
    if value.tzinfo is None or value.utcoffset() is None:
        return Misfit("wrong_type", "a naive datetime " + quoted(value, limit=60), wanted)
    return None


def _timestamp(value: Any, column: ColumnInfo) -> Misfit | None:
    wanted = "naive datetimes (no tzinfo)"
    if not isinstance(value, dt.datetime):
        return _wrong(value, wanted)
    if value.tzinfo is not None and value.utcoffset() is not None:
        return Misfit("wrong_type", "a timezone-aware datetime " + quoted(value, limit=60), wanted)
    return None


def _time(value: Any, column: ColumnInfo) -> Misfit | None:
    return None if isinstance(value, dt.time) else _wrong(value, "datetime.time values")


def _interval(value: Any, column: ColumnInfo) -> Misfit | None:
    return None if isinstance(value, dt.timedelta) else _wrong(value, "datetime.timedelta values")


def _json(value: Any, column: ColumnInfo) -> Misfit | None:
    wanted = "JSON text, e.g. json.dumps(...)"
    if not isinstance(value, str):
        return _wrong(value, wanted)
    try:
        json.loads(value)
    except ValueError:
        return Misfit("bad_json", f"text that is not JSON, {quoted(value, limit=40)}", wanted)
    return None


def _bytea(value: Any, column: ColumnInfo) -> Misfit | None:
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    return _wrong(value, "bytes values")


def _enum(value: Any, column: ColumnInfo) -> Misfit | None:
    labels = column.labels
    if labels is None:  # an ENUM under more than one domain: only the type is checked
        return None if isinstance(value, str) else _wrong(value, "str values")
    wanted = f"one of its labels {quoted(labels, limit=60)}"
    if not isinstance(value, str):
        return _wrong(value, wanted)
    return None if value in labels else Misfit("not_in_enum", _found(value), wanted)


def _array(value: Any, column: ColumnInfo) -> Misfit | None:
    return None if isinstance(value, list | tuple) else _wrong(value, "list or tuple values")


Rule = Callable[[Any, ColumnInfo], Misfit | None]
_RULES: Mapping[str, Rule] = {
    "bool": _boolean,
    "int2": _integer,
    "int4": _integer,
    "int8": _integer,
    "numeric": _number,
    "float4": _number,
    "float8": _number,
    **{name: _text for name in _TEXT_TYPES},
    "uuid": _uuid,
    "date": _date,
    "timestamptz": _timestamptz,
    "timestamp": _timestamp,
    "time": _time,
    "timetz": _time,
    "interval": _interval,
    "json": _json,
    "jsonb": _json,
    "bytea": _bytea,
}
_CATEGORY_RULES: Mapping[str, Rule] = {"S": _text, "A": _array}


# --------------------------------------------------------------------------------------------
# the checks


def describe_source(table: TableRecipe, column: str) -> str | None:
    """Where ``table`` takes ``column``'s values from: ``entity field 'x'``, ``Const(...)``,
    ``Computed(fn)`` or ``rows=fn``; None when the recipe does not fill the column."""
    if table.rows is not None:
        return f"rows={_callable_name(table.rows)}" if column in table.columns else None
    source: object = table.columns.get(column)  # the application's: any object at all
    if source is None:
        return None
    if isinstance(source, str):
        return f"entity field {quoted(source, limit=40)}"
    if isinstance(source, Const):
        return f"Const({quoted(source.value, limit=40)})"
    if isinstance(source, Computed):
        return f"Computed({_callable_name(source.fn)})"
    return clipped(type(source).__name__)


def _callable_name(fn: object) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return clipped(str(name), limit=60)


def _const_example(column: ColumnInfo) -> str | None:
    """A ``Const(...)`` that fits ``column``, for a hint; None when no constant suits it."""
    if column.labels:
        return f"Const({quoted(column.labels[0], limit=40)})"
    return {
        "bool": "Const(False)",
        "int2": "Const(0)",
        "int4": "Const(0)",
        "int8": "Const(0)",
        "numeric": "Const(0)",
        "float4": "Const(0.0)",
        "float8": "Const(0.0)",
        "text": "Const('')",
        "varchar": "Const('')",
        "json": "Const('{}')",
        "jsonb": "Const('{}')",
    }.get(column.type_name)


def _not_filled(table: TableRecipe, column: ColumnInfo) -> RecipeProblem:
    name = clipped(column.name)
    example = _const_example(column)
    if table.rows is not None:
        hint = (
            f"add {name!r} to the {table.name} TableRecipe's columns and give its value in "
            "every row its rows function yields"
        )
    elif example is not None:
        hint = f"add {name!r}: {example} to the {table.name} TableRecipe"
    else:
        hint = (
            f"add {name!r} to the {table.name} TableRecipe (an entity field, a Const or a "
            f"Computed giving {column.type_sql} values), or give the column a server default"
        )
    return RecipeProblem(
        table=table.name,
        column=column.name,
        problem="not_filled",
        message=f"{table.name}.{name} is NOT NULL with no default and the recipe does not fill it",
        hint=hint,
    )


def _unknown_column(table: TableRecipe, name: str, columns: Sequence[ColumnInfo]) -> RecipeProblem:
    shown = clipped(name)
    close = difflib.get_close_matches(name[:100], [c.name for c in columns], n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return RecipeProblem(
        table=table.name,
        column=name,
        problem="unknown_column",
        message=f"the recipe fills {table.name}.{shown}, which the table does not have{guess}",
        hint=f"rename or remove {shown!r} in the {table.name} TableRecipe, or add the column "
        "to the application's schema",
        source=describe_source(table, name),
    )


def check_columns(table: TableRecipe, columns: Sequence[ColumnInfo]) -> list[RecipeProblem]:
    """Rules 1 and 2: the recipe fills only columns the table has (and none it generates),
    and every NOT NULL column without a default."""
    by_name = {c.name: c for c in columns}
    problems = []
    for name in table.column_names:
        column = by_name.get(name)
        if column is None:
            problems.append(_unknown_column(table, name, columns))
        elif column.generated:
            problems.append(
                RecipeProblem(
                    table=table.name,
                    column=name,
                    problem="generated_column",
                    message=f"{table.name}.{name} is a generated column; nothing may fill it",
                    hint=f"remove {name!r} from the {table.name} TableRecipe",
                    source=describe_source(table, name),
                )
            )
    filled = set(table.column_names)
    problems += [_not_filled(table, c) for c in columns if c.needs_value and c.name not in filled]
    return problems


def check_rows(
    table: TableRecipe, columns: Sequence[ColumnInfo], rows: Sequence[Row]
) -> list[RecipeProblem]:
    """Rule 3: the values of ``rows`` (the table's first generated rows) fit the column types;
    at most one problem per column (its first misfit). Columns the table lacks are rule 1's."""
    by_name = {c.name: c for c in columns}
    names = table.column_names
    problems: list[RecipeProblem] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, tuple | list) or len(row) != len(names):
            return [_row_width(table, row, number)]
    for index, name in enumerate(names):
        column = by_name.get(name)
        if column is None:
            continue
        for number, row in enumerate(rows, start=1):
            wrong = misfit(row[index], column)
            if wrong is not None:
                problems.append(_misfit_problem(table, column, wrong, number))
                break
    return problems


def _row_width(table: TableRecipe, row: object, number: int) -> RecipeProblem:
    source = f"rows={_callable_name(table.rows)}"
    names = len(table.column_names)
    if isinstance(row, tuple | list):
        what = f"rows of {len(row)} values"
    else:
        what = f"a {clipped(type(row).__name__, limit=40)} as a row, not a tuple"
    return RecipeProblem(
        table=table.name,
        column="",
        problem="row_width",
        message=f"{table.name}: {source} yields {what}, but the TableRecipe names {names} "
        f"columns (row {number})",
        hint=f"yield one value per column, in the order of the {table.name} TableRecipe's columns",
        source=source,
    )


def _misfit_problem(
    table: TableRecipe, column: ColumnInfo, wrong: Misfit, number: int
) -> RecipeProblem:
    source = describe_source(table, column.name) or "the recipe"
    what = "NOT NULL" if wrong.problem == "null" else column.type_sql
    if column.category == "E" and wrong.problem != "null":
        what = f"of ENUM type {column.type_sql}"
    if table.rows is None and isinstance(table.columns.get(column.name), Const):
        gives = f"{source} is {wrong.found}"  # the same in every row
    else:
        gives = f"{source} gives {wrong.found} (row {number})"
    return RecipeProblem(
        table=table.name,
        column=column.name,
        problem=wrong.problem,
        message=f"{table.name}.{column.name} is {what}, but {gives}",
        hint=f"make {source} give {wrong.wanted}",
        source=source,
    )


def sample_rows(table: TableRecipe, shape: Shape) -> list[Row]:
    """The first :data:`SAMPLE_ROWS` rows ``table`` makes for ``shape`` cut down to
    :data:`SAMPLE_OFFICES` offices: rows of the same kind, without generating a first block of
    thousands of rows for each table (that was most of a seed's checking time)."""
    offices = min(shape.scale.offices, SAMPLE_OFFICES)
    small = dataclasses.replace(shape, scale=msgspec.structs.replace(shape.scale, offices=offices))
    return list(itertools.islice(table.generate(small), SAMPLE_ROWS))


def _generation_failed(table: TableRecipe, shape: Shape, exc: Exception) -> list[RecipeProblem]:
    """What to report when ``table``'s generator raised ``exc``: entity fields the entities
    lack, when that is the cause; otherwise the exception, in one line."""
    fields: set[str] | None = None
    if isinstance(exc, KeyError) and table.rows is None:
        try:
            first = next(iter(entity_blocks(table.entity, shape)), None)
        except Exception:  # the entities failing: the first error is reported instead
            first = None
        fields = None if first is None else {*first, "entity_number"}
    if fields is not None:
        missing = [
            (column, source)
            for column, source in table.columns.items()
            if isinstance(source, str) and source not in fields
        ]
        if missing:
            return [_unknown_field(table, column, source, fields) for column, source in missing]
    return [
        RecipeProblem(
            table=table.name,
            column="",
            problem="generation_failed",
            message=f"{table.name}: generating its first rows failed: {type(exc).__name__}: "
            f"{quoted(str(exc), limit=120)}",
            hint=f"fix the {table.name} TableRecipe's Computed or rows functions",
        )
    ]


def _unknown_field(table: TableRecipe, column: str, field: str, fields: set[str]) -> RecipeProblem:
    close = difflib.get_close_matches(field[:100], sorted(fields), n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return RecipeProblem(
        table=table.name,
        column=column,
        problem="unknown_field",
        message=f"{table.name}.{clipped(column)} takes entity field {quoted(field, limit=40)}, "
        f"which {table.entity} entities do not have{guess}",
        hint=clipped(f"{table.entity} entities have: {', '.join(sorted(fields))}", limit=200),
        source=f"entity field {quoted(field, limit=40)}",
    )


def check_dated_columns(
    recipe: Recipe, catalog: Mapping[str, Sequence[ColumnInfo]]
) -> list[RecipeProblem]:
    """Rule 4: every column the recipe says moves with the calendar is a date or timestamp
    column of its table."""
    problems = []
    for table, names in recipe.dated_columns.items():
        columns = {c.name: c for c in catalog.get(table, ())}
        for name in names:
            column = columns.get(name)
            if column is not None and column.category == _DATE_CATEGORY:
                continue
            what = "not a column of the table" if column is None else f"{column.type_sql}"
            problems.append(
                RecipeProblem(
                    table=clipped(table),
                    column=name,
                    problem="dated_column",
                    message=f"the recipe's dated_columns name {clipped(table)}.{clipped(name)}, "
                    f"which is {what}",
                    hint="list only date and timestamp columns of the recipe's tables in "
                    "Recipe.dated_columns",
                )
            )
    return problems


def find_problems(
    recipe: Recipe, catalog: Mapping[str, Sequence[ColumnInfo]], shape: Shape
) -> list[RecipeProblem]:
    """Every problem of ``recipe`` against the tables in ``catalog`` (table -> its columns),
    tables in recipe order; the type rules look at the rows ``shape`` makes first."""
    problems: list[RecipeProblem] = []
    for table in recipe.tables:
        columns = catalog.get(table.name)
        if columns is None:
            problems.append(
                RecipeProblem(
                    table=table.name,
                    column="",
                    problem="missing_table",
                    message=f"table {clipped(table.name)} is not in the database",
                    hint="check that the schema's table names are valid PostgreSQL names "
                    "(at most 63 bytes)",
                )
            )
            continue
        problems += check_columns(table, columns)
        try:
            rows = sample_rows(table, shape)
        except Exception as exc:  # the application's code: any error is its own
            problems += _generation_failed(table, shape, exc)
            continue
        problems += check_rows(table, columns, rows)
    return problems + check_dated_columns(recipe, catalog)


# --------------------------------------------------------------------------------------------
# the catalog and the entry point


async def read_columns(
    conn: asyncpg.Connection, *, schema: str, tables: Sequence[str]
) -> dict[str, tuple[ColumnInfo, ...]]:
    """``tables``' columns in ``schema`` as the recipe check needs them (types, NOT NULL,
    defaults, lengths, ENUM labels), in one query; tables not found are left out. The schema's
    fingerprint reads the catalogue its own way (:mod:`perfkit.catalog`)."""
    records = await conn.fetch(_CATALOG_SQL, schema, list(tables))
    found: dict[str, list[ColumnInfo]] = {}
    qualifier = f"{schema}."  # types of the staging schema are shown without it
    for r in records:
        type_sql = r["type_sql"]
        type_sql = type_sql.removeprefix(qualifier).removeprefix(f"{quote_ident(schema)}.")
        length = r["typmod"] - 4 if r["type_name"] in ("varchar", "bpchar") else -1
        found.setdefault(r["table_name"], []).append(
            ColumnInfo(
                name=r["column_name"],
                type_sql=type_sql,
                type_name=r["type_name"],
                category=r["category"],
                not_null=r["not_null"],
                has_default=r["has_default"],
                generated=r["generated"],
                max_length=length if length >= 0 else None,
                labels=tuple(r["labels"]) if r["labels"] is not None else None,
            )
        )
    return {name: tuple(columns) for name, columns in found.items()}


def recipe_error(problems: Sequence[RecipeProblem], *, recipe_path: str) -> RecipeError:
    """The error that reports ``problems`` (at least one): the first in full, the others by
    name."""
    first = problems[0]
    message = f"recipe {clipped(recipe_path)}, table {clipped(first.table)}: {first.message}"
    others = problems[1:]
    if others:
        named = ", ".join(
            f"{p.table}.{p.column} ({p.problem})" if p.column else f"{p.table} ({p.problem})"
            for p in others[:NAMED_PROBLEMS]
        )
        rest = len(others) - NAMED_PROBLEMS
        more = f" and {rest} more" if rest > 0 else ""
        message += f"; also {clipped(named, limit=200)}{more}"
    return RecipeError(
        message,
        recipe=recipe_path,
        table=first.table,
        column=first.column,
        problem=first.problem,
        source=first.source,
        problems=[(p.table, p.column, p.problem) for p in problems],
        hint=first.hint,
    )


async def validate_recipe(
    conn: asyncpg.Connection,
    app: Application,
    shape: Shape,
    *,
    schema: str,
    recipe_path: str,
) -> None:
    """Check ``app``'s recipe against its tables as they are in ``schema`` (the staging
    schema, before any row is loaded); raise :class:`~perfkit.errors.RecipeError` on the
    first problem. ``recipe_path`` is the recipe's import path, for the message."""
    catalog = await read_columns(conn, schema=schema, tables=app.tables)
    problems = find_problems(app.recipe, catalog, shape)
    if problems:
        raise recipe_error(problems, recipe_path=recipe_path)
