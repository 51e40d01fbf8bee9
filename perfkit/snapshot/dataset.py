"""Is this the right dataset? The checks ``prepare`` and ``snapshot`` share.

A database holds "the right dataset" for a scale when its ``perfkit_dataset`` row names that
scale, the configured seed and data mode, the current generator version and schema
fingerprint, the row counts scales.yaml implies, and it is still the data as loaded
(:func:`changes_problem`): its tables' catalogue has the fingerprint they were built with, the
database and role settings are those of the load, and no change was committed, no table
rewritten or analyzed, no statistics reset (:mod:`perfkit.datagen.changes`, from the counters
and settings recorded after the load; rolled-back changes do not count). A database loaded
before such records existed, or whose record is not its own, is checked by exact row counts
instead (deleted rows are noticed there, updated ones are not), and must have no settings of
its own.

The same checks hold for a recipe's dataset and an inferred one
(:mod:`perfkit.datagen.kinds`); the fingerprint of the tables as they are now is read the way
the dataset's was: the catalogue's (:func:`perfkit.catalog.read_catalog`) for a recipe's, the
capture's (:func:`perfkit.ddl.capture_schema`: triggers, policies, functions included) for an
inferred one.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import asyncpg

from perfkit.app import InferredData
from perfkit.catalog import Catalog, read_catalog
from perfkit.config import Config, Scale
from perfkit.datagen import DatasetInfo, read_dataset_info
from perfkit.datagen.changes import changes_since_load, read_load_baseline
from perfkit.snapshot.manifest import Manifest
from perfkit.sqlnames import quote_ident

if TYPE_CHECKING:
    from perfkit.app import Application
    from perfkit.datagen.recipe import Recipe
    from perfkit.loading import OnRecord
    from perfkit.run import Run


def expected_key(run: Run, scale: Scale) -> str:
    """The dataset key (:meth:`DatasetInfo.key`) that scales.yaml and the run's application
    produce for ``scale``."""
    from perfkit.datagen.kinds import wanted_dataset  # the generators: imported when asked

    return wanted_dataset(run, scale).key()


def dataset_key(cfg: Config, scale: Scale, *, recipe: Recipe, fingerprint: str) -> str:
    """:func:`expected_key` for ``recipe`` and a schema of ``fingerprint`` (commands that never
    build the schema: :func:`perfkit.loading.application_on_record`)."""
    from perfkit.datagen.load import plan_dataset

    return plan_dataset(
        recipe,
        fingerprint=fingerprint,
        scale=scale,
        data=cfg.data,
        seed=cfg.data.seed,
        mode=cfg.data.mode,
        anchor=dt.date.today(),
    ).key()


def key_on_record(run: Run, scale: Scale, record: OnRecord) -> str | None:
    """:func:`expected_key` as the schema's last build left it (``record``): a recipe's, or
    inferred data's as last captured; None when the schema was never built."""
    if record.inferred is not None:
        from perfkit.datagen.kinds import wanted_dataset

        return wanted_dataset(run, scale, data=record.inferred).key()
    if record.schema is None or record.recipe is None:
        return None
    return dataset_key(run.cfg, scale, recipe=record.recipe, fingerprint=record.schema.fingerprint)


def info_problem(info: DatasetInfo | None, run: Run, scale: Scale) -> str | None:
    """Why ``info`` is not the dataset ``run`` wants for ``scale``; None when it is."""
    if info is None:
        return "the database holds no perfkit dataset"
    if info.scale != scale.name:
        return f"the database holds scale {info.scale!r}"
    from perfkit.datagen.kinds import wanted_dataset

    wanted = wanted_dataset(run, scale)
    if info.schema_fingerprint != wanted.schema_fingerprint:
        return f"the data was made for schema {info.schema_fingerprint}"
    if info.generator_version != wanted.generator_version:
        return f"the data was made by generator version {info.generator_version}"
    if info.seed != wanted.seed or info.mode != wanted.mode:
        return f"the data was made with seed {info.seed}, mode {info.mode}"
    if dict(info.row_counts) != dict(wanted.row_counts):
        return "its row counts differ from what scales.yaml asks for"
    if info.key() != wanted.key():
        return "scales.yaml's data settings changed since it was made"
    return None


def manifest_problem(
    manifest: Manifest, run: Run, scale: Scale, *, record: OnRecord | None = None
) -> str | None:
    """Why a snapshot is not the dataset ``run`` wants for ``scale``; None when it is (or,
    with a ``record`` whose schema was never built, when only that could tell)."""
    if manifest.scale != scale.name:
        return f"it holds scale {manifest.scale!r}"
    if record is None:
        fingerprint = run.app.data.fingerprint
    elif record.schema is None:
        return None
    else:
        fingerprint = record.schema.fingerprint
    if manifest.schema_fingerprint != fingerprint:
        return "it was made for another schema"
    key = expected_key(run, scale) if record is None else key_on_record(run, scale, record)
    if key is not None and manifest.dataset_key != key:
        return "scales.yaml's data settings or the generator changed since"
    return None


async def live_fingerprint(conn: asyncpg.Connection, app: Application, catalog: Catalog) -> str:
    """The fingerprint of the application's tables as they are now in ``public``, read the way
    its datasets record theirs: ``catalog``'s (read already) for a recipe's data, a fresh
    capture's for inferred data."""
    data = app.data
    if isinstance(data, InferredData):
        from perfkit.ddl import capture_schema

        captured = await capture_schema(conn, "public", tables=data.capture.table_names)
        return captured.fingerprint
    return catalog.fingerprint


async def count_rows(conn: asyncpg.Connection, app: Application) -> dict[str, int]:
    """Exact row counts of the application's tables."""
    selects = " UNION ALL ".join(
        f"SELECT {i}, count(*) FROM {quote_ident(t)}"  # noqa: S608 - our own table names
        for i, t in enumerate(app.tables)
    )
    rows = await conn.fetch(selects)
    by_index = {int(r[0]): int(r[1]) for r in rows}
    return {t: by_index[i] for i, t in enumerate(app.tables)}


async def database_problem(
    conn: asyncpg.Connection, run: Run, scale: Scale, *, today: dt.date | None = None
) -> tuple[DatasetInfo | None, str | None]:
    """(the dataset info, why the database is not ready for ``scale``, or None when it is).

    The database must hold the dataset ``run`` asks for (:func:`info_problem`), unchanged since
    it was loaded (:func:`changes_problem`); with ``today``, its anchor date must equal it too
    (the dates are current).
    """
    app = run.app
    info = await read_dataset_info(conn, order=app.tables)
    problem = info_problem(info, run, scale)
    if problem is None and info is not None:
        problem = await changes_problem(conn, app, info)
        if problem is None and today is not None and info.anchor_date != today:
            problem = f"its dates are for {info.anchor_date}, not {today}"
    return info, problem


async def changes_problem(
    conn: asyncpg.Connection, app: Application, info: DatasetInfo
) -> str | None:
    """Is this still the dataset ``info`` describes, as it was loaded? Why not, in one phrase;
    None when it is. What "kept" checks, cheaply (no table is scanned when the load left its
    record, :mod:`perfkit.datagen.changes`):

    - the catalogue of the tables (one query, :func:`perfkit.catalog.read_catalog`) has the
      fingerprint the data was built with (``info.schema_fingerprint``): no column, index or
      constraint added, dropped or changed;
    - the settings that apply to the database (``ALTER DATABASE ... SET``, ``ALTER ROLE ...
      SET``) are those of the load;
    - no committed change since the load (rolled-back ones do not count), no table rewritten,
      analyzed or statistics reset; without a record, the exact row counts are those of
      ``info``.
    """
    baseline = await read_load_baseline(conn)
    relations = app.data.relations
    live = await read_catalog(conn, "public", relations)
    fingerprint = await live_fingerprint(conn, app, live)
    if fingerprint != info.schema_fingerprint:
        built = baseline.catalog if baseline is not None else None
        what = live.changes_since(built) if built is not None else []
        shown = "; ".join(what[:3]) + ("; ..." if len(what) > 3 else "")
        return (
            "its tables are not as they were built "
            f"({shown or f'schema {fingerprint}, built as {info.schema_fingerprint}'})"
        )
    check = await changes_since_load(conn, relations, baseline=baseline)
    if check.problem is not None:
        return check.problem
    if not check.known:
        counts = await count_rows(conn, app)
        if counts != {t: int(info.row_counts.get(t, -1)) for t in app.tables}:
            return "its tables were changed since it was made (row counts differ)"
    return None
