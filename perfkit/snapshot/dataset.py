"""Is this the right dataset? The checks ``prepare`` and ``snapshot`` share.

A database holds "the right dataset" for a scale when its ``perfkit_dataset`` row names that
scale, the configured seed and data mode, the current generator version and schema
fingerprint, the row counts scales.yaml implies, and its tables were not changed since they
were loaded: no row inserted, updated or deleted, no table rewritten, no statistics reset
(:mod:`perfkit.datagen.changes`, from the counters recorded after the load). A database
loaded before such records existed, or whose record is not its own, is checked by exact row
counts instead (deleted rows are noticed there, updated ones are not).
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from perfkit.app import Application, load_application
from perfkit.config import Config, Scale
from perfkit.datagen import DatasetInfo, planned_dataset, read_dataset_info
from perfkit.datagen.changes import changes_since_load
from perfkit.schema import quote_ident
from perfkit.snapshot.manifest import Manifest


def expected_key(cfg: Config, scale: Scale) -> str:
    """The dataset key (:meth:`DatasetInfo.key`) that scales.yaml and the application
    produce for ``scale``."""
    return planned_dataset(
        load_application(cfg),
        scale,
        cfg.data,
        seed=cfg.data.seed,
        mode=cfg.data.mode,
        anchor=dt.date.today(),
    ).key()


def info_problem(info: DatasetInfo | None, cfg: Config, scale: Scale) -> str | None:
    """Why ``info`` is not the dataset ``cfg`` wants for ``scale``; None when it is."""
    app = load_application(cfg)
    if info is None:
        return "the database holds no perfkit dataset"
    if info.scale != scale.name:
        return f"the database holds scale {info.scale!r}"
    if info.schema_fingerprint != app.schema.fingerprint:
        return f"the data was made for schema {info.schema_fingerprint}"
    if info.generator_version != app.recipe.version:
        return f"the data was made by generator version {info.generator_version}"
    if info.seed != cfg.data.seed or info.mode != cfg.data.mode:
        return f"the data was made with seed {info.seed}, mode {info.mode}"
    if dict(info.row_counts) != app.recipe.row_counts(scale, cfg.data, cfg.data.mode):
        return "its row counts differ from what scales.yaml asks for"
    if info.key() != expected_key(cfg, scale):
        return "scales.yaml's data settings changed since it was made"
    return None


def manifest_problem(manifest: Manifest, cfg: Config, scale: Scale) -> str | None:
    """Why a snapshot is not the dataset ``cfg`` wants for ``scale``; None when it is."""
    if manifest.scale != scale.name:
        return f"it holds scale {manifest.scale!r}"
    if manifest.schema_fingerprint != load_application(cfg).schema.fingerprint:
        return "it was made for another schema"
    if manifest.dataset_key != expected_key(cfg, scale):
        return "scales.yaml's data settings or the generator changed since"
    return None


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
    conn: asyncpg.Connection, cfg: Config, scale: Scale, *, today: dt.date | None = None
) -> tuple[DatasetInfo | None, str | None]:
    """(the dataset info, why the database is not ready for ``scale``, or None when it is).

    With ``today``, the anchor date must equal it too (the dates are current).
    """
    app = load_application(cfg)
    info = await read_dataset_info(conn, order=app.tables)
    problem = info_problem(info, cfg, scale)
    if problem is None and info is not None:
        check = await changes_since_load(conn, app.tables)
        if check.known:
            problem = check.problem
        else:
            counts = await count_rows(conn, app)
            if counts != {t: int(info.row_counts.get(t, -1)) for t in app.tables}:
                problem = "its tables were changed since it was made (row counts differ)"
        if problem is None and today is not None and info.anchor_date != today:
            problem = f"its dates are for {info.anchor_date}, not {today}"
    return info, problem
