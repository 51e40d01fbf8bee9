"""The boundary between perfkit and the application under test.

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

scales.yaml's ``app`` section says where each comes from (``module:attribute`` import paths)
and what the application needs before it can be imported: a folder on ``sys.path``,
placeholder settings, and the database variables perfkit points at the test database. The
defaults describe the sample application that ships with perfkit, which comes through this
same door. :func:`load_application` reads the section once per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from perfkit.config import Config, Driver, WorkloadConfig
from perfkit.dataspec import GenerationSpec
from perfkit.errors import ConfigError, UnsafeTargetError
from perfkit.text import quoted

if TYPE_CHECKING:  # the interface's parts; the core's modules import this one
    from perfkit.datagen.recipe import Recipe
    from perfkit.ddl import Capture
    from perfkit.schema import Schema
    from perfkit.schema_source import KnownSchema
    from perfkit.workload import Workload, WorkloadRegistry


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
        """None: inferred dates stay where the anchor put them (only the anchor moves)."""
        return {}


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
        from perfkit.schema import DATASET_TABLE

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


_LOADED: dict[tuple[str, str, str, str, str | None], Application] = {}


def _loaded_key(cfg: Config) -> tuple[str, str, str, str, str | None]:
    return (
        str(cfg.source),
        repr(cfg.app),
        str(cfg.state_dir),
        repr(cfg.database),
        cfg.external_url,
    )


def load_application(cfg: Config) -> Application:
    """The application scales.yaml's ``app`` section describes, imported once per process
    (per server and state folder: its schema's fingerprint is read there). A SQL file or
    migrations are run to build its schema: commands that must not do that (listing,
    verifying, pruning) use :func:`application_on_record`."""
    key = _loaded_key(cfg)
    if key not in _LOADED:
        _LOADED[key] = _build(cfg)
    return _LOADED[key]


@dataclass(frozen=True)
class OnRecord:
    """The application as commands that never build its schema see it (``invoke snapshots``,
    ``verify``, ``prune``): its recipe (None: its data is inferred), and what the last build
    of its schema left in the state folder (None: not built yet, with this source). For
    inferred data, ``inferred`` holds the capture that build left
    (:func:`perfkit.ddl.source.remembered_capture`)."""

    recipe: Recipe | None
    schema: KnownSchema | None
    inferred: InferredData | None = None


def application_on_record(cfg: Config) -> OnRecord:
    """The application's recipe and its schema as last built, without running its SQL file
    or migrations, nor building its models (:func:`perfkit.schema_source.remembered_schema`).
    The application's modules are imported as by :func:`load_application`."""
    from perfkit.schema_source import KnownSchema, remembered_schema

    if cfg.app.recipe is None:
        from perfkit.ddl.source import remembered_capture

        prepare_import(cfg)
        metadata = models_metadata(cfg) if cfg.app.schema.kind == "metadata" else None
        capture = remembered_capture(cfg, metadata)
        if capture is None:
            return OnRecord(recipe=None, schema=None)
        inferred = InferredData.of(capture, cfg.app.data)
        known = KnownSchema(inferred.fingerprint, inferred.copy_tables)
        return OnRecord(recipe=None, schema=known, inferred=inferred)
    loaded = _LOADED.get(_loaded_key(cfg))
    models: Schema | None
    if loaded is not None:
        recipe = loaded.recipe
        models = loaded.schema if cfg.app.schema.kind == "metadata" else None
    else:
        prepare_import(cfg)
        models = _models_schema(cfg) if cfg.app.schema.kind == "metadata" else None
        recipe = _recipe(cfg)
    return OnRecord(recipe=recipe, schema=remembered_schema(cfg, models))


def _build(cfg: Config) -> Application:
    from perfkit.workload import WorkloadRegistry

    app = cfg.app
    source = str(cfg.source)
    prepare_import(cfg)
    # Imported when first run: seeding and restoring never need the workloads' modules.
    loaders = {
        name: functools.partial(_workload, name, settings, source=source)
        for name, settings in app.call_workloads.items()
    }
    return Application(
        name=app.name,
        data=_data(cfg),
        workloads=WorkloadRegistry(loaders=loaders),
        default_workload=app.default_workload,
        driver=app.driver,
        settings=app.call_workloads,
    )


def _data(cfg: Config) -> DataDefinition:
    """What the application's dataset is made of: its recipe on its models' tables, or, with
    no recipe, the capture of its schema (made when first needed) and ``app.data``."""
    app = cfg.app
    source = str(cfg.source)
    if app.recipe is None:
        from perfkit.ddl.source import capture_source

        def capture() -> Capture:
            metadata = models_metadata(cfg) if app.schema.kind == "metadata" else None
            return capture_source(cfg, metadata)

        return InferredData(spec=app.data, capture_of=capture)
    if app.schema.kind == "metadata":
        schema = _models_schema(cfg)
    else:  # a SQL file or migrations, built in a scratch database and read back
        from perfkit.schema_source import schema_from_source

        schema = schema_from_source(cfg)
    from perfkit.schema_source import schema_fingerprint

    schema.bind_fingerprint(functools.partial(schema_fingerprint, cfg, schema))
    recipe = _recipe(cfg)
    try:
        return RecipeData(schema=schema, recipe=recipe)
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"application {app.name!r}: {exc}",
            source=source,
            key_path="app.recipe",
            hint="list every table, parents first",
        ) from None


def _recipe(cfg: Config) -> Recipe:
    """The recipe ``app.recipe`` names (the caller checked there is one)."""
    source = str(cfg.source)
    if cfg.app.recipe is None:  # pragma: no cover - a bug in the caller
        raise ValueError("no recipe: the data is inferred")
    recipe: Recipe = import_object(cfg.app.recipe, key="app.recipe", source=source)
    return recipe


def models_metadata(cfg: Config) -> Any:
    """The SQLAlchemy ``MetaData`` scales.yaml's ``app.schema.metadata`` names, imported the
    way :func:`load_application` imports it (the application's folder and settings first)."""
    prepare_import(cfg)
    return _models_schema(cfg).metadata


def _models_schema(cfg: Config) -> Schema:
    """The :class:`Schema` of the models ``app.schema.metadata`` names."""
    from perfkit.schema import Schema, SchemaError

    source, path = str(cfg.source), cfg.app.schema.metadata_path
    metadata = import_object(path, key="app.schema.metadata", source=source)
    metadata = getattr(metadata, "metadata", metadata)  # a declarative base has one
    try:
        return Schema(metadata, tables=cfg.app.schema.tables)
    except SchemaError as exc:
        raise ConfigError(str(exc), source=source, key_path="app.schema.tables") from None
    except (TypeError, AttributeError):
        raise ConfigError(
            f"{quoted(path)} is not a SQLAlchemy MetaData or declarative base",
            source=source,
            key_path="app.schema.metadata",
        ) from None


def prepare_import(cfg: Config) -> None:
    """What the application needs before its first import: its folder on ``sys.path``, its
    placeholder settings, and its database variables pointing at the test database."""
    app = cfg.app
    if app.import_root is not None:
        root = str(app.import_root)
        if not app.import_root.is_dir():
            raise ConfigError(
                f"not a folder: {quoted(root)}",
                source=str(cfg.source),
                key_path="app.import_root",
                hint="point it at the application's checkout (relative to scales.yaml)",
            )
        if root not in sys.path:
            sys.path.insert(0, root)
    for name, value in app.env.items():
        os.environ.setdefault(name, value)
    if app.database_env:
        url = test_database_url(cfg)
        for name in app.database_env:
            os.environ[name] = url
    _refuse_unsafe_settings(cfg)


def test_database_url(cfg: Config) -> str:
    """The test database's URL on the application's driver, for its database variables. When
    perfkit's database is not set up yet, a URL no server answers (nothing is imported with a
    way to reach any other database)."""
    from perfkit.errors import PerfkitError
    from perfkit.lifecycle import db_url
    from perfkit.urls import make_url, with_driver

    try:
        url = db_url(cfg)
    except PerfkitError:
        url = make_url(
            user="perfkit",
            password="",  # nothing to keep secret: no server answers on port 1
            host="127.0.0.1",
            port=1,
            database="perfkit_unset_test",
        )
    return with_driver(url, cfg.app.driver)


def _refuse_unsafe_settings(cfg: Config) -> None:
    """Refuse to import while a database variable the application reads (``app.database_env``
    and ``app.env``) names a database that is not clearly a test database: a module-level
    engine must never point at production.

    A value is read the one way perfkit reads URLs (:func:`perfkit.urls.connection_database`):
    a PostgreSQL URL by its path, a libpq keyword/value string (``dbname=... host=...``) by
    its ``dbname``. One that can be read as more than one database (a query naming another
    ``dbname``, a keyword string without one) is refused too. The error names the variable and
    the databases it names, never the value (it may hold a password)."""
    from perfkit.errors import UrlError
    from perfkit.safety import is_production_name, is_test_name
    from perfkit.urls import connection_database, database_readings

    names = set(cfg.app.database_env) | set(cfg.app.env)
    for name in sorted(names):
        value = os.environ.get(name, "")
        try:
            database = connection_database(value, source=f"environment {name}")
        except UrlError as exc:
            named = " or ".join(database_readings(value)) or "(none named)"
            raise UnsafeTargetError(
                named,
                reason=f"the application would be imported with {name} naming it, and "
                f"{name} cannot be read as one database ({exc.problem})",
                rule="ambiguous",
                hint=f"set {name} to a URL that names the test database in its path only, "
                "or list it in app.database_env (perfkit then points it at the test database)",
            ) from None
        if database is not None and (
            not is_test_name(database, cfg) or is_production_name(database, cfg)
        ):
            raise UnsafeTargetError(
                database,
                reason=f"the application would be imported with {name} naming it",
            )


def import_object(path: str, *, key: str, source: str) -> Any:
    """What the import path ``module:attribute`` (``attribute`` may be dotted) names; a
    failure is a :class:`ConfigError` at ``key`` (exit status 2)."""
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"cannot import {quoted(module_name)}: {type(exc).__name__}: {quoted(str(exc))}",
            source=source,
            key_path=key,
            hint="install the application here, set app.import_root, or add settings it "
            "needs at import to app.env",
        ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"{quoted(module_name)} has no attribute {quoted(attribute)}",
                source=source,
                key_path=key,
            ) from None
    return target


def _workload(name: str, settings: WorkloadConfig, *, source: str) -> Workload:
    from perfkit.workload import Workload, plan_call, workload_of

    fn = import_object(settings.call, key=f"app.workloads.{name}.call", source=source)
    marked = workload_of(fn)
    if marked is not None:
        return Workload(name=name, label=marked.label, fn=marked.fn)
    if not inspect.iscoroutinefunction(fn):
        raise ConfigError(
            f"{quoted(settings.call)} is not an async function",
            source=source,
            key_path=f"app.workloads.{name}.call",
        )
    doc = (inspect.getdoc(fn) or "").strip()
    label = doc.splitlines()[0] if doc else settings.call
    return Workload(name=name, label=label, fn=plan_call(fn, dict(settings.kwargs)))


def run_day(cfg: Config, *, today: dt.date | None = None) -> dt.date:
    """The day the data is dated for and the workloads' clock is pinned to (``app.run_day``):
    today, the latest weekday on or before it, or a fixed date."""
    day = today or dt.date.today()
    rule = cfg.app.run_day
    if rule == "today":
        return day
    if rule == "weekday":
        return day - dt.timedelta(days=max(0, day.weekday() - 4))
    return dt.date.fromisoformat(rule)
