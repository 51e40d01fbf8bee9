"""The boundary between perfkit and the application under test: the types an application
author writes against.

perfkit's core (config, environment, schema handling, data loading, snapshots, the run
pipeline, measurement, results) never imports an application by name. It meets one only
through an :class:`Application`, which provides three things:

``data``
    what its dataset is made of (:class:`RecipeData` or :class:`InferredData`): either its
    tables as a :class:`perfkit.schema.Schema` built from its SQLAlchemy ``MetaData`` (all of
    it, or a subset closed under foreign keys) and a recipe saying how perfkit's deterministic
    entities become rows of them (:class:`perfkit.datagen.recipe.Recipe`); or, with no recipe
    (``app.recipe: null``), the capture of its schema as its source builds it
    (:class:`perfkit.ddl.Capture`) and scales.yaml's ``app.data``, from which every table's
    data is inferred. Seeding, snapshots, restores, the checks of "kept" data and the guard
    treat both alike through the few properties they share;
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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from perfkit.config import Driver, MigrationsSource, SchemaSource, WorkloadConfig
from perfkit.datagen.recipe import Computed, Const, Recipe, Row, Source, TableRecipe
from perfkit.dataspec import GenerationSpec
from perfkit.errors import ConfigError
from perfkit.workload import Workload, WorkloadContext, WorkloadRegistry, workload

if TYPE_CHECKING:  # these hold SQLAlchemy's MetaData or a catalogue: named here, never imported
    from perfkit.ddl import Capture
    from perfkit.schema import Schema

__all__ = [
    "Application",
    "Computed",
    "Const",
    "DataDefinition",
    "InferredData",
    "MigrationsSource",
    "Recipe",
    "RecipeData",
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
class RecipeData:
    """A dataset made by the application's recipe on its models' tables."""

    schema: Schema
    recipe: Recipe
    kind: Literal["recipe"] = "recipe"

    def __post_init__(self) -> None:
        recipe_tables = tuple(t.name for t in self.recipe.tables)
        if recipe_tables != self.schema.tables:
            raise ValueError(
                f"the recipe fills {recipe_tables}, "
                f"but the schema's tables are {self.schema.tables} (parents first)"
            )

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables whose rows the dataset counts, parents first."""
        return self.schema.tables

    @property
    def relations(self) -> tuple[str, ...]:
        """Every table the catalogue checks cover (the load's record, "kept", the guard)."""
        return self.schema.tables

    @property
    def copy_tables(self) -> tuple[str, ...]:
        """The tables that hold rows on disk: what a snapshot dumps and a restore loads."""
        return self.schema.tables

    @property
    def fingerprint(self) -> str:
        """The schema fingerprint its datasets record (:attr:`perfkit.schema.Schema.fingerprint`,
        read from the catalogue)."""
        return self.schema.fingerprint

    @property
    def dated_columns(self) -> Mapping[str, tuple[str, ...]]:
        """Table -> its date columns that move with the calendar (the recipe says which)."""
        return self.recipe.dated_columns


@dataclass(frozen=True)
class InferredData:
    """A dataset inferred from the catalogue (no recipe): the capture of the schema as its
    source builds it, made when first asked for (it builds the schema in a scratch database
    on perfkit's server), and scales.yaml's ``app.data``."""

    spec: GenerationSpec
    #: Makes the capture (:func:`perfkit.ddl.source.capture_source`, once per process).
    capture_of: Callable[[], Capture]
    kind: Literal["inferred"] = "inferred"

    @classmethod
    def of(cls, capture: Capture, spec: GenerationSpec) -> InferredData:
        """The inferred data of a capture already made."""
        return cls(spec=spec, capture_of=lambda: capture)

    @property
    def capture(self) -> Capture:
        return self.capture_of()

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables whose rows the dataset counts (a partitioned table stands for its
        partitions), in the capture's order."""
        return tuple(t.name for t in self.capture.data_tables)

    @property
    def relations(self) -> tuple[str, ...]:
        """Every table of the capture, partitions included."""
        return self.capture.table_names

    @property
    def copy_tables(self) -> tuple[str, ...]:
        """The tables that hold rows on disk: every table but partitioned parents (PostgreSQL
        15 copies no rows out of those; their partitions hold them)."""
        return tuple(t.name for t in self.capture.tables if t.kind != "p")

    @property
    def fingerprint(self) -> str:
        """The capture's fingerprint (:attr:`perfkit.ddl.Capture.fingerprint`: triggers,
        policies, functions and views included)."""
        return self.capture.fingerprint

    @property
    def dated_columns(self) -> Mapping[str, tuple[str, ...]]:
        """Table -> its columns that move with the run day: ``app.data``'s ``dated`` columns
        and ``days`` drawn from the anchor (:attr:`perfkit.dataspec.GenerationSpec.dated_columns`);
        every other inferred date stays where seeding drew it."""
        return self.spec.dated_columns


#: What an application's dataset is made of.
DataDefinition = RecipeData | InferredData


@dataclass(frozen=True)
class Application:
    """An application under test, as perfkit sees it; see the module docstring."""

    name: str
    data: DataDefinition
    workloads: WorkloadRegistry
    #: The workload ``nox -s perf-<scale>`` measures.
    default_workload: str
    #: The driver the workloads' sessions use (``asyncpg`` or ``psycopg``).
    driver: Driver = "asyncpg"
    #: Each workload's configuration (kwargs, budgets, whether it must do work).
    settings: Mapping[str, WorkloadConfig] | None = None

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables whose rows the dataset counts, parents first."""
        return self.data.tables

    @property
    def all_tables(self) -> tuple[str, ...]:
        """Every table a snapshot holds: the tables with rows on disk, then the dataset's own
        table."""
        from perfkit.sqlnames import DATASET_TABLE

        return (*self.data.copy_tables, DATASET_TABLE)

    @property
    def inferred(self) -> InferredData | None:
        """The inferred data, when the application has no recipe."""
        return self.data if isinstance(self.data, InferredData) else None

    @property
    def schema(self) -> Schema:
        """The models' tables of an application with a recipe."""
        return self._recipe_data().schema

    @property
    def recipe(self) -> Recipe:
        """The recipe of an application with one."""
        return self._recipe_data().recipe

    def _recipe_data(self) -> RecipeData:
        if not isinstance(self.data, RecipeData):
            raise ConfigError(
                "no recipe: this step needs one (the data is inferred from the catalogue)",
                source="scales.yaml",
                key_path="app.recipe",
                hint="name a recipe, or use the commands that work on inferred data",
            )
        return self.data

    def workload(self, name: str | None = None) -> Workload:
        """The workload called ``name`` (default: :attr:`default_workload`)."""
        return self.workloads.get(name or self.default_workload)

    def workload_settings(self, name: str) -> WorkloadConfig | None:
        """The scales.yaml settings of workload ``name``, if it has any."""
        return (self.settings or {}).get(name)
