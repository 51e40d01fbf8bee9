"""Loading the application under test: scales.yaml's ``app`` section made an
:class:`~perfkit.app.Application`, once per command (:attr:`perfkit.run.Run.app`).

The section says where each part comes from (``module:attribute`` import paths) and what the
application needs before it can be imported: a folder on ``sys.path``, placeholder settings,
and the database variables perfkit points at the test database (:func:`prepare_import`). The
defaults describe the sample application that ships with perfkit, which comes through this
same door.

Two promises:

- **Warnings never fail a command.** Whatever warning filters the running process has (a
  pytest run with ``filterwarnings = error``, ``python -W error``), a warning raised while
  the application's modules are imported is caught there and reported once on stderr
  (:attr:`perfkit.run.Run.warn`); the import goes on. The application's own test
  configuration governs its own tests, never perfkit's commands.
- **A failure names its cause.** A module that cannot be imported is a
  :class:`~perfkit.errors.ConfigError` naming the key, the module and the exception, every
  time it is asked for: a workload that fails to load fails the same way on the next request
  (:class:`perfkit.workload.WorkloadRegistry` keeps the loader until it succeeds).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfkit.app import Application, DataDefinition, InferredData, RecipeData
from perfkit.config import Config, WorkloadConfig
from perfkit.errors import ConfigError, PerfkitError, UnsafeTargetError
from perfkit.text import quoted

if TYPE_CHECKING:
    from perfkit.datagen.recipe import Recipe
    from perfkit.ddl import Capture
    from perfkit.run import Run
    from perfkit.schema import Schema
    from perfkit.schema_source import KnownSchema
    from perfkit.workload import Workload

#: Where warnings raised while importing the application go (a run's ``warn``).
Warn = Callable[[str], None]


def load_application(run: Run) -> Application:
    """The application scales.yaml's ``app`` section describes, for ``run``: its modules
    imported (the application's folder and settings first), its data defined (:func:`_data`)
    and its workloads ready to import when first asked for. Commands that must not build the
    schema (listing, verifying, pruning) use :func:`application_on_record`."""
    from perfkit.workload import WorkloadRegistry

    cfg = run.cfg
    app = cfg.app
    source = str(cfg.source)
    prepare_import(cfg, database_url=_database_url(run))
    # Imported when first run: seeding and restoring never need the workloads' modules.
    loaders = {
        name: functools.partial(_workload, name, settings, source=source, warn=run.warn)
        for name, settings in app.call_workloads.items()
    }
    return Application(
        name=app.name,
        data=_data(run),
        workloads=WorkloadRegistry(loaders=loaders),
        default_workload=app.default_workload,
        driver=app.driver,
        settings=app.call_workloads,
    )


def _data(run: Run) -> DataDefinition:
    """What the application's dataset is made of: its recipe on its models' tables (a SQL
    file or migrations are built in a scratch database of ``run``'s server and read back;
    models are fingerprinted there), or, with no recipe, the capture of its schema as its
    source builds it (made when first needed, on ``run``'s server) and ``app.data``."""
    cfg = run.cfg
    app = cfg.app
    source = str(cfg.source)
    if app.recipe is None:
        from perfkit.ddl.source import capture_source

        def capture() -> Capture:
            metadata = models_metadata(run) if app.schema.kind == "metadata" else None
            return capture_source(cfg, metadata, db=run.db)

        return InferredData(spec=app.data, capture_of=functools.cache(capture))
    if app.schema.kind == "metadata":
        schema = _models_schema(cfg, warn=run.warn)
    else:  # a SQL file or migrations, built in a scratch database and read back
        from perfkit.schema_source import schema_from_source

        schema = schema_from_source(cfg, db=run.db)
    from perfkit.schema_source import schema_fingerprint

    # found when first asked for, on the run's server (a command that never asks needs none)
    schema.bind_fingerprint(lambda: schema_fingerprint(cfg, schema, db=lambda: run.db))
    recipe = _recipe(cfg, warn=run.warn)
    try:
        return RecipeData(schema=schema, recipe=recipe)
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"application {app.name!r}: {exc}",
            source=source,
            key_path="app.recipe",
            hint="list every table, parents first",
        ) from None


class OnRecord:
    """The application as commands that never build its schema see it (``perfkit
    snapshots``, ``verify``, ``prune``): what the last build of its schema left in the state
    folder (None: not built yet, with this source), and its recipe, imported only when first
    asked for (:attr:`recipe`; None: its data is inferred). For inferred data, ``inferred``
    holds the capture that build left (:func:`perfkit.ddl.source.remembered_capture`)."""

    def __init__(
        self,
        schema: KnownSchema | None,
        recipe: Callable[[], Recipe | None],
        inferred: InferredData | None = None,
    ) -> None:
        self.schema = schema
        self._recipe = recipe
        self.inferred = inferred

    @functools.cached_property
    def recipe(self) -> Recipe | None:
        """The application's recipe (its module imported now, the first time); None when
        its data is inferred."""
        return self._recipe()


def application_on_record(run: Run) -> OnRecord:
    """The application's schema as last built, and its recipe, without running its SQL file
    or migrations, nor building its models (:func:`perfkit.schema_source.remembered_schema`;
    for inferred data :func:`perfkit.ddl.source.remembered_capture`). Models
    (``app.schema.metadata``) are imported to know which build they are; a SQL file or
    migrations are known by their text, so nothing of the application is imported for them
    until the recipe is asked for. Inferred data's overrides that are code (``call:``) are
    imported, after :func:`prepare_import` (they live in the team's checkout)."""
    from perfkit.schema_source import KnownSchema, remembered_schema

    cfg = run.cfg
    if cfg.app.recipe is None:
        from perfkit.ddl.source import remembered_capture

        metadata = models_metadata(run) if cfg.app.schema.kind == "metadata" else None
        capture = remembered_capture(cfg, metadata)
        if capture is None:
            return OnRecord(None, lambda: None)
        # the overrides that are code (``call:``) import from the team's checkout
        prepare_import(cfg, database_url=_database_url(run))
        inferred = InferredData.of(capture, cfg.app.data)
        known = KnownSchema(inferred.fingerprint, inferred.copy_tables)
        return OnRecord(known, lambda: None, inferred)
    if run.app_loaded:
        loaded = run.app
        models: Schema | None = loaded.schema if cfg.app.schema.kind == "metadata" else None
        return OnRecord(remembered_schema(cfg, models), lambda: loaded.recipe)
    prepared: list[bool] = []

    def prepared_once() -> None:
        if not prepared:
            prepare_import(cfg, database_url=_database_url(run))
            prepared.append(True)

    models = None
    if cfg.app.schema.kind == "metadata":
        prepared_once()
        models = _models_schema(cfg, warn=run.warn)

    def recipe() -> Recipe:
        prepared_once()
        return _recipe(cfg, warn=run.warn)

    return OnRecord(remembered_schema(cfg, models), recipe)


def _recipe(cfg: Config, *, warn: Warn) -> Recipe:
    """The recipe ``app.recipe`` names (the caller checked there is one)."""
    source = str(cfg.source)
    if cfg.app.recipe is None:  # pragma: no cover - a bug in the caller
        raise ValueError("no recipe: the data is inferred")
    recipe: Recipe = import_object(cfg.app.recipe, key="app.recipe", source=source, warn=warn)
    return recipe


def models_metadata(run: Run) -> Any:
    """The SQLAlchemy ``MetaData`` scales.yaml's ``app.schema.metadata`` names, imported the
    way :func:`load_application` imports it (the application's folder and settings first)."""
    prepare_import(run.cfg, database_url=_database_url(run))
    return _models_schema(run.cfg, warn=run.warn).metadata


def _models_schema(cfg: Config, *, warn: Warn) -> Schema:
    """The :class:`Schema` of the models ``app.schema.metadata`` names."""
    from perfkit.schema import Schema, SchemaError
    from perfkit.schema_record import record_models

    source, path = str(cfg.source), cfg.app.schema.metadata_path
    before = set(sys.modules)
    metadata = import_object(path, key="app.schema.metadata", source=source, warn=warn)
    metadata = getattr(metadata, "metadata", metadata)  # a declarative base has one
    try:
        schema = Schema(metadata, tables=cfg.app.schema.tables)
        # what a restore reads instead of importing them again (perfkit.schema_record)
        record_models(cfg, schema, module=path.partition(":")[0], loaded=set(sys.modules) - before)
        return schema
    except SchemaError as exc:
        raise ConfigError(str(exc), source=source, key_path="app.schema.tables") from None
    except (TypeError, AttributeError):
        raise ConfigError(
            f"{quoted(path)} is not a SQLAlchemy MetaData or declarative base",
            source=source,
            key_path="app.schema.metadata",
        ) from None


def prepare_import(cfg: Config, *, database_url: str) -> None:
    """What the application needs before its first import: its folder on ``sys.path``, its
    placeholder settings, and its database variables (``app.database_env``) set to
    ``database_url`` (the test database, on the application's driver:
    :func:`test_database_url`)."""
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
    for name in app.database_env:
        os.environ[name] = database_url
    _refuse_unsafe_settings(cfg)


def _database_url(run: Run) -> str:
    """The run's test database on the application's driver, for its database variables."""
    return _app_database_url(run.cfg, lambda: str(run.db.url))


def test_database_url(cfg: Config) -> str:
    """:func:`_database_url` for a config (the HTTP layer, which has no run yet)."""
    from perfkit.env import select_environment

    return _app_database_url(cfg, lambda: select_environment(cfg).url())


def _app_database_url(cfg: Config, test_database: Callable[[], str]) -> str:
    """``test_database()`` on the application's driver, for its database variables (none:
    nothing to point). When perfkit's database is not set up yet, a URL no server answers
    (nothing is imported with a way to reach any other database)."""
    from perfkit.urls import make_url, with_driver

    if not cfg.app.database_env:
        return ""
    try:
        url = test_database()
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


@contextmanager
def warnings_reported(module: str, warn: Warn | None) -> Iterator[None]:
    """Catch every warning raised in the block (whatever the process's filters say: an
    ``error`` filter would otherwise fail the import) and report each once through ``warn``,
    naming ``module``, the warning's category, message and where it was raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    if warn is None:
        return
    seen: set[tuple[str, str]] = set()
    for w in caught:
        text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
        key = (w.category.__name__, text)
        if key in seen:
            continue
        seen.add(key)
        where = f"{Path(w.filename).name}:{w.lineno}"
        warn(
            f"importing {module}: {w.category.__name__}: {text} ({where}); "
            "it did not stop the command"
        )


def import_object(path: str, *, key: str, source: str, warn: Warn | None = None) -> Any:
    """What the import path ``module:attribute`` (``attribute`` may be dotted) names; a
    failure is a :class:`ConfigError` at ``key`` (exit status 2). Warnings raised by the
    import are reported through ``warn`` (:func:`warnings_reported`), never raised."""
    module_name, _, attribute = path.partition(":")
    try:
        with warnings_reported(module_name, warn):
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


def _workload(name: str, settings: WorkloadConfig, *, source: str, warn: Warn) -> Workload:
    from perfkit.workload import Workload, plan_call, workload_of

    fn = import_object(settings.call, key=f"app.workloads.{name}.call", source=source, warn=warn)
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
