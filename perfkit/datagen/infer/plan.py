"""A plan for every table of a captured schema: how many rows, and how each column is made.

:func:`make_plan` reads a :class:`~perfkit.ddl.model.Capture` and a
:class:`~perfkit.dataspec.GenerationSpec` and decides, with no recipe:

1. **Order and row counts.** Foreign keys make a graph, parents first; a cycle is cut at its
   weakest edge (a self-reference, else a nullable key, else a deferrable one, else by name).
   A table with ``rows:`` (times the scale) or no key to follow is a root; a child has
   ``count`` rows per row of its ``per`` parent (its first NOT NULL key by default).
2. **Unique keys by construction.** For each primary key, unique constraint, unique index
   (partial ones as if whole; ``lower(col)`` as ``col``) and exclusion constraint: a
   sequence-fed column, or one made injective (distinct by construction), or, for keys made
   of foreign keys, parents chosen without repeats: M:N rows pick distinct partners per
   parent, a unique foreign key a permutation of its parent's rows.
3. **Columns.** Overrides first; then sequences; injective columns; columns with a constant
   default are left to the server; ``now()``-like defaults get dates in the window; the rest
   are drawn from their :func:`~perfkit.datagen.infer.columns.value_space`, with the CHECKs
   read (:mod:`perfkit.datagen.infer.checks`), ``col1 > col2`` made by adding a step to
   ``col2``, and a share of NULLs in nullable columns.
4. **Foreign keys.** Each row's parent is its ``per`` parent, a distinct partner, a
   permutation, an earlier row (self-references) or a uniform draw; its key values are
   computed from the parent's row number, so nothing is read back and cycles need no second
   pass: every foreign key is added after the load, and its rows are already right.

What cannot be planned is a :class:`Problem` naming the table and column; :func:`make_plan`
raises :class:`InferenceError` with all of them before anything is written.

Over 500 lines: the planner's four steps share their facts about each table, and read best in
one place.

Over 500 lines: the planner reads every kind of constraint (keys, uniques, CHECKs, foreign
keys, cycles, partitions) and the overrides against them; the rules depend on each other.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import graphlib
import importlib
import itertools
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from perfkit.datagen.infer import providers
from perfkit.datagen.infer.columns import Space, Window, value_space
from perfkit.datagen.infer.facts import TableFacts, draw_counts, make_order, table_facts
from perfkit.datagen.infer.model import (
    INFER_VERSION,
    SAMPLE_ROWS,
    InferenceError,
    Plan,
    Problem,
    SqlUpdate,
    TablePlan,
)
from perfkit.datagen.infer.values import (
    MOMENT_TYPES,
    RING,
    After,
    AsMoments,
    Called,
    Constant,
    Drawn,
    Groups,
    Hashed,
    Injective,
    Listed,
    Maker,
    Parents,
    Permutation,
    RandomUuids,
    Reference,
    Sequential,
    key_number,
    mix64,
    moment,
    step_micros,
)
from perfkit.datagen.validate import ColumnInfo, misfit
from perfkit.dataspec import ColumnOverride, Distribution, GenerationSpec, TableSpec
from perfkit.ddl.model import Capture, Column, Constraint

_NOW = re.compile(
    r"^(now\(\)|CURRENT_TIMESTAMP|CURRENT_DATE|LOCALTIMESTAMP|clock_timestamp\(\)|"
    r"statement_timestamp\(\)|transaction_timestamp\(\)|timezone\(.*now\(\)\))"
)
_RANDOM_UUID = re.compile(r"^(gen_random_uuid|uuid_generate_v4|uuidv4)\(\)$")
_CONSTANT = re.compile(r"^\(?('(?:[^']|'')*'|-?[0-9.]+|true|false|NULL)\)?(::[\w .\"\[\]()]+)*$")
_ORDERING_OPS = {"<": -1, "<=": -1, ">": 1, ">=": 1}
#: The types a ``days`` override and a dated column may have.
_DATED_TYPES = ("date", "timestamp", "timestamptz")
#: The most distinct values a ``days`` override draws from.
_DAYS_POOL = 65_536


@dataclass
class _Table:
    """A table while it is planned."""

    facts: TableFacts
    spec: TableSpec
    per: Constraint | None = None
    groups: Groups | None = None
    rows: int = 0
    csv_rows: list[dict[str, Any]] | None = None
    #: FK constraint name -> how its parents are chosen.
    fk_how: dict[str, str] = field(default_factory=dict)
    #: Columns made injective (distinct by construction).
    injective: set[str] = field(default_factory=set)
    #: Column -> its addressed maker (what other tables' foreign keys read).
    addressed: dict[str, Any] = field(default_factory=dict)
    makers: list[Maker] = field(default_factory=list)
    updates: list[SqlUpdate] = field(default_factory=list)
    codecs: set[str] = field(default_factory=set)
    omitted: set[str] = field(default_factory=set)


class _Planner:
    def __init__(
        self,
        capture: Capture,
        spec: GenerationSpec,
        *,
        seed: int,
        anchor: dt.date,
        scale: float,
        numbers: Mapping[str, int],
        base_dir: Path,
    ) -> None:
        self.capture = capture
        self.spec = spec
        self.scale = scale
        self.numbers = numbers
        #: The scale's numbers the counts followed (recorded in the plan's parameters).
        self.numbers_used: dict[str, int] = {}
        self.anchor = anchor
        self.base_dir = base_dir
        self.key = f"perfkit-infer/v{INFER_VERSION}/seed={seed}"
        self.window = Window.around(
            anchor, past_days=spec.window.past_days, future_days=spec.window.future_days
        )
        self.problems: list[Problem] = []
        self.tables: dict[str, _Table] = {}
        self.referenced: dict[str, set[str]] = {}

    def problem(self, table: str, column: str, problem: str, message: str, hint: str) -> None:
        self.problems.append(Problem(table, column, problem, message, hint))

    def run(self) -> list[str]:
        for name in self.spec.tables:
            known = {t.name for t in self.capture.data_tables}
            if name not in known:
                self.problem(
                    name,
                    "",
                    "unknown_table",
                    f"scales.yaml names table {name!r}, "
                    "which the schema does not have (or is a partition)",
                    "check the table name",
                )
        for table in self.capture.data_tables:
            facts = table_facts(self.capture, table, self.problems)
            self.tables[table.name] = _Table(facts, self.spec.table(table.name))
            for k in facts.foreign_keys:
                if k.references is not None:
                    self.referenced.setdefault(k.references, set()).update(k.ref_columns)
        order, self.cut = make_order({name: t.facts for name, t in self.tables.items()})
        self._counts(order)
        for name in order:
            self._uniques(self.tables[name])
        for name in order:
            self._columns(self.tables[name])
        for name in order:
            self._foreign_keys(self.tables[name])
        return order

    # -- 1. row counts -------------------------------------------------------------------------

    def _counts(self, order: Sequence[str]) -> None:
        self.counted: set[str] = set()
        for name in order:
            self._count(name)
            self.counted.add(name)

    def _count(self, name: str) -> None:
        t = self.tables[name]
        if True:
            spec = t.spec
            if spec.csv is not None:
                self._read_csv(t)
                return
            if spec.rows is not None:
                t.rows = round(spec.rows * self.scale)
                return
            if spec.per is not None:
                t.per = self._per(t, spec.per, spec.via)
            else:
                t.per = next(
                    (
                        k
                        for k in sorted(t.facts.foreign_keys, key=lambda k: k.name)
                        if k.references in self.tables
                        and k.references != name
                        and (name, k.name) not in self.cut
                        and all(t.facts.table.column(c).required for c in k.columns)
                    ),
                    None,
                )
            if t.per is None:
                if spec.per is None:
                    t.rows = round(self.spec.default_rows * self.scale)
                return
            parent = self.tables[t.per.references or ""]
            count = self._scale_count(t, spec.count)
            if spec.count is None and self._per_is_unique(t):
                count = min(count, 1)  # a unique key: at most one row per parent
            if count is None:
                return
            cap = self._partner_cap(t)
            t.groups = draw_counts(count, parent.rows, cap, f"{self.key}/{name}")
            t.rows = t.groups.rows

    def _per_is_unique(self, t: _Table) -> bool:
        """Whether the ``per`` key's columns alone are a unique key of the table (1:1)."""
        assert t.per is not None
        return any(set(columns) == set(t.per.columns) for _, columns in t.facts.uniques)

    def _scale_count(self, t: _Table, count: Any) -> Any:
        """``count`` with ``{scale: name}`` read from the scale's numbers (the default count
        when None); None, with a problem, for a number the scale does not have."""
        if count is None:
            return self.spec.default_count
        if isinstance(count, Distribution) and count.scale is not None:
            number = self.numbers.get(count.scale)
            if number is None:
                self.problem(
                    t.facts.table.name,
                    "",
                    "count",
                    f"{t.facts.table.name}: count follows the scale's {count.scale!r}, "
                    "which the scale does not give",
                    f"give scales.<name>.counts.{count.scale}, or name one of "
                    f"{', '.join(sorted(self.numbers))}",
                )
                return None
            self.numbers_used[count.scale] = number
            return number
        return count

    def _per(self, t: _Table, parent: str, via: str | None) -> Constraint | None:
        name = t.facts.table.name
        if parent not in self.tables or parent == name:
            self.problem(
                name,
                "",
                "per",
                f"{name}: per names {parent!r}, which is not another table of the schema",
                "name a table this one has a foreign key to",
            )
            return None
        found = [
            k
            for k in sorted(t.facts.foreign_keys, key=lambda k: k.name)
            if k.references == parent and (via is None or k.columns[0] == via)
        ]
        if not found:
            self.problem(
                name,
                via or "",
                "per",
                f"{name} has no foreign key to {parent}" + (f" through {via}" if via else ""),
                "per must follow one of the table's foreign keys",
            )
            return None
        if parent not in self.counted:
            self.problem(
                name,
                "",
                "per",
                f"{name}: per {parent} follows a foreign key that "
                "closes a cycle; its parent's rows are not known first",
                "choose another parent, or give the table rows:",
            )
            return None
        return found[0]

    def _partner_cap(self, t: _Table) -> int | None:
        """For an M:N table (a unique key holds its per key and another foreign key): the
        partner table's rows, the most distinct partners a parent can have."""
        assert t.per is not None
        per_columns = set(t.per.columns)
        for _, columns in t.facts.uniques:
            if not per_columns <= set(columns):
                continue
            for k in t.facts.foreign_keys:
                if (
                    k is not t.per
                    and k.references in self.tables
                    and set(columns) == per_columns | set(k.columns)
                ):
                    counted = k.references in self.counted
                    return self.tables[k.references].rows if counted else None
        return None

    def _read_csv(self, t: _Table) -> None:
        table = t.facts.table
        path = Path(t.spec.csv or "")
        path = path if path.is_absolute() else self.base_dir / path
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                header = list(reader.fieldnames or ())
                rows = [dict(r) for r in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.problem(
                table.name,
                "",
                "csv",
                f"{table.name}: cannot read {path}: {exc}",
                "give a UTF-8 CSV file with a header row of column names",
            )
            return
        names = {c.name for c in table.columns}
        unknown = [h for h in header if h not in names]
        if unknown:
            self.problem(
                table.name,
                unknown[0],
                "csv",
                f"{path.name}: column {unknown[0]!r} is not a column of {table.name}",
                "rename the header",
            )
            return
        converted = []
        for number, row in enumerate(rows, start=2):
            out = {}
            for name, text in row.items():
                try:
                    out[name] = _from_text(text, table.column(name))
                except (ValueError, InvalidOperation):
                    self.problem(
                        table.name,
                        name,
                        "csv",
                        f"{path.name} line {number}: "
                        f"{text!r} is not a {table.column(name).type.sql}",
                        "fix the file",
                    )
                    return
            converted.append(out)
        t.csv_rows = converted
        t.rows = len(converted)

    # -- 2. unique keys ------------------------------------------------------------------------

    def _uniques(self, t: _Table) -> None:
        table = t.facts.table
        overrides = t.spec.columns
        for _, column in t.facts.disjoint:
            t.injective.add(column)
        for name, columns in sorted(t.facts.uniques, key=lambda u: (len(u[1]), u[0])):
            key = set(columns)
            if key & t.injective or any(table.column(c).fed_by_sequence for c in key):
                continue
            if self._always_null(t, name, key):
                continue  # NULLs are distinct: no two rows clash
            if (
                t.per is not None
                and set(t.per.columns) <= key
                and t.groups is not None
                and t.groups.fixed is not None
                and t.groups.fixed <= 1
            ):
                continue  # one row per parent: the per key alone is distinct
            if key & set(overrides) and all(
                overrides[c].kind in ("call", "sql") for c in key & set(overrides)
            ):
                continue  # the team's own values: PostgreSQL checks them when the key is built
            if t.csv_rows is not None:
                continue
            groups = [k for k in t.facts.foreign_keys if set(k.columns) <= key]
            if t.per is not None and t.per in groups:
                partner = next(
                    (k for k in groups if k is not t.per and k.name not in t.fk_how), None
                )
                if partner is not None:
                    t.fk_how[partner.name] = "distinct"
                    continue
            free = [
                c
                for c in columns
                if c not in overrides
                and not any(c in k.columns for k in t.facts.foreign_keys)
                and table.column(c).generated == ""
            ]
            chosen = self._best_injective(t, free)
            if chosen is not None:
                t.injective.add(chosen)
                continue
            covered = {c for k in groups for c in k.columns}
            if groups and covered == key and not any(k.name in t.fk_how for k in groups):
                if t.per is not None and t.per in groups and len(groups) == 1:
                    if t.groups is not None and t.groups.fixed is not None and t.groups.fixed <= 1:
                        continue
                else:
                    for k in groups:
                        t.fk_how[k.name] = "unique" if len(groups) == 1 else "combo:" + name
                    continue
            self.problem(
                table.name,
                "",
                "not_unique",
                f"{table.name}: perfkit cannot make "
                f"{name} ({', '.join(columns)}) unique by construction",
                "give one of its columns an override with distinct values (a call or sql override)",
            )

    def _always_null(self, t: _Table, name: str, key: set[str]) -> bool:
        """Whether a column of unique key ``name`` is NULL in every row (``const: null``) and
        the key treats NULLs as distinct (no ``NULLS NOT DISTINCT``)."""
        overrides = t.spec.columns
        null = any(
            c in overrides and overrides[c].kind == "const" and overrides[c].const is None
            for c in key
        )
        if not null:
            return False
        table = t.facts.table
        definitions = [k.definition for k in table.constraints if k.name == name]
        definitions += [i.definition for i in table.indexes if i.name == name]
        return not any("NULLS NOT DISTINCT" in d.upper() for d in definitions)

    def _best_injective(self, t: _Table, columns: Sequence[str]) -> str | None:
        order = {"U": 0, "N": 1, "S": 2, "D": 3}
        ranked = sorted(columns, key=lambda c: order.get(t.facts.table.column(c).type.category, 9))
        for name in ranked:
            space = self._space(t, t.facts.table.column(name))
            if space is not None and space.injective is not None and space.size >= t.rows:
                return name
        return None

    def _space(self, t: _Table, column: Column) -> Space | None:
        table = t.facts.table
        partitions = t.facts.partition_info if column.name == t.facts.partition_key else None
        return value_space(
            table.name,
            column,
            t.facts.rules[column.name],
            key=f"{self.key}/{table.name}/{column.name}/space",
            locale=self.spec.locale,
            window=self.window,
            rows=t.rows,
            partitions=partitions,
        )

    # -- 3. columns ----------------------------------------------------------------------------

    def _columns(self, t: _Table) -> None:
        table = t.facts.table
        name = table.name
        overrides = dict(t.spec.columns)
        for column in overrides:
            if column not in {c.name for c in table.columns}:
                self.problem(
                    name,
                    column,
                    "unknown_column",
                    f"scales.yaml overrides {name}.{column}, which the table does not have",
                    "check the column name",
                )
        fk_columns = {c for k in t.facts.foreign_keys for c in k.columns}
        after: list[Maker] = []
        called: list[Maker] = []
        forced = {rule.columns[0] for rule in t.facts.any_not_null}
        # A CHECK perfkit cannot read passes to PostgreSQL when the team chose every column it
        # reads: by an override, or as the table's ``per`` key (filled, one parent per row).
        chosen = set(overrides) | (set(t.per.columns) if t.per is not None else set())
        for unread_name, definition, read in t.facts.unread:
            if not read or not read <= chosen:
                self.problem(
                    name,
                    sorted(read)[0] if read else "",
                    "check",
                    f"{name}: perfkit cannot satisfy CHECK {unread_name} ({definition})",
                    f"give {', '.join(sorted(read)) or 'its columns'} an override "
                    "(const, choice, call or sql) whose values pass it",
                )
        self._dated(t)
        for each in table.columns:
            made = self._column(t, each, overrides.get(each.name), fk_columns, forced)
            if made is None:
                continue
            maker, where, addressed = made
            maker = _as_moments(each, maker)
            {"main": t.makers, "after": after, "called": called}[where].append(maker)
            if addressed:
                t.addressed[each.name] = maker
        before = {c for m in [*t.makers, *after] for c in m.columns}
        for maker in after:
            if isinstance(maker, After) and maker.other not in before:
                self.problem(
                    name,
                    maker.column,
                    "override",
                    f"{name}.{maker.column} is counted from {maker.other}, "
                    "which perfkit does not make before it (a call, a server default or no "
                    "column)",
                    "count it from a column perfkit draws, or from the anchor",
                )
                return
        t.makers += _in_dependency_order(after) + called

    def _dated(self, t: _Table) -> None:
        """The table's columns that move with the run day must be dates or timestamps of a
        table that is not partitioned (a restore shifts them in place)."""
        table = t.facts.table
        for c, override in t.spec.columns.items():
            if not override.moves or c not in {x.name for x in table.columns}:
                continue
            if table.column(c).type.base not in _DATED_TYPES:
                self.problem(
                    table.name,
                    c,
                    "dated",
                    f"{table.name}.{c} is {table.column(c).type.sql}: only a date or timestamp "
                    "moves with the run day",
                    "drop dated (or days) from this column",
                )
            elif table.kind == "p":
                self.problem(
                    table.name,
                    c,
                    "dated",
                    f"{table.name}.{c}: the dates of a partitioned table cannot move with the "
                    "run day (a shift could move rows between partitions)",
                    "give the column dated: false",
                )

    def _column(
        self,
        t: _Table,
        column: Column,
        override: ColumnOverride | None,
        fk_columns: set[str],
        forced: set[str],
    ) -> tuple[Maker, str, bool] | None:
        """The maker of one column that is not made with a foreign key: (maker, ``main``,
        ``after`` or ``called``, whether other tables' keys read it); None when COPY leaves
        the column out."""
        name, c = t.facts.table.name, column.name
        compared = {rule.left: rule for rule in t.facts.compared}
        if column.generated:
            return None
        if t.csv_rows is not None and any(c in row for row in t.csv_rows):
            return Listed(c, [row.get(c) for row in t.csv_rows]), "main", True
        if override is not None and override.kind is not None:
            maker = self._override(t, column, override)
            if maker is None:
                return None
            where = {"call": "called"}.get(override.kind, "main")
            if isinstance(maker, After):
                where = "after"
            return maker, where, isinstance(maker, Constant)
        if c in fk_columns and c not in t.injective:
            return None  # made with its foreign key
        share = self._null_share(t, column, override, forced)
        if column.fed_by_sequence:
            seq = next((s for s in self.capture.sequences if s.name == column.sequence), None)
            first, step = (seq.start, seq.increment) if seq is not None else (1, 1)
            return Sequential(c, first, step), "main", True
        space = self._space(t, column)
        if c in t.injective:
            if space is None or space.injective is None or space.size < t.rows:
                self.problem(
                    name,
                    c,
                    "too_few_values",
                    f"{name}.{c} must be distinct, but fewer than {t.rows} values fit it",
                    "lower the table's rows, or widen the column's type or CHECK",
                )
                return None
            self._codec(t, space)
            size = space.size if space.size < 2**62 else max(1, t.rows)
            perm = Permutation.of(size, f"{self.key}/{name}/{c}/perm")
            return Injective(c, perm, space.injective), "main", True
        default = column.default if column.default is not None else column.type.domain_default
        referenced = c in self.referenced.get(name, set())
        if c in compared and space is not None and space.steps is not None:
            rule = compared[c]
            steps = space.steps if _ORDERING_OPS[rule.op] > 0 else [-s for s in space.steps]
            return After(c, rule.right, steps, share), "after", False
        if default is not None and not referenced and _CONSTANT.match(default):
            t.omitted.add(c)
            return None
        if default is not None and _NOW.match(default):
            moment = self._moment(column)
            if moment is not None:  # one value, as a load in one transaction gets
                return Constant(c, moment), "main", True
        uuid_default = default is not None and _RANDOM_UUID.match(default)
        if uuid_default or (column.type.base == "uuid" and space is not None and not referenced):
            return RandomUuids(c, share), "main", False
        if space is None or not space.pool:
            if column.required and default is None:
                self.problem(
                    name,
                    c,
                    "unsupported_type",
                    f"{name}.{c} is {column.type.sql} NOT NULL, and perfkit has no values "
                    "for that type",
                    f"give {name}.{c} an override (const, choice, call or sql)",
                )
            t.omitted.add(c)
            return None
        self._codec(t, space)
        if referenced:
            return Hashed(c, space.pool, key_number(f"{self.key}/{name}/{c}/hash")), "main", True
        drawn = Drawn(c, space.pool, share, key=f"{self.key}/{name}", size=_ring_size(t.rows))
        return drawn, "main", False

    def _moment(self, column: Column) -> Any:
        """The anchor date's midnight (UTC) in ``column``'s type, for ``now()``-like
        defaults; None for other types."""
        last = self.window.last - dt.timedelta(days=self.spec.window.future_days)
        base = column.type.base
        if base == "timestamptz":
            return last
        if base == "timestamp":
            return last.replace(tzinfo=None)
        if base == "date":
            return last.date()
        return None

    def _codec(self, t: _Table, space: Space) -> None:
        if space.codec is not None:
            t.codecs.add(space.codec)

    def _null_share(
        self, t: _Table, column: Column, override: ColumnOverride | None, forced: set[str]
    ) -> float:
        rules = t.facts.rules[column.name]
        if column.required or rules.not_null or column.name in forced:
            return 0.0
        if column.name == t.facts.partition_key:
            return 0.0
        if override is not None and override.null_share is not None:
            return override.null_share
        return self.spec.null_share

    def _override(self, t: _Table, column: Column, override: ColumnOverride) -> Maker | None:
        name, c = t.facts.table.name, column.name
        share = override.null_share or 0.0
        if override.kind == "const":
            self._check_values(t, column, [override.const])
            return Constant(c, override.const, share)
        if override.kind == "choice":
            choice = override.choices
            assert choice is not None
            values = list(choice.values)
            self._check_values(t, column, values)
            weights = choice.weights
            cum = list(itertools.accumulate(weights)) if weights is not None else None
            return Drawn(c, values, share, cum, key=f"{self.key}/{name}", size=_ring_size(t.rows))
        if override.kind == "call":
            fn = self._import(name, c, override.call or "")
            return None if fn is None else Called(c, fn)
        if override.kind == "days":
            return self._days(t, column, override, share)
        assert override.kind == "sql"
        joins = self._joins(t, override)
        if joins is None:
            return None
        t.updates.append(SqlUpdate(name, c, override.sql or "", joins))
        if column.type.base == "uuid":  # a placeholder until the update (NOT NULL holds)
            return RandomUuids(c, 0.0)
        space = self._space(t, column)
        if space is None or not space.pool:
            return Constant(c, None)
        return Drawn(c, space.pool, key=f"{self.key}/{name}", size=_ring_size(t.rows))

    def _days(
        self, t: _Table, column: Column, override: ColumnOverride, share: float
    ) -> Maker | None:
        """A ``days`` override: dates (or moments) drawn uniformly from the anchor's day plus
        ``days``, or the ``relative_to`` column plus a whole number of days from ``days``."""
        name, c = t.facts.table.name, column.name
        assert override.days is not None
        low, high = override.days
        base = column.type.base
        if base not in _DATED_TYPES:
            self.problem(
                name,
                c,
                "override",
                f"{name}.{c} is {column.type.sql}: days goes with a date or timestamp column",
                "use const, choice, call or sql",
            )
            return None
        if override.relative_to is not None:
            other = override.relative_to
            known = {x.name: x for x in t.facts.table.columns}
            if other not in known or other == c or known[other].type.base != base:
                self.problem(
                    name,
                    c,
                    "override",
                    f"{name}.{c}: relative_to names {other!r}, which is not another "
                    f"{column.type.sql} column of the table",
                    "name a column of the same type",
                )
                return None
            steps = [dt.timedelta(days=d) for d in range(low, high + 1)]
            return After(c, other, steps, share)
        first = dt.datetime(self.anchor.year, self.anchor.month, self.anchor.day, tzinfo=dt.UTC)
        start, span = first + dt.timedelta(days=low), dt.timedelta(days=high - low + 1)
        if base == "date":
            pool: list[Any] = [start.date() + dt.timedelta(days=d) for d in range(high - low + 1)]
        else:
            n = min(_DAYS_POOL, int(span.total_seconds()))
            pool = [start + span * i / n for i in range(n)]
            if base == "timestamp":
                pool = [v.replace(tzinfo=None) for v in pool]
        self._check_values(t, column, [pool[0], pool[-1]])
        return Drawn(c, pool, share, key=f"{self.key}/{name}", size=_ring_size(t.rows))

    def _check_values(self, t: _Table, column: Column, values: Sequence[Any]) -> None:
        info = column_info(column)
        rules = t.facts.rules[column.name]
        for value in values:
            wrong = misfit(value, info)
            reason = None if wrong is None else f"{wrong.found}; it needs {wrong.wanted}"
            if reason is None and value is not None and not rules.accepts(value):
                reason = f"{value!r} does not pass the column's CHECK"
            if reason is not None:
                self.problem(
                    t.facts.table.name,
                    column.name,
                    "override",
                    f"the override of {t.facts.table.name}.{column.name} does not fit "
                    f"its {column.type.sql} column: {reason}",
                    "change the override's values",
                )
                return

    def _import(
        self, table: str, column: str, path: str
    ) -> Callable[[Mapping[str, Any]], Any] | None:
        module, _, attribute = path.partition(":")
        try:
            target: Any = importlib.import_module(module)
            for part in attribute.split("."):
                target = getattr(target, part)
        except Exception as exc:  # the team's module: any import error is its own
            self.problem(
                table,
                column,
                "override",
                f"the override of {table}.{column} cannot "
                f"import {path}: {type(exc).__name__}: {exc}",
                "give module:function, importable from the project",
            )
            return None
        if not callable(target):
            self.problem(
                table,
                column,
                "override",
                f"{path} is not callable",
                "give a function (row) -> value",
            )
            return None
        return target  # type: ignore[no-any-return]

    def _joins(
        self, t: _Table, override: ColumnOverride
    ) -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] | None:
        name = t.facts.table.name
        fks = t.facts.foreign_keys
        out = []
        if override.join:
            for alias, via in override.join.items():
                k = next((k for k in fks if k.columns[0] == via), None)
                if k is None or k.references is None:
                    self.problem(
                        name,
                        via,
                        "override",
                        f"{name}: join {alias}: {via} is not a foreign-key column of the table",
                        "name a foreign-key column",
                    )
                    return None
                out.append((alias, k.references, tuple(zip(k.columns, k.ref_columns, strict=True))))
            return tuple(out)
        seen: set[str] = set()
        # a key made by a sql override holds a placeholder until its update: no join over it
        placeholders = {c for c, o in t.spec.columns.items() if o.kind == "sql"}
        for k in sorted(fks, key=lambda k: k.name):
            if k.references is None or k.references in seen or k.references == name:
                continue
            if placeholders & set(k.columns):
                continue
            if not re.search(rf"\b{re.escape(k.references)}\b", override.sql or ""):
                continue  # a parent the expression does not name: no join (nor its NULLs)
            seen.add(k.references)
            out.append(
                (k.references, k.references, tuple(zip(k.columns, k.ref_columns, strict=True)))
            )
        return tuple(out)

    # -- 4. foreign keys -----------------------------------------------------------------------

    def _foreign_keys(self, t: _Table) -> None:
        table = t.facts.table
        name = table.name
        overrides = t.spec.columns
        combos: dict[str, list[Constraint]] = {}
        present = {c for row in t.csv_rows for c in row} if t.csv_rows is not None else set()
        makers: list[Maker] = []
        for k in sorted(t.facts.foreign_keys, key=lambda k: k.name):
            if k.references not in self.tables:
                continue
            if any(c in overrides and overrides[c].kind is not None for c in k.columns):
                continue
            if set(k.columns) <= present or set(k.columns) & t.injective:
                continue
            if any(c in t.addressed for c in k.columns):
                continue  # an earlier foreign key over the same columns makes them
            how = t.fk_how.get(k.name)
            if how is not None and how.startswith("combo:"):
                combos.setdefault(how, []).append(k)
                continue
            reference = self._reference(t, k)
            if reference is None:
                continue
            nullable = not all(table.column(c).required for c in k.columns)
            if k is t.per:
                how = "per"
            elif how is None:
                referenced = bool(set(k.columns) & self.referenced.get(name, set()))
                how = "earlier" if k.references == name else ("hashed" if referenced else "random")
            if reference.size == 0:
                if not nullable:
                    self.problem(
                        name,
                        k.columns[0],
                        "empty_parent",
                        f"{name}.{k.columns[0]} "
                        f"must reference a row of {k.references}, which gets no rows",
                        f"give {k.references} rows",
                    )
                    continue
                makers.append(Constant(k.columns[0], None))
                for extra in k.columns[1:]:
                    makers.append(Constant(extra, None))
                continue
            if how == "unique" and reference.size < t.rows:
                self.problem(
                    name,
                    k.columns[0],
                    "too_few_values",
                    f"{name}.{', '.join(k.columns)} "
                    f"is unique, but {name} gets {t.rows} rows and {k.references} only "
                    f"{reference.size}",
                    f"give {name} at most as many rows as {k.references}",
                )
                continue
            share = 0.0
            if nullable and how in ("random", "earlier", "hashed"):
                first = table.column(k.columns[0])
                share = self._null_share(t, first, overrides.get(first.name), set())
            perm = None
            if how in ("unique", "distinct", "random"):
                perm = Permutation.of(reference.size, f"{self.key}/{name}/{k.name}/perm")
            maker = Parents(
                (reference,),
                how,
                key_number(f"{self.key}/{name}/{k.name}/salt"),
                share,
                nullable,
                perm,
            )
            makers.append(maker)
            if how == "hashed":
                for c in k.columns:
                    t.addressed[c] = _Column(maker, c)
        for unique_name, group in sorted(combos.items()):
            references = [r for r in (self._reference(t, k) for k in group) if r is not None]
            if len(references) != len(group):
                continue
            total = 1
            for r in references:
                total *= r.size
            if total < t.rows:
                self.problem(
                    name,
                    "",
                    "too_few_values",
                    f"{name}: {unique_name.removeprefix('combo:')}"
                    f" needs {t.rows} distinct combinations, only {total} exist",
                    "lower the table's rows",
                )
                continue
            makers.append(
                Parents(
                    tuple(references),
                    "combo",
                    0,
                    perm=Permutation.of(total, f"{self.key}/{name}/{unique_name}/perm"),
                )
            )
        t.makers[:0] = makers

    def _reference(self, t: _Table, k: Constraint) -> Reference | None:
        parent = self.tables[k.references or ""]
        keys = []
        for column in k.ref_columns:
            maker = parent.addressed.get(column)
            if maker is None:
                self.problem(
                    t.facts.table.name,
                    k.columns[0],
                    "override",
                    f"{t.facts.table.name}."
                    f"{k.columns[0]} references {parent.facts.table.name}.{column}, "
                    "whose values perfkit cannot compute from the row number",
                    f"give {parent.facts.table.name}.{column} a sequence, a const, "
                    "or leave it to inference",
                )
                return None
            keys.append(maker)
        return Reference(k.columns, tuple(keys), parent.rows)


@dataclass(frozen=True)
class _Column:
    """One column of a hashed :class:`Parents`: its values computed from the row number."""

    parents: Parents
    column: str

    def at(self, indices: Sequence[int]) -> list[Any]:
        (reference,) = self.parents.references
        salt, size = self.parents.salt, reference.size
        rows = [mix64(i ^ salt) % size for i in indices]
        return reference.keys[reference.columns.index(self.column)].at(rows)


def _as_moments(column: Column, maker: Maker) -> Maker:
    """``maker`` with a timestamp column's values as the loader writes them
    (:func:`~perfkit.datagen.infer.values.moment`): pools and constants converted once,
    other makers value by value."""
    if column.type.base not in MOMENT_TYPES:
        return maker
    if isinstance(maker, Drawn | Hashed):
        return dataclasses.replace(maker, pool=tuple(moment(v) for v in maker.pool))
    if isinstance(maker, Constant):
        return dataclasses.replace(maker, value=moment(maker.value))
    if isinstance(maker, Listed):
        return dataclasses.replace(maker, values=[moment(v) for v in maker.values])
    if isinstance(maker, After):
        steps = [step_micros(s) for s in maker.steps]
        return dataclasses.replace(maker, steps=steps, moments=True)
    if isinstance(maker, Injective | Called):
        return AsMoments(maker)
    return maker


def _ring_size(rows: int) -> int:
    """A drawn column's ring: :data:`~perfkit.datagen.infer.values.RING` values, or fewer for
    a small table (at least 1024, so small tables still mix their values)."""
    return min(RING, max(rows, 1024))


def _in_dependency_order(makers: Sequence[Maker]) -> list[Maker]:
    """``After`` makers after the columns they read."""
    by_column = {m.columns[0]: m for m in makers}
    graph = {
        c: {m.other} & set(by_column) if isinstance(m, After) else set()
        for c, m in by_column.items()
    }
    return [by_column[c] for c in graphlib.TopologicalSorter(graph).static_order()]


def column_info(column: Column) -> ColumnInfo:
    """``column`` as :mod:`perfkit.datagen.validate`'s type rules read it."""
    kind = column.type
    length = kind.typmod - 4 if kind.base in ("varchar", "bpchar") and kind.typmod > 4 else None
    return ColumnInfo(
        name=column.name,
        type_sql=kind.sql,
        type_name=kind.base,
        category=kind.category,
        not_null=column.required,
        has_default=column.default is not None,
        generated=bool(column.generated),
        max_length=length,
        labels=kind.labels if kind.category == "E" else None,
    )


def _from_text(text: str | None, column: Column) -> Any:
    """A CSV field as the column's Python value (empty means NULL)."""
    if text is None or text == "":
        return None
    base = column.type.base
    if base in ("int2", "int4", "int8"):
        return int(text)
    if base == "numeric":
        return Decimal(text)
    if base in ("float4", "float8"):
        return float(text)
    if base == "bool":
        if text.lower() not in ("t", "true", "f", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return text.lower() in ("t", "true", "1", "yes")
    if base == "uuid":
        return uuid.UUID(text)
    if base == "date":
        return dt.date.fromisoformat(text)
    if base in ("timestamp", "timestamptz"):
        value = dt.datetime.fromisoformat(text)
        if base == "timestamptz" and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value
    if base in ("json", "jsonb"):
        json.loads(text)
    return text


def make_plan(
    capture: Capture,
    spec: GenerationSpec,
    *,
    seed: int,
    anchor: dt.date,
    scale: float = 1.0,
    numbers: Mapping[str, int] | None = None,
    base_dir: Path | None = None,
) -> Plan:
    """The :class:`Plan` for every data table of ``capture`` (see the module docstring);
    :class:`InferenceError` with every problem found otherwise. ``numbers`` are the scale's
    numbers a count may follow (``{scale: name}``); ``base_dir`` is where relative CSV paths
    start (default: the working folder)."""
    planner = _Planner(
        capture,
        spec,
        seed=seed,
        anchor=anchor,
        scale=scale,
        numbers=numbers or {},
        base_dir=base_dir or Path(),
    )
    order = planner.run()
    if planner.problems:
        raise InferenceError(planner.problems)
    tables = []
    for name in order:
        t = planner.tables[name]
        copied = {c for m in t.makers for c in m.columns}
        columns = tuple(c.name for c in t.facts.table.columns if c.name in copied)
        tables.append(
            TablePlan(
                name=name,
                rows=t.rows,
                columns=columns,
                makers=tuple(t.makers),
                groups=t.groups,
                updates=tuple(t.updates),
                codecs=frozenset(t.codecs),
                seed_key=planner.key,
                per=(t.per.references or "", t.per.columns[0]) if t.per is not None else None,
            )
        )
    parameters: dict[str, Any] = {
        "infer": INFER_VERSION,
        "providers": providers.PROVIDER_VERSION,
        "scale": scale,
        "spec": spec.as_json(),
    }
    if planner.numbers_used:
        parameters["numbers"] = dict(sorted(planner.numbers_used.items()))
    plan = Plan(
        tables=tuple(tables),
        parameters=parameters,
        cut=frozenset(planner.cut),
    )
    _check_calls(capture, plan, planner)
    return plan


def _check_calls(capture: Capture, plan: Plan, planner: _Planner) -> None:
    """Sample rows of tables with ``call`` overrides; their values must fit the columns."""
    for table_plan in plan.tables:
        calls = [m for m in table_plan.makers if isinstance(m, Called)]
        if not calls:
            continue
        table = capture.table(table_plan.name)
        t = planner.tables[table_plan.name]
        sample = dataclasses.replace(table_plan, rows=min(table_plan.rows, SAMPLE_ROWS))
        try:
            rows = list(sample.generate())
        except Exception as exc:  # the team's code: any error is its own
            planner.problem(
                table.name,
                calls[0].column,
                "override",
                f"the override of "
                f"{table.name}.{calls[0].column} failed: {type(exc).__name__}: {exc}",
                "fix the function",
            )
            break
        for maker in calls:
            position = table_plan.columns.index(maker.column)
            planner._check_values(t, table.column(maker.column), [r[position] for r in rows])
    if planner.problems:
        raise InferenceError(planner.problems)
