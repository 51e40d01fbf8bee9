"""The boundary between perfkit and the application under test: the types an application
author writes against.

perfkit's core (config, environment, schema handling, data loading, snapshots, the run
pipeline, measurement, results) never imports an application by name. It meets one only
through an :class:`Application`, which provides three things:

``schema``
    its tables, as a :class:`perfkit.schema.Schema` built from its SQLAlchemy ``MetaData``
    (all of it, or a subset closed under foreign keys);
``recipe``
    how perfkit's deterministic entities become rows of those tables
    (:class:`perfkit.datagen.recipe.Recipe`);
``workloads``
    the code that is timed (:class:`perfkit.workload.WorkloadRegistry`), and the driver its
    sessions use.

scales.yaml's ``app`` section says where each comes from (``module:attribute`` import paths);
:mod:`perfkit.loading` builds the :class:`Application` from it, once per command
(:attr:`perfkit.run.Run.app`). An application's own modules import from here and from
:mod:`perfkit.datagen.recipe` (recipes) and :mod:`perfkit.workload` (the ``@workload``
decorator): none of them loads a database driver or SQLAlchemy at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfkit.config import Driver, MigrationsSource, SchemaSource, WorkloadConfig
from perfkit.datagen.recipe import Computed, Const, Recipe, Row, Source, TableRecipe
from perfkit.workload import Workload, WorkloadContext, WorkloadRegistry, workload

if TYPE_CHECKING:  # the schema type holds SQLAlchemy's MetaData: named here, never imported
    from perfkit.schema import Schema

__all__ = [
    "Application",
    "Computed",
    "Const",
    "MigrationsSource",
    "Recipe",
    "Row",
    "SchemaSource",
    "Source",
    "TableRecipe",
    "Workload",
    "WorkloadContext",
    "WorkloadRegistry",
    "workload",
]


@dataclass(frozen=True)
class Application:
    """An application under test, as perfkit sees it; see the module docstring."""

    name: str
    schema: Schema
    recipe: Recipe
    workloads: WorkloadRegistry
    #: The workload ``nox -s perf-<scale>`` measures.
    default_workload: str
    #: The driver the workloads' sessions use (``asyncpg`` or ``psycopg``).
    driver: Driver = "asyncpg"
    #: Each workload's configuration (kwargs, budgets, whether it must do work).
    settings: Mapping[str, WorkloadConfig] | None = None

    def __post_init__(self) -> None:
        recipe_tables = tuple(t.name for t in self.recipe.tables)
        if recipe_tables != self.schema.tables:
            raise ValueError(
                f"application {self.name!r}: the recipe fills {recipe_tables}, "
                f"but the schema's tables are {self.schema.tables} (parents first)"
            )

    @property
    def tables(self) -> tuple[str, ...]:
        """The application's tables, parents first."""
        return self.schema.tables

    def workload(self, name: str | None = None) -> Workload:
        """The workload called ``name`` (default: :attr:`default_workload`)."""
        return self.workloads.get(name or self.default_workload)

    def workload_settings(self, name: str) -> WorkloadConfig | None:
        """The scales.yaml settings of workload ``name``, if it has any."""
        return (self.settings or {}).get(name)
