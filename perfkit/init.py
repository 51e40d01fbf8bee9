"""``perfkit init``: a first scales.yaml for an application, written from its schema.

:func:`init_config` builds the application's schema its own way (``app.schema``: a SQL file,
migrations or models, in a scratch database on perfkit's server), captures it
(:func:`perfkit.ddl.source.capture_source`), plans inferred data for it with the default
cardinality language (:func:`perfkit.datagen.infer.plan.make_plan`) and writes
``perf/scales.yaml`` (or the path given; an existing file only with ``force``):

- a header: where it came from, and the foreign-key graph, parents first (a cycle's cut edge
  marked: its rows are filled with the others, the key added after the load);
- two scales (``offices`` multiplies the root tables' rows);
- ``app``: the schema source (paths relative to the file), ``recipe: null``, a starter
  workload (:func:`perfkit.starter.count_rows` on the biggest table) and ``app.data``: every
  table with its starting cardinality (``rows`` for a root, ``per``/``via``/``count`` for a
  child) and, as comments, the generator perfkit infers for each column, with examples;
- overrides for what perfkit cannot infer on its own where a safe one exists (a nullable
  column under a CHECK it cannot read gets ``const: null``, with a comment saying so). What is
  left (a NOT NULL column under such a CHECK) is listed in the file and in the report: the
  file loads, but seeding names those columns until they are given an override.

The file is loaded by :func:`perfkit.config.load_config` before it replaces anything, so what
is written is a valid configuration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfkit.config import load_config
from perfkit.datagen.infer.model import InferenceError, Plan, Problem
from perfkit.datagen.infer.plan import make_plan
from perfkit.dataspec import ColumnOverride, GenerationSpec, TableSpec
from perfkit.ddl import Capture
from perfkit.errors import PerfkitError
from perfkit.initfile import Fixed, render

if TYPE_CHECKING:
    from perfkit.run import Run

#: Where ``perfkit init`` writes, relative to the project folder.
DEFAULT_OUTPUT = Path("perf/scales.yaml")
#: How often the planner is asked again after overrides were added for its problems.
_ROUNDS = 5


class ConfigExistsError(PerfkitError):
    """``perfkit init`` would replace a file (exit status 1); ``path`` names it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists; nothing was written", hint="pass --force to replace it")
        self.path = path


@dataclass(frozen=True)
class InitReport:
    """What :func:`init_config` wrote."""

    path: Path
    tables: int
    #: Rows the small scale seeds (``offices: 1``).
    rows: int
    #: Columns given an override so that the file seeds (``table.column``).
    fixed: tuple[str, ...]
    #: Problems left for the team: seeding names them until they are given an override.
    todo: tuple[str, ...]

    def lines(self) -> list[str]:
        out = [f"wrote {self.path}: {self.tables} tables, {self.rows:,} rows at offices: 1"]
        out += [f"  override added so that it seeds: {c} (see its comment)" for c in self.fixed]
        out += [f"  to do before seeding: {t}" for t in self.todo]
        return out

    def to_json(self) -> dict[str, Any]:
        """``path``, ``tables``, ``rows`` (at ``offices: 1``), ``fixed`` (``table.column``
        given an override) and ``todo`` (what seeding names until it has one)."""
        return {
            "path": str(self.path),
            "tables": self.tables,
            "rows": self.rows,
            "fixed": list(self.fixed),
            "todo": list(self.todo),
        }


def init_config(
    run: Run,
    *,
    output: Path,
    force: bool = False,
    name: str | None = None,
    locale: str = "en_US",
    today: dt.date | None = None,
) -> InitReport:
    """Write a scales.yaml for the application whose schema the run's ``app.schema`` names
    (see the module docstring) at ``output``, building it on the run's server. ``name`` is the
    application's (default: ``app.name`` unless it is the sample's, else the current
    folder's)."""
    output = output.absolute()
    if output.exists() and not force:
        raise ConfigExistsError(output)
    from perfkit.ddl.source import capture_source
    from perfkit.loading import models_metadata

    cfg = run.cfg
    metadata = models_metadata(run) if cfg.app.schema.kind == "metadata" else None
    capture = capture_source(cfg, metadata, db=run.db)
    spec = GenerationSpec(locale=locale)
    plan, fixed, todo = _plan(capture, spec, today or dt.date.today(), cfg.source.parent)
    app_name = _app_name(name or (cfg.app.name if cfg.app.name != "welfare" else Path.cwd()))
    text = render(
        cfg,
        capture,
        plan,
        output=output,
        name=app_name,
        locale=locale,
        fixed=fixed,
        todo=todo,
    )
    _write_checked(output, text)
    return InitReport(
        path=output,
        tables=len(plan.tables),
        rows=sum(t.rows for t in plan.tables),
        fixed=tuple(f"{t}.{c}" for t, c in fixed),
        todo=tuple(p.message for p in todo),
    )


def _app_name(value: object) -> str:
    raw = value.name if isinstance(value, Path) else str(value)
    cleaned = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else f"app_{cleaned or 'under_test'}"


def _plan(
    capture: Capture, spec: GenerationSpec, today: dt.date, base_dir: Path
) -> tuple[Plan, Fixed, list[Problem]]:
    """The plan with the default spec, after ``const: null`` overrides for nullable columns
    perfkit cannot fill (their reason kept); problems left over are returned, and the plan of
    every table that has none."""
    fixed: Fixed = {}
    for _ in range(_ROUNDS):
        try:
            plan = make_plan(capture, _with(spec, fixed), seed=1, anchor=today, base_dir=base_dir)
        except InferenceError as exc:
            added = _fixes(capture, exc.details, fixed)
            if not added:
                return _partial(capture, spec, fixed, today, base_dir, exc.details)
            continue
        return plan, fixed, []
    raise RuntimeError("init: the planner kept finding problems")  # pragma: no cover


def _fixes(capture: Capture, problems: Sequence[Problem], fixed: Fixed) -> bool:
    """Add ``const: null`` for each problem on a nullable column; whether any was added."""
    added = False
    for p in problems:
        if not p.column or (p.table, p.column) in fixed:
            continue
        try:
            column = capture.table(p.table).column(p.column)
        except (KeyError, StopIteration):
            continue
        if not column.required and not column.generated:
            fixed[(p.table, p.column)] = p.message
            added = True
    return added


def _partial(
    capture: Capture,
    spec: GenerationSpec,
    fixed: Fixed,
    today: dt.date,
    base_dir: Path,
    problems: Sequence[Problem],
) -> tuple[Plan, Fixed, list[Problem]]:
    """Problems no override fixes: the plan is made without the problem columns' checks
    counting (each is still listed), so the file can describe every table."""
    # A table-level or NOT NULL problem stays; the rest of the schema is described from a
    # plan of the tables free of problems.
    bad = {p.table for p in problems}
    for _ in range(len(capture.data_tables) + 1):
        keep = _closed(capture, bad)
        tables = tuple(t for t in capture.tables if (t.partition_of or t.name) in keep)
        smaller = dataclasses.replace(capture, tables=tables, views=())
        try:
            plan = make_plan(smaller, _with(spec, fixed), seed=1, anchor=today, base_dir=base_dir)
        except InferenceError as exc:  # the smaller schema has problems of its own: drop them
            more = {p.table for p in exc.details} - bad
            if not more:
                break
            bad |= more
            continue
        return plan, fixed, list(problems)
    return Plan(tables=(), parameters={}), fixed, list(problems)


def _closed(capture: Capture, bad: set[str]) -> set[str]:
    """The data tables free of problems whose foreign keys reach only such tables, however
    far (a table referencing a dropped one is dropped too)."""
    keep = {t.name for t in capture.data_tables} - bad
    while True:
        dropped = {
            t.name
            for t in capture.data_tables
            if t.name in keep
            and any(k.references not in keep for k in t.foreign_keys if k.references != t.name)
        }
        if not dropped:
            return keep
        keep -= dropped


def _with(spec: GenerationSpec, fixed: Fixed) -> GenerationSpec:
    tables: dict[str, dict[str, ColumnOverride]] = {}
    for table, column in fixed:
        tables.setdefault(table, {})[column] = ColumnOverride(const=None)
    return GenerationSpec(
        locale=spec.locale,
        default_rows=spec.default_rows,
        default_count=spec.default_count,
        null_share=spec.null_share,
        window=spec.window,
        tables={t: TableSpec(columns=c) for t, c in tables.items()},
    )


def _write_checked(output: Path, text: str) -> None:
    """Write ``text`` to ``output`` once it loads as a configuration (in the same folder, so
    relative paths resolve alike), replacing the file in one rename."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scales.", suffix=".yaml", dir=output.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        load_config(tmp, env={})
        Path(tmp).replace(output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
