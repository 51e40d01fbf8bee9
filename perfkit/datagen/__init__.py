"""Deterministic test data at COPY speed: recipes, the COPY loader and dataset metadata.

``seed_database`` is the entry point (``invoke seed``); ``read_dataset_info`` tells what a
database holds. See the modules for the details: ``recipe`` (what an application's recipe is,
and the :class:`~perfkit.datagen.recipe.Shape` that decides a dataset), ``ids`` (seeded UUID
streams), ``load`` (staging, COPY, swap), ``metadata`` (the ``perfkit_dataset`` table).
"""

from __future__ import annotations

from perfkit.datagen.errors import DatasetConflictError, SeedFailedError
from perfkit.datagen.load import SeedProgress, SeedReport, planned_dataset, seed_database
from perfkit.datagen.metadata import DatasetInfo, read_dataset_info, table_checksums
from perfkit.datagen.recipe import Recipe, Shape, TableRecipe

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
