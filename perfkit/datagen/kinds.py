"""A dataset made by a recipe or inferred from the catalogue: the steps that differ, chosen in
one place.

An application's data (:attr:`perfkit.app.Application.data`) is a
:class:`~perfkit.app.RecipeData` or an :class:`~perfkit.app.InferredData`. Everything that
checks, snapshots, restores or guards a dataset goes through what both share (its tables, its
fingerprint, the :class:`~perfkit.datagen.metadata.DatasetInfo` a seed writes); the two steps
that are really different are here:

- :func:`wanted_dataset`: the ``DatasetInfo`` seeding a scale would write now (its key is what
  snapshots and templates are filed under);
- :func:`seed_dataset`: seed it (:func:`perfkit.datagen.load.seed_database` with the recipe,
  :func:`perfkit.datagen.infer.seed.seed_inferred` without).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from perfkit.config import Scale
from perfkit.datagen.infer.seed import planned_inferred, seed_inferred
from perfkit.datagen.load import SeedProgress, SeedReport, plan_dataset, seed_database
from perfkit.datagen.metadata import DatasetInfo

if TYPE_CHECKING:  # perfkit.app re-exports the recipe types: named here, never imported
    from perfkit.app import DataDefinition, InferredData
    from perfkit.config import Config
    from perfkit.run import Run

#: Inferred plans' DatasetInfo, per inputs: making a plan samples values, so the checks that
#: ask for the wanted dataset several times per command make it once.
_PLANNED: dict[tuple[str, ...], DatasetInfo] = {}


def wanted_dataset(
    run: Run,
    scale: Scale,
    *,
    data: DataDefinition | None = None,
    anchor: dt.date | None = None,
) -> DatasetInfo:
    """The :class:`DatasetInfo` that seeding ``scale`` as scales.yaml says writes (seed and
    mode from the run's config; ``anchor`` default today; ``created_at`` now). ``data``
    (default: the run's application's) may be what a command that never builds the schema
    knows."""
    cfg = run.cfg
    if data is None:
        data = run.app.data
    day = anchor or dt.date.today()
    if data.kind == "inferred":
        return _planned_inferred(cfg, scale, data, anchor=day)
    return plan_dataset(
        data.recipe,
        fingerprint=data.fingerprint,
        scale=scale,
        data=cfg.data,
        seed=cfg.data.seed,
        mode=cfg.data.mode,
        anchor=day,
    )


def _planned_inferred(
    cfg: Config, scale: Scale, data: InferredData, *, anchor: dt.date
) -> DatasetInfo:
    capture = data.capture
    key = (
        capture.fingerprint,
        repr(data.spec),
        repr(scale),
        str(cfg.data.seed),
        anchor.isoformat(),
        str(cfg.source.parent),
    )
    if key not in _PLANNED:
        _, info = planned_inferred(
            capture,
            data.spec,
            scale,
            seed=cfg.data.seed,
            anchor=anchor,
            base_dir=cfg.source.parent,
        )
        _PLANNED[key] = info
    return _PLANNED[key]


async def seed_dataset(
    run: Run,
    scale: Scale,
    *,
    anchor: dt.date | None = None,
    reset: bool = False,
    confirm: str | None = None,
    progress: SeedProgress | None = None,
) -> SeedReport:
    """Seed ``scale``'s dataset into the run's database, all or nothing, with the
    application's recipe or inferred from its schema (the same contract either way: the
    safety rule, one dataset per database, ``reset`` to replace another)."""
    data = run.app.data
    if data.kind == "inferred":
        return await seed_inferred(
            run,
            scale,
            capture=data.capture,
            spec=data.spec,
            anchor=anchor,
            reset=reset,
            confirm=confirm,
            progress=progress,
        )
    return await seed_database(
        run, scale, anchor=anchor, reset=reset, confirm=confirm, progress=progress
    )
