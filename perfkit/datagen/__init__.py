"""Deterministic test data at COPY speed: recipes, the COPY loader and dataset metadata.

``seed_database`` is the entry point (``perfkit seed``); ``read_dataset_info`` tells what a
database holds. See the modules for the details: ``recipe`` (what an application's recipe is,
and the :class:`~perfkit.datagen.recipe.Shape` that decides a dataset), ``ids`` (seeded UUID
streams), ``load`` (staging, COPY, swap), ``metadata`` (the ``perfkit_dataset`` table).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfkit.datagen.errors import DatasetConflictError, SeedFailedError
    from perfkit.datagen.load import SeedProgress, SeedReport, planned_dataset, seed_database
    from perfkit.datagen.metadata import DatasetInfo, read_dataset_info, table_checksums
    from perfkit.datagen.recipe import Recipe, Shape, TableRecipe

#: Where each name lives: imported on first use, so that ``import perfkit.datagen.recipe``
#: (what an application's recipe does) loads neither the loader nor a database driver.
_HOMES = {
    "DatasetConflictError": "errors",
    "SeedFailedError": "errors",
    "SeedProgress": "load",
    "SeedReport": "load",
    "planned_dataset": "load",
    "seed_database": "load",
    "DatasetInfo": "metadata",
    "read_dataset_info": "metadata",
    "table_checksums": "metadata",
    "Recipe": "recipe",
    "Shape": "recipe",
    "TableRecipe": "recipe",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "DatasetConflictError",
    "DatasetInfo",
    "Recipe",
    "SeedFailedError",
    "SeedProgress",
    "SeedReport",
    "Shape",
    "TableRecipe",
    "planned_dataset",
    "read_dataset_info",
    "seed_database",
    "table_checksums",
]
