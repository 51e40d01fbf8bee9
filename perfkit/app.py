"""The boundary between perfkit and the application under test.

perfkit's core (config, environment, schema handling, data loading, snapshots, the run
pipeline, measurement, results) never imports an application by name. It meets one only
through an :class:`Application`, which provides three things:

``schema``
    its tables, as a :class:`perfkit.schema.Schema` built from its SQLAlchemy ``MetaData``;
``recipe``
    how perfkit's deterministic rows fill those tables (:class:`perfkit.datagen.recipe.Recipe`);
``workloads``
    the code that is timed (:class:`perfkit.workload.WorkloadRegistry`), with the one the
    performance runs measure by default.

scales.yaml says which application to load: ``app.entry`` is ``module:attribute``, where the
attribute is an :class:`Application` or a function taking no arguments that returns one. The
default, ``perfkit.apps.welfare:application``, is the sample application that ships with
perfkit; a team's own application comes through the same door.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfkit.config import Config
from perfkit.errors import ConfigError
from perfkit.text import quoted

if TYPE_CHECKING:  # the interface's parts; the core's modules import this one
    from perfkit.datagen.recipe import Recipe
    from perfkit.schema import Schema
    from perfkit.workload import Workload, WorkloadRegistry

#: The sample application, used when scales.yaml names none.
DEFAULT_ENTRY = "perfkit.apps.welfare:application"


@dataclass(frozen=True)
class Application:
    """An application under test, as perfkit sees it; see the module docstring."""

    name: str
    schema: Schema
    recipe: Recipe
    workloads: WorkloadRegistry
    #: The workload ``nox -s perf-<scale>`` measures.
    default_workload: str

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


def load_application(cfg: Config) -> Application:
    """The application ``cfg`` names (``app.entry``), imported once per process."""
    return _load(cfg.app.entry, str(cfg.source))


@functools.cache
def _load(entry: str, source: str) -> Application:
    module_name, _, attribute = entry.partition(":")
    if not module_name or not attribute:
        raise ConfigError(
            f"app.entry must be 'module:attribute', got {quoted(entry)}",
            source=source,
            key_path="app.entry",
            hint=f"for example {DEFAULT_ENTRY!r}",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"app.entry: cannot import {quoted(module_name)}: {quoted(str(exc))}",
            source=source,
            key_path="app.entry",
            hint="install the application in this environment, or fix app.entry in scales.yaml",
        ) from None
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"app.entry: module {quoted(module_name)} has no attribute {quoted(attribute)}",
            source=source,
            key_path="app.entry",
        ) from None
    app = target() if callable(target) and not isinstance(target, Application) else target
    if not isinstance(app, Application):
        raise ConfigError(
            f"app.entry: {quoted(entry)} is a {type(app).__name__}, not a perfkit Application",
            source=source,
            key_path="app.entry",
            hint="return perfkit.app.Application(name=..., schema=..., recipe=..., ...)",
        )
    return app
