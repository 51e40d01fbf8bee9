"""The text of the scales.yaml ``invoke init`` writes (:mod:`perfkit.init`): the header with
the foreign-key graph, the scales, and ``app`` with every table's starting cardinality and,
as comments, how perfkit fills each column (with examples)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from perfkit.config import Config
from perfkit.datagen.infer.model import Plan, Problem, TablePlan
from perfkit.datagen.infer.values import (
    After,
    Called,
    Constant,
    Drawn,
    Hashed,
    Injective,
    Listed,
    Parents,
    RandomUuids,
    Sequential,
    from_moment,
)
from perfkit.ddl import Capture
from perfkit.ddl.model import Column, Constraint

#: The scales a new file starts with: name -> (offices, frequency).
STARTING_SCALES = {"small": (1, "every-commit"), "medium": (10, "daily")}
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Words YAML 1.1 reads as something else than text.
_YAML_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"])
#: (table, column) -> why perfkit gave it ``const: null``.
Fixed = dict[tuple[str, str], str]


def render(
    cfg: Config,
    capture: Capture,
    plan: Plan,
    *,
    output: Path,
    name: str,
    locale: str,
    fixed: Fixed,
    todo: Sequence[Problem],
) -> str:
    """scales.yaml's text (see the module docstring)."""
    source = _source_lines(cfg, output)
    out = [
        f"# perfkit's configuration for {name}, written by `invoke init` from its schema",
        f"# ({source[0].strip()}) on {dt.date.today().isoformat()}.",
        "# Every table is filled with data inferred from the catalogue (app.recipe: null);",
        "# app.data says how many rows each table gets, and which columns you know better.",
        "# Inference rules, the cardinality language and overrides: perfkit's",
        "# docs/test-data.md; every key: docs/configuration.md.",
        "#",
        *_graph(capture, plan),
    ]
    if todo:
        out += [
            "#",
            "# TO DO before `invoke seed` works: perfkit cannot fill these on its own; give each",
            "# an override under app.data.tables.<table>.columns (const, choice, call or sql):",
            *(f"#   {_one_line(p.message)}" for p in todo),
        ]
    out += ["", "version: 1", "scales:"]
    for scale, (offices, frequency) in STARTING_SCALES.items():
        out += [
            f"  {scale}:",
            f"    offices: {offices}  # multiplies the root tables' rows",
            f"    frequency: {frequency}",
        ]
    out += [
        "database:",
        f"  name: {name}_perf_test",
        "app:",
        f"  name: {name}",
        *_app_settings(cfg, output),
        "  schema:",
        *source,
        "  recipe: null  # no recipe: every table's data is inferred",
        "  data:",
        f"    locale: {_scalar(locale)}",
        "    default_rows: 100  # a root table without rows",
        "    default_count: 3  # children per parent for a child table without count",
        "    null_share: 0.1",
        "    tables:",
    ]
    for table in plan.tables:
        out += _table_lines(capture, plan, table, fixed)
    planned = {t.name for t in plan.tables}
    for left in capture.data_tables:
        if left.name not in planned:  # a table with a problem left (see TO DO)
            out.append(f"      {_key(left.name)}:  # not planned yet: see TO DO at the top")
            out += _unplanned_cardinality(capture, left.name)
    biggest = max(plan.tables, key=lambda t: t.rows).name if plan.tables else None
    out += ["  workloads:"]
    out += [
        "    rows:  # a starter: replace it with your application's code (docs/configuration.md)",
        '      call: "perfkit.starter:count_rows"',
        f"      kwargs: {{table: {_scalar(biggest or capture.data_tables[0].name)}}}",
        "  default_workload: rows",
    ]
    return "\n".join(out) + "\n"


def _source_lines(cfg: Config, output: Path) -> list[str]:
    """``app.schema`` as the new file says it (paths relative to the file's folder)."""
    schema = cfg.app.schema
    lines: list[str] = []
    if schema.sql is not None:
        lines.append(f"    sql: {_scalar(_relative(schema.sql, output))}")
    elif schema.migrations is not None:
        m = schema.migrations
        lines.append("    migrations:")
        lines.append(f"      command: {json.dumps(list(m.command))}")
        if m.cwd is not None:
            lines.append(f"      cwd: {_scalar(_relative(m.cwd, output))}")
    else:
        lines.append(f"    metadata: {_scalar(schema.metadata_path)}")
    if schema.tables is not None:
        lines.append(f"    tables: {json.dumps(list(schema.tables))}")
    return lines


def _app_settings(cfg: Config, output: Path) -> list[str]:
    """The ``app`` keys besides the schema that the current configuration sets (the
    application's folder, its settings at import, its driver)."""
    app = cfg.app
    lines = []
    if app.import_root is not None:
        lines.append(f"  import_root: {_scalar(_relative(app.import_root, output))}")
    if app.requirements is not None:
        lines.append(f"  requirements: {_scalar(_relative(app.requirements, output))}")
    if app.env:
        lines.append(f"  env: {json.dumps(dict(app.env))}")
    if app.database_env:
        lines.append(f"  database_env: {json.dumps(list(app.database_env))}")
    if app.driver != "asyncpg":
        lines.append(f"  driver: {app.driver}")
    return lines


def _relative(path: Path, output: Path) -> str:
    return os.path.relpath(path.absolute(), output.parent)


def _graph(capture: Capture, plan: Plan) -> list[str]:
    """The foreign-key graph as comment lines, parents first."""
    lines = ["# Foreign keys, parents first (a table -> the tables it references):"]
    cut_any = False
    planned = [t.name for t in plan.tables]
    # the planned tables parents first, then those a problem left unplanned (TO DO)
    names = planned + [t.name for t in capture.data_tables if t.name not in set(planned)]
    for name in names:
        refs = []
        for k in _foreign_keys(capture, name):
            mark = "*" if (name, k.name) in plan.cut else ""
            cut_any = cut_any or bool(mark)
            refs.append("itself" if k.references == name else f"{k.references}{mark}")
        shown = ", ".join(dict.fromkeys(refs))
        lines.append(f"#   {name}" + (f" -> {shown}" if shown else ""))
    if cut_any:
        lines.append("#   (* a cycle's edge: filled with the others, the key added after the load)")
    return lines


def _unplanned_cardinality(capture: Capture, name: str) -> list[str]:
    """A table the plan left out: per its first NOT NULL foreign key to another table (one
    row per parent when that key is unique), else a root of 100 rows."""
    table = capture.table(name)
    uniques = [set(k.columns) for k in table.constraints if k.kind in ("p", "u")]
    for k in sorted(_foreign_keys(capture, name), key=lambda k: k.name):
        if k.references == name or not all(table.column(c).required for c in k.columns):
            continue
        count = 1 if set(k.columns) in uniques else 3
        return [
            f"        per: {_key(k.references or '')}",
            f"        via: {_key(k.columns[0])}",
            f"        count: {count}",
        ]
    return ["        rows: 100"]


def _foreign_keys(capture: Capture, table: str) -> list[Constraint]:
    """The foreign keys of ``table`` and of its partitions (a key each partition repeats,
    once)."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for part in (capture.table(table), *capture.partitions(table)):
        for k in part.foreign_keys:
            ident = (k.columns, k.references)
            if k.references is not None and ident not in seen:
                seen.add(ident)
                out.append(k)
    return out


def _table_lines(capture: Capture, plan: Plan, table: TablePlan, fixed: Fixed) -> list[str]:
    t = capture.table(table.name)
    out = [f"      {_key(table.name)}:  # {table.rows:,} rows at offices: 1"]
    if table.per is None:
        out.append("        rows: 100")
    else:
        parent, via = table.per
        count = table.groups.fixed if table.groups is not None else None
        out += [
            f"        per: {_key(parent)}",
            f"        via: {_key(via)}",
            f"        count: {count if count is not None else 3}  "
            "# or {uniform: [a, b]}, {zipf: {s, max}}, {pareto: {alpha, max}}, {scale: name}",
        ]
    own = {c: why for (tn, c), why in fixed.items() if tn == table.name}
    if own:
        out.append("        columns:")
        for name, why in own.items():
            out.append(
                f"          {_key(name)}: {{const: null}}  # {_one_line(why, 70)}: NULL for "
                "now; give values that pass it"
            )
    partitions = capture.partitions(table.name)
    if partitions:
        names = ", ".join(p.name for p in partitions)
        out.append(f"        # partitions (rows go through {table.name}): {names}")
    out.append("        # columns as perfkit fills them:")
    made = {c: m for m in table.makers for c in m.columns}
    width = max((len(c.name) for c in t.columns), default=0)
    for column in t.columns:
        how = _describe(_foreign_keys(capture, t.name), column, made.get(column.name))
        out.append(f"        #   {column.name.ljust(width)}  {column.type.sql}: {how}")
    return out


def _describe(foreign_keys: Sequence[Constraint], column: Column, maker: object) -> str:
    """How perfkit fills ``column`` (its maker, in words), with examples."""
    share = float(getattr(maker, "null_share", 0.0) or 0.0)
    nulls = f", {share:.0%} NULL" if share else ""
    if maker is None:
        if column.generated:
            return f"generated ({column.default})"
        if column.default is not None:
            return f"the server's default ({_one_line(column.default, 40)})"
        return "NULL"
    if isinstance(maker, Parents):
        refs = [k.references for k in foreign_keys if column.name in k.columns]
        return f"a row of {', '.join(dict.fromkeys(r for r in refs if r))}{nulls}"
    if isinstance(maker, Sequential):
        return f"sequential from {maker.first}"
    if isinstance(maker, Injective):
        return f"unique by construction, e.g. {_examples(maker.at(range(2)))}"
    if isinstance(maker, Drawn | Hashed):
        return f"drawn, e.g. {_examples(maker.pool)}{nulls}"
    if isinstance(maker, Listed):
        return f"listed, e.g. {_examples(maker.values)}"
    if isinstance(maker, Constant):
        return f"always {_short(maker.value)}{nulls}"
    if isinstance(maker, RandomUuids):
        return f"seeded random UUIDs{nulls}"
    if isinstance(maker, After):
        return f"after {maker.other} (a CHECK compares them){nulls}"
    if isinstance(maker, Called):
        return "your call override"
    return type(maker).__name__


def _examples(values: Iterable[Any]) -> str:
    shown = []
    for value in values:
        if value is None:
            continue
        shown.append(_short(value))
        if len(shown) == 2:
            break
    return ", ".join(shown) or "(none)"


def _short(value: Any, limit: int = 28) -> str:
    if isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], int):
        value = from_moment(value).isoformat(timespec="seconds")  # a timestamp on its way
    text = repr(value) if isinstance(value, str) else str(value)
    return _one_line(text, limit)


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _key(name: str) -> str:
    """``name`` as YAML (a key or a value): as it is when plain, else quoted."""
    plain = _PLAIN_KEY.fullmatch(name) and name.lower() not in _YAML_WORDS
    return name if plain else json.dumps(name)


_scalar = _key
