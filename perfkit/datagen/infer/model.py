"""What a plan is: each table's row count and makers, and the problems that stop one.

:class:`Plan` and :class:`TablePlan` are what :func:`perfkit.datagen.infer.plan.make_plan`
returns and :mod:`perfkit.datagen.infer.fill` loads; :class:`InferenceError` lists every
:class:`Problem` found before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfkit.datagen.infer.values import Block, Groups, Maker
from perfkit.errors import PerfkitError
from perfkit.schema import quote_ident

#: Bump whenever a change in the inference rules changes the rows a plan makes.
INFER_VERSION = 1
#: Rows made at a time; part of every stream's key, so part of the dataset.
BLOCK_ROWS = 8192
#: Rows of each table an override's values are checked on.
SAMPLE_ROWS = 20


@dataclass(frozen=True)
class Problem:
    """Something the planner cannot do: ``problem`` names the rule (``check``,
    ``unsupported_type``, ``not_unique``, ``too_few_values``, ``empty_parent``, ``per``,
    ``unknown_table``, ``unknown_column``, ``override``, ``csv``), ``column`` is empty for a
    whole table."""

    table: str
    column: str
    problem: str
    message: str
    hint: str


class InferenceError(PerfkitError):
    r"""Data cannot be inferred for the schema as configured (exit status 2); nothing was
    written. ``table``, ``column`` and ``problem`` describe the first problem, ``problems``
    lists all as (table, column, problem), ``details`` as :class:`Problem`\ s."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        first = problems[0]
        more = ""
        if len(problems) > 1:
            named = ", ".join(
                f"{p.table}.{p.column}" if p.column else p.table for p in problems[1:4]
            )
            rest = len(problems) - 4
            more = f"; also {named}" + (f" and {rest} more" if rest > 0 else "")
        super().__init__(first.message + more, hint=first.hint)
        self.table = first.table
        self.column = first.column
        self.problem = first.problem
        self.problems = tuple((p.table, p.column, p.problem) for p in problems)
        #: Every problem, with its message and hint.
        self.details = tuple(problems)


@dataclass(frozen=True)
class SqlUpdate:
    """A ``sql:`` override: ``column = expression`` over the row (``t``) and its parents,
    run after the load."""

    table: str
    column: str
    expression: str
    #: (alias, parent table, ((child column, parent column), ...)).
    joins: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]

    def statement(self, schema: str) -> str:
        q = quote_ident
        sources = ", ".join(
            f"{q(schema)}.{q(parent)} AS {q(alias)}" for alias, parent, _ in self.joins
        )
        conditions = " AND ".join(
            f"t.{q(child)} = {q(alias)}.{q(parent_column)}"
            for alias, _, pairs in self.joins
            for child, parent_column in pairs
        )
        table = f"{q(schema)}.{q(self.table)}"
        sql = f"UPDATE {table} AS t SET {q(self.column)} = ({self.expression})"  # noqa: S608
        if sources:
            sql += f" FROM {sources} WHERE {conditions}"
        return sql


@dataclass(frozen=True)
class TablePlan:
    """How one table's rows are made."""

    name: str
    rows: int
    #: The columns COPY writes, in the table's order.
    columns: tuple[str, ...]
    #: Makers in the order they run (a maker may read the columns made before it).
    makers: tuple[Maker, ...]
    groups: Groups | None = None
    updates: tuple[SqlUpdate, ...] = ()
    #: Types the loader needs a binary codec for (``tsvector``, ``citext``).
    codecs: frozenset[str] = frozenset()
    seed_key: str = ""
    #: A child table's parent and the foreign key followed to it (its first column), as the
    #: planner chose them (``per`` and ``via``); None for a root table.
    per: tuple[str, str] | None = None

    def generate(self, *, start: int = 0, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
        """The rows ``start .. stop - 1`` (default: all), in bounded memory. ``start`` must be
        a multiple of :data:`BLOCK_ROWS`."""
        end = self.rows if stop is None else min(stop, self.rows)
        for first in range(start, end, BLOCK_ROWS):
            n = min(BLOCK_ROWS, end - first)
            block = Block(self.name, first, n, first // BLOCK_ROWS, self.seed_key)
            if self.groups is not None:
                block.parents, block.ranks = self.groups.locate(first, n)
            for maker in self.makers:
                for name, values in zip(maker.columns, maker.make(block), strict=True):
                    block.done[name] = values
            yield from zip(*(block.done[c] for c in self.columns), strict=True)


@dataclass(frozen=True)
class Plan:
    """Every table's :class:`TablePlan`, parents first, and what decided them."""

    tables: tuple[TablePlan, ...]
    #: Everything besides the seed that shapes the rows, as plain JSON values.
    parameters: Mapping[str, Any]
    #: The foreign keys cut to break cycles, as (table, constraint): filled like the others,
    #: their table's rows made before their parent's.
    cut: frozenset[tuple[str, str]] = frozenset()

    def table(self, name: str) -> TablePlan:
        return next(t for t in self.tables if t.name == name)

    @property
    def row_counts(self) -> dict[str, int]:
        return {t.name: t.rows for t in self.tables}

    @property
    def updates(self) -> tuple[SqlUpdate, ...]:
        return tuple(u for t in self.tables for u in t.updates)
