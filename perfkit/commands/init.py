"""``perfkit init``: a first perf/scales.yaml from the application's schema
(:func:`perfkit.init.init_config`), the schema source taken from the flags."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from perfkit.config import MigrationsSource, SchemaSource, config_from
from perfkit.errors import ConfigError
from perfkit.typedconfig import build

if TYPE_CHECKING:
    from perfkit.init import InitReport
    from perfkit.run import Run

#: What a refusal of the schema flags suggests.
SOURCE_HINT = "--sql FILE, --metadata module:attribute or --migrations 'COMMAND'"


async def init(
    run: Run | None,
    *,
    output: Path,
    sql: Path | None = None,
    metadata: str | None = None,
    migrations: str | None = None,
    force: bool = False,
    name: str | None = None,
    locale: str = "en_US",
) -> InitReport:
    """Write a first scales.yaml (every table, inferred data) from the schema one flag names
    (``sql``, ``metadata`` or ``migrations``; none: the project's ``app.schema``), built on the
    run's server. ``run`` is None when no scales.yaml exists yet: the server then comes from
    the built-in defaults and the environment (e.g. ``PERFORMANCE_TEST_DATABASE_URL``)."""
    from perfkit.init import init_config
    from perfkit.run import Run

    target = Path(output).absolute()
    given = {k: v for k, v in (("sql", sql), ("metadata", metadata), ("migrations", migrations))
             if v}  # fmt: skip
    if len(given) > 1:
        raise ConfigError(
            f"give one schema source, not {' and '.join(given)}",
            source="command line",
            key_path="app.schema",
            hint=SOURCE_HINT,
        )
    if run is None:
        if not given:
            raise ConfigError(
                "no scales.yaml found, and no schema source given",
                source="command line",
                key_path="app.schema",
                hint=SOURCE_HINT,
            )
        run = Run(config_from({"scales": {"small": {"offices": 1}}}, source=target))
    if given:
        cfg = run.cfg
        source = _schema_source(sql=sql, metadata=metadata, migrations=migrations)
        run = run.with_config(
            msgspec.structs.replace(cfg, app=msgspec.structs.replace(cfg.app, schema=source))
        )
    return init_config(run, output=target, force=force, name=name, locale=locale)


def _schema_source(
    *, sql: Path | None, metadata: str | None, migrations: str | None
) -> SchemaSource:
    if sql:
        return SchemaSource(sql=Path(sql).absolute())
    if migrations:
        command = tuple(shlex.split(migrations))
        return SchemaSource(migrations=MigrationsSource(command=command, cwd=Path.cwd()))
    return build(SchemaSource, {"metadata": metadata}, source="command line", key_path="app.schema")
