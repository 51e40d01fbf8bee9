"""Deterministic test data at COPY speed: generators, the COPY loader and dataset metadata.

``seed_database`` is the entry point (``invoke seed``); ``read_dataset_info`` tells what a
database holds; ``expected_row_counts`` what a scale makes. See the modules for the details:
``pools`` (names and places), ``ids`` (seeded UUID streams), ``generate`` (rows per table),
``load`` (staging, COPY, swap), ``metadata`` (the ``perfkit_dataset`` table).
"""

from __future__ import annotations

from perfkit.datagen.errors import DatasetConflictError, SeedFailedError
from perfkit.datagen.generate import GENERATOR_VERSION, TABLE_SPECS, Shape, expected_row_counts
from perfkit.datagen.load import SeedProgress, SeedReport, planned_dataset, seed_database
from perfkit.datagen.metadata import DatasetInfo, read_dataset_info, table_checksums

__all__ = [
    "GENERATOR_VERSION",
    "TABLE_SPECS",
    "DatasetConflictError",
    "DatasetInfo",
    "SeedFailedError",
    "SeedProgress",
    "SeedReport",
    "Shape",
    "expected_row_counts",
    "planned_dataset",
    "read_dataset_info",
    "seed_database",
    "table_checksums",
]
