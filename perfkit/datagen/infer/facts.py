"""Facts about each table a planner needs: its keys (partitions' included), the CHECKs it can
follow and those it cannot, where its partitions put rows; the order tables are made in, and
how many children each parent gets.
"""

from __future__ import annotations

import graphlib
import itertools
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from perfkit.datagen.infer.checks import AnyNotNull, ColumnRules, Compare, columns_read, read_check
from perfkit.datagen.infer.columns import Partitions
from perfkit.datagen.infer.model import Problem
from perfkit.datagen.infer.values import Groups
from perfkit.dataspec import Distribution
from perfkit.ddl.model import Capture, Constraint, Table

_EXCLUDE = re.compile(r"(\w+) WITH (\S+?)[,)]")


@dataclass
class TableFacts:
    table: Table
    partitions: tuple[Table, ...]
    foreign_keys: list[Constraint]
    #: (name, columns) of every unique key, exclusion '=' keys included.
    uniques: list[tuple[str, tuple[str, ...]]]
    #: (name, ranged column) of exclusion constraints made safe by disjoint ranges.
    disjoint: list[tuple[str, str]]
    rules: dict[str, ColumnRules]
    #: (constraint name, definition, columns read) of CHECKs perfkit cannot follow.
    unread: list[tuple[str, str, set[str]]]
    compared: list[Compare]
    any_not_null: list[AnyNotNull]
    partition_key: str | None = None
    partition_info: Partitions | None = None


def table_facts(capture: Capture, table: Table, problems: list[Problem]) -> TableFacts:
    partitions = _all_partitions(capture, table.name)
    everything = (table, *partitions)
    seen: set[tuple[Any, ...]] = set()
    fks: list[Constraint] = []
    uniques: list[tuple[str, tuple[str, ...]]] = []
    disjoint: list[tuple[str, str]] = []
    checks: list[Constraint] = []
    for part in everything:
        for k in part.constraints:
            if k.kind == "f":
                ident = (k.columns, k.references, k.ref_columns)
                if ident not in seen:
                    seen.add(ident)
                    fks.append(k)
            elif k.kind in ("p", "u"):
                uniques.append((k.name, k.columns))
            elif k.kind == "c" and k.parent_index is None:
                checks.append(k)
            elif k.kind == "x" and k.parent_index is None:
                _exclusion(table, k, uniques, disjoint, problems)
        for index in part.indexes:
            if index.unique and index.parent is None:
                columns = _index_columns(index.keys, index.key_columns)
                if columns is None:
                    problems.append(
                        Problem(
                            table.name,
                            "",
                            "not_unique",
                            f"{table.name}: perfkit cannot make the unique index {index.name} "
                            f"({', '.join(index.keys)}) unique",
                            "give the columns it reads an override with distinct values",
                        )
                    )
                else:
                    uniques.append((index.name, columns))
    rules = {c.name: ColumnRules(not_null=c.required) for c in table.columns}
    unread: list[tuple[str, str, set[str]]] = []
    compared: list[Compare] = []
    any_not_null: list[AnyNotNull] = []
    for column in table.columns:
        for definition in column.type.domain_checks:
            read = read_check(definition, value_column=column.name)
            if read is None:
                unread.append((f"domain {column.type.domains[0]}", definition, {column.name}))
                continue
            for rule in read:
                rules[column.name].add(rule)
    for k in checks:
        read = read_check(k.definition)
        if read is None:
            unread.append((k.name, k.definition, columns_read(k.definition)))
            continue
        for rule in read:
            if isinstance(rule, Compare):
                compared.append(rule)
            elif isinstance(rule, AnyNotNull):
                any_not_null.append(rule)
            elif rule.column in rules:
                rules[rule.column].add(rule)
    facts = TableFacts(
        table, partitions, fks, uniques, disjoint, rules, unread, compared, any_not_null
    )
    _partitioning(table, partitions, facts)
    return facts


def _all_partitions(capture: Capture, name: str) -> tuple[Table, ...]:
    out: list[Table] = []
    for child in capture.partitions(name):
        out.append(child)
        out += _all_partitions(capture, child.name)
    return tuple(out)


def _index_columns(keys: Sequence[str], columns: Sequence[str | None]) -> tuple[str, ...] | None:
    """The columns a unique index makes unique; ``lower(col)``, ``upper(col)`` and
    ``btrim(col)`` count as ``col`` (an injective text stays injective under them)."""
    out = []
    for key, column in zip(keys, columns, strict=True):
        if column is not None:
            out.append(column)
            continue
        match = re.fullmatch(r"(?:lower|upper|btrim|trim)\(\(?(\w+)\)?(?:::\w+)?\)", key)
        if match is None:
            return None
        out.append(match.group(1))
    return tuple(out)


def _exclusion(
    table: Table,
    k: Constraint,
    uniques: list[tuple[str, tuple[str, ...]]],
    disjoint: list[tuple[str, str]],
    problems: list[Problem],
) -> None:
    elements = _EXCLUDE.findall(k.definition)
    ranged = [c for c, op in elements if op == "&&" and table.column(c).type.category == "R"]
    if ranged:
        disjoint.append((k.name, ranged[0]))
    elif elements and all(op == "=" for _, op in elements):
        uniques.append((k.name, tuple(c for c, _ in elements)))
    else:
        problems.append(
            Problem(
                table.name,
                "",
                "check",
                f"{table.name}: perfkit cannot satisfy the exclusion constraint {k.name} "
                f"({k.definition})",
                "give the columns it reads overrides that never conflict",
            )
        )


def _partitioning(table: Table, partitions: Sequence[Table], facts: TableFacts) -> None:
    key = table.partition_key
    if key is None:
        return
    match = re.fullmatch(r"(RANGE|LIST) \((\w+)\)", key)
    direct = [p for p in partitions if p.partition_of == table.name]
    if match is None or any(p.partition_bound == "DEFAULT" for p in direct):
        return  # hashed, several columns, or a default partition: any value finds a home
    how, column = match.groups()
    facts.partition_key = column
    bounds = [p.partition_bound or "" for p in direct]
    if how == "LIST":
        values: list[Any] = []
        for bound in bounds:
            inner = re.fullmatch(r"FOR VALUES IN \((.*)\)", bound)
            if inner is not None:
                values += [_literal(v) for v in _split_literals(inner.group(1))]
        facts.partition_info = Partitions(values=tuple(values))
        return
    ranges = []
    for bound in sorted(bounds):
        inner = re.fullmatch(r"FOR VALUES FROM \((.*)\) TO \((.*)\)", bound)
        if inner is not None:
            ranges.append((_literal(inner.group(1)), _literal(inner.group(2))))
    facts.partition_info = Partitions(ranges=tuple(ranges))


def _split_literals(text: str) -> list[str]:
    return [m.group(0) for m in re.finditer(r"'(?:[^']|'')*'|[^,\s]+", text)]


def _literal(text: str) -> Any:
    text = text.strip()
    if text in ("MINVALUE", "MAXVALUE", "NULL"):
        return None
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


def _weakness(table: Table, k: Constraint) -> tuple[int, int, str, str]:
    nullable = not all(table.column(c).required for c in k.columns)
    return (0 if nullable else 1, 0 if k.deferrable else 1, table.name, k.name)


def make_order(facts: Mapping[str, TableFacts]) -> tuple[list[str], set[tuple[str, str]]]:
    """Tables parents first, and the (child, constraint) edges cut to break cycles."""
    cut: set[tuple[str, str]] = set()
    while True:
        graph = {
            name: {
                k.references
                for k in f.foreign_keys
                if k.references is not None
                and k.references in facts
                and k.references != name
                and (name, k.name) not in cut
            }
            for name, f in facts.items()
        }
        sorter = graphlib.TopologicalSorter({n: sorted(p) for n, p in sorted(graph.items())})
        try:
            return list(sorter.static_order()), cut
        except graphlib.CycleError as exc:
            cycle: list[str] = exc.args[1]
        edges = set(itertools.pairwise(cycle))  # (child, parent): the sorter's cycle order
        candidates = [
            (_weakness(facts[child].table, k), child, k.name)
            for child, parent in edges
            for k in facts[child].foreign_keys
            if k.references == parent and (child, k.name) not in cut
        ]
        _, child, name = min(candidates)
        cut.add((child, name))


def draw_counts(count: Any, parents: int, cap: int | None, key: str) -> Groups:
    def capped(value: int) -> int:
        return value if cap is None else min(value, cap)

    if isinstance(count, int):
        return Groups(parents, capped(count))
    if not isinstance(count, Distribution):
        raise TypeError(f"a count is a number or a Distribution, got {count!r}")
    if count.fixed is not None:
        return Groups(parents, capped(count.fixed))
    rng = random.Random(f"{key}/count")  # noqa: S311 - test data
    if count.uniform is not None:
        low, high = count.uniform
        draws = rng.choices(range(low, high + 1), k=parents)
    elif count.zipf is not None:
        zipf = count.zipf
        weights = [k**-zipf.s for k in range(1, zipf.max + 1)]
        draws = rng.choices(range(1, zipf.max + 1), weights=weights, k=parents)
    else:
        assert count.pareto is not None
        alpha, top = count.pareto.alpha, count.pareto.max
        weights = [k**-alpha - (k + 1) ** -alpha for k in range(1, top)] + [top**-alpha]
        draws = rng.choices(range(1, top + 1), weights=weights, k=parents)
    starts = [0, *itertools.accumulate(capped(d) for d in draws)]
    return Groups(parents, None, starts)
