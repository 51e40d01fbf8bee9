"""Seeding a database with inferred data: ``perfkit seed``'s steps for an application that has
no recipe.

The same contract as :func:`perfkit.datagen.load.seed_database`: under the per-database lock,
the safety rule first; a database that already holds this dataset, unchanged, is left alone
and one holding anything else is refused without ``reset``; then the captured schema is built
in a staging schema, filled from the plan (:func:`perfkit.datagen.infer.fill.fill_database`)
and swapped in with its ``perfkit_dataset`` row, all or nothing; the load's statistics are
recorded for later change checks.

The dataset's identity (:meth:`perfkit.datagen.DatasetInfo.key`) is made of the scale, the
seed, the inference rules' version, the capture's fingerprint (triggers and policies
included), the row counts and the plan's parameters (the spec, the scale's multiplier,
Faker's version): change any and it is another dataset. The anchor date is not part of it (as
for a recipe's dataset): a snapshot made on one day is the same dataset on the next. Inferred
dates are drawn around the anchor of the day they were seeded and stay there; a restore moves
only the recorded anchor to its day. The mode recorded is ``inferred``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from perfkit.config import Scale
from perfkit.datagen import load
from perfkit.datagen.changes import record_load_baseline
from perfkit.datagen.errors import SeedFailedError
from perfkit.datagen.infer.fill import fill_database
from perfkit.datagen.infer.model import INFER_VERSION, Plan
from perfkit.datagen.infer.plan import make_plan
from perfkit.datagen.metadata import DatasetInfo
from perfkit.dataspec import SCALE_NUMBERS, GenerationSpec
from perfkit.db import connect, statement_failures
from perfkit.ddl import Capture
from perfkit.locks import exclusive
from perfkit.measure import Stopwatch
from perfkit.safety import ensure_test_database

if TYPE_CHECKING:
    from perfkit.run import Run

#: The mode an inferred dataset records.
INFERRED_MODE = "inferred"


def scale_numbers(scale: Scale) -> dict[str, int]:
    """The numbers of ``scale`` a count may follow (``{scale: name}``): its own
    (:data:`perfkit.dataspec.SCALE_NUMBERS`) and its ``counts``."""
    return {**{n: int(getattr(scale, n)) for n in SCALE_NUMBERS}, **scale.counts}


def planned_inferred(
    capture: Capture,
    spec: GenerationSpec,
    scale: Scale,
    *,
    seed: int,
    anchor: dt.date,
    base_dir: Path | None = None,
) -> tuple[Plan, DatasetInfo]:
    """The plan for ``scale`` (its ``offices`` multiply the root tables' rows) and the
    :class:`DatasetInfo` seeding it writes (``created_at`` = now; the fingerprint the
    capture's, checked again on the tables as built)."""
    plan = make_plan(
        capture,
        spec,
        seed=seed,
        anchor=anchor,
        scale=float(scale.offices),
        numbers=scale_numbers(scale),
        base_dir=base_dir,
    )
    info = DatasetInfo(
        scale=scale.name,
        seed=seed,
        mode=INFERRED_MODE,
        generator_version=INFER_VERSION,
        anchor_date=anchor,
        schema_fingerprint=capture.fingerprint,
        row_counts=types.MappingProxyType(plan.row_counts),
        created_at=dt.datetime.now(dt.UTC),
        parameters=types.MappingProxyType(dict(plan.parameters)),
    )
    return plan, info


async def seed_inferred(
    run: Run,
    scale: Scale,
    *,
    capture: Capture,
    spec: GenerationSpec,
    seed: int | None = None,
    anchor: dt.date | None = None,
    reset: bool = False,
    confirm: str | None = None,
    skip_uncarried: bool = False,
    progress: load.SeedProgress | None = None,
) -> load.SeedReport:
    """Fill the run's database with ``scale``'s inferred dataset, all or nothing (see the
    module docstring). ``seed`` defaults to ``cfg.data.seed``, ``anchor`` to the run day."""
    cfg, db = run.cfg, run.db
    url = str(db.url)
    total = Stopwatch()
    shown = progress or load.SeedProgress()
    day = anchor or run.today
    plan, wanted = planned_inferred(
        capture,
        spec,
        scale,
        seed=cfg.data.seed if seed is None else seed,
        anchor=day,
        base_dir=cfg.source.parent,
    )
    tables = capture.table_names
    phases: dict[str, float] = {}
    conn = await connect(url, pin=db.pin, server_settings=load._SESSION)
    try:
        async with exclusive(url, on_wait=shown.note):
            with load._phase("check", phases, shown):
                await ensure_test_database(conn, cfg, confirm=confirm)
                existing = await load.check_existing(
                    conn, tables, wanted, reset=reset, compare_anchor=anchor is not None
                )
                if existing is not None:
                    return load.SeedReport(
                        info=existing,
                        rows=existing.row_counts,
                        phases=phases,
                        seconds=total.stop(),
                        created=False,
                    )
            report = await fill_database(
                url,
                capture,
                plan,
                replace=reset,
                skip_uncarried=skip_uncarried,
                progress=shown,
                dataset=wanted,
            )
            phases.update(report.phases)
            try:
                await record_load_baseline(conn, tables, loaders=report.loader_pids)
            except asyncpg.PostgresError as exc:
                shown.note(f"the load's statistics were not recorded ({type(exc).__name__})")
    except statement_failures() as exc:
        raise SeedFailedError.of(
            exc, hint="the database still holds what it held before; fix the cause and retry"
        ) from exc
    finally:
        await load._close_quietly(conn)
    info = dataclasses.replace(wanted, schema_fingerprint=report.fingerprint)
    return load.SeedReport(info=info, rows=report.rows, phases=phases, seconds=total.stop())
