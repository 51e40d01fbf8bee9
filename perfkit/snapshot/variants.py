"""Data variants applied: a clone of the scale's template, mutated as a variant says.

:func:`variant_database` clones the scale's template (:func:`perfkit.snapshot.prepare.
cloned_database`, dropped on exit) and applies the variant (:mod:`perfkit.variants`) to the
clone. :func:`apply_variant` refuses any database that is not a perfkit clone
(:class:`VariantTargetError`, exit status 4): a variant never touches the shared dataset. The
report keeps the variant's name (the run record's ``dataset.variant``) and what each statement
changed (``UPDATE 12``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from perfkit.config import Config, Scale
from perfkit.database import CLONE_PREFIX
from perfkit.db import connection, create_session_factory, open_engine
from perfkit.errors import PerfkitError
from perfkit.loading import import_object
from perfkit.measure import Stopwatch
from perfkit.snapshot.prepare import cloned_database
from perfkit.text import quoted
from perfkit.urls import database_name
from perfkit.variants import VariantConfig

if TYPE_CHECKING:
    from perfkit.run import Run


class VariantTargetError(PerfkitError):
    """A variant was pointed at a database that is not a perfkit clone (the shared dataset,
    or any other): variants mutate data, so they run on clones only."""

    exit_code = 4

    def __init__(self, variant: str, database: str) -> None:
        super().__init__(
            f"refusing to apply variant {variant!r} to {database!r}: variants run only on a "
            "clone of the scale's template",
            hint="use perfkit.variants.variant_database (or the perf_variant fixture)",
        )
        self.variant = variant
        self.database = database


class VariantFailedError(PerfkitError):
    """A variant's SQL statement (``statement``, 1-based) or callable failed; nothing of it
    was kept (one transaction)."""

    exit_code = 2

    def __init__(self, variant: str, *, statement: int | None, detail: str) -> None:
        where = f"statement {statement}" if statement is not None else "its callable"
        super().__init__(
            f"variant {variant!r} failed at {where}: {detail}",
            hint="fix the variant in scales.yaml (variants.<name>)",
        )
        self.variant = variant
        self.statement = statement


@dataclass(frozen=True)
class VariantReport:
    """A variant applied: its name, what it is, how long it took, and what each statement
    changed (``UPDATE 12``; ``call`` for a callable)."""

    name: str
    description: str
    seconds: float
    changes: tuple[str, ...]

    def describe(self) -> str:
        return f"variant {self.name}: {self.description} ({', '.join(self.changes)})"


async def apply_variant(
    url: str, name: str, variant: VariantConfig, *, cfg: Config
) -> VariantReport:
    """Apply ``variant`` to the clone at ``url`` (module docstring). Refuses any database that
    is not a perfkit clone."""
    db_name = database_name(url)
    if not db_name.startswith(CLONE_PREFIX):
        raise VariantTargetError(name, db_name)
    sw = Stopwatch()
    if variant.sql is not None:
        changes = await _run_sql(url, name, variant.statements)
    else:
        changes = await _run_call(url, name, variant, cfg=cfg)
    return VariantReport(
        name=name, description=variant.description, seconds=sw.stop(), changes=changes
    )


async def _run_sql(url: str, name: str, statements: tuple[str, ...]) -> tuple[str, ...]:
    changes: list[str] = []
    async with connection(url) as conn, conn.transaction():
        for number, statement in enumerate(statements, start=1):
            try:
                changes.append(str(await conn.execute(statement)))
            except asyncpg.PostgresError as exc:
                detail = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                raise VariantFailedError(name, statement=number, detail=detail) from None
    return tuple(changes)


async def _run_call(url: str, name: str, variant: VariantConfig, *, cfg: Config) -> tuple[str, ...]:
    fn = import_object(variant.call or "", key=f"variants.{name}.call", source=str(cfg.source))
    engine = await open_engine(url, cfg.pool, driver=cfg.app.driver)
    try:
        async with create_session_factory(engine, cfg.pool)() as session:
            try:
                await fn(session)
                await session.commit()
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                detail = f"{type(exc).__name__}: {quoted(first, limit=200)}"
                raise VariantFailedError(name, statement=None, detail=detail) from None
    finally:
        await engine.dispose()
    return ("call",)


@dataclass(frozen=True)
class VariantData:
    """A clone of the scale's data with a variant applied: its URL, and the report."""

    url: str
    report: VariantReport


@asynccontextmanager
async def variant_database(
    run: Run, scale: Scale, name: str, variant: VariantConfig
) -> AsyncIterator[VariantData]:
    """A fresh clone of ``scale``'s template on the run's server with ``variant`` applied;
    dropped on exit."""
    async with cloned_database(run, scale) as clone:
        url = str(clone.url)
        yield VariantData(url=url, report=await apply_variant(url, name, variant, cfg=run.cfg))
