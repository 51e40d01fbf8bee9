"""Data variants: a scale's data with a few bad or unusual rows, for resilience tests.

A variant mutates the data before a workload runs, e.g. "1 % of the latest cycles with a NULL
``cycle_number``", "an agency with no clients" or "a caregiver with JSON ``null``
preferences". scales.yaml names them (:class:`VariantConfig`)::

    variants:
      empty_agency:
        description: the first agency has no clients
        sql:
          - DELETE FROM clients WHERE agency_id = (SELECT id FROM agencies ORDER BY id LIMIT 1)
      null_cycle_numbers:
        description: 1 % of the latest cycles have no cycle number
        sql:
          - ALTER TABLE review_cycles ALTER COLUMN cycle_number DROP NOT NULL
          - UPDATE review_cycles SET cycle_number = NULL WHERE is_latest AND id % 100 = 0
      odd_preferences:
        description: a caregiver with JSON null preferences
        call: perf.variants:null_preferences     # async def fn(session: AsyncSession)
        scales: [small]                           # default: every scale

A variant is only ever applied on a clone of the scale's template
(:func:`variant_database`: :func:`perfkit.snapshot.prepare.cloned_database`, dropped on
exit), never on the shared dataset: :func:`apply_variant` refuses any database that is not a
perfkit clone (:class:`VariantTargetError`, exit status 4). SQL statements run in order in
one transaction (a multi-statement string is one item); a callable gets an ``AsyncSession``
on the application's driver, committed after it returns. The report keeps the variant's name
(the run record's ``dataset.variant``) and what each statement changed (``UPDATE 12``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import Field, RootModel, field_validator, model_validator

from perfkit.app import import_object
from perfkit.config import Config, Scale
from perfkit.database import CLONE_PREFIX, Database
from perfkit.db import connection, create_engine, create_session_factory
from perfkit.errors import PerfkitError
from perfkit.measure import Stopwatch
from perfkit.sections import ImportPath, Section
from perfkit.snapshot.prepare import cloned_database
from perfkit.text import quoted
from perfkit.urls import database_name

VARIANT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


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


class VariantConfig(Section):
    """One variant: what it is, and how it mutates the data (``sql`` or ``call``)."""

    description: str = Field(min_length=1)
    #: Statements run in order, in one transaction.
    sql: tuple[str, ...] | None = None
    #: ``module:function``: ``async def fn(session: AsyncSession) -> None``.
    call: ImportPath | None = None
    #: The scales it applies to (default: every scale).
    scales: tuple[str, ...] | None = None

    @field_validator("sql", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> VariantConfig:
        if (self.sql is None) == (self.call is None):
            raise ValueError("give sql (statements) or call (module:function), not both or none")
        if self.sql is not None and not all(s.strip() for s in self.sql):
            raise ValueError("sql holds an empty statement")
        return self

    def applies_to(self, scale: str) -> bool:
        return self.scales is None or scale in self.scales


class Variants(RootModel[dict[str, VariantConfig]]):
    """scales.yaml's ``variants`` section: name -> :class:`VariantConfig`."""

    @field_validator("root")
    @classmethod
    def _names(cls, value: dict[str, VariantConfig]) -> dict[str, VariantConfig]:
        for name in value:
            if not VARIANT_NAME.fullmatch(name):
                raise ValueError(
                    f"a variant's name is lower-case letters, digits and _, got {name!r}"
                )
        return value


class UnknownVariantError(PerfkitError):
    """A variant name scales.yaml does not define for this scale."""

    exit_code = 2

    def __init__(self, name: str, *, scale: str, valid: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown variant {name!r} at scale {scale!r}; variants there: "
            f"{', '.join(valid) or 'none'}",
            hint="define it under variants: in scales.yaml",
        )
        self.name = name
        self.valid = valid


def variant_named(variants: Mapping[str, VariantConfig], name: str, scale: str) -> VariantConfig:
    """The variant ``name`` that applies at ``scale``."""
    found = variants.get(name)
    if found is None or not found.applies_to(scale):
        valid = tuple(sorted(n for n, v in variants.items() if v.applies_to(scale)))
        raise UnknownVariantError(name, scale=scale, valid=valid)
    return found


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
        changes = await _run_sql(url, name, variant.sql)
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
    engine = create_engine(url, cfg.pool, driver=cfg.app.driver)
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
    target: str | Database,
    cfg: Config,
    scale: Scale,
    name: str,
    variant: VariantConfig,
) -> AsyncIterator[VariantData]:
    """A fresh clone of ``scale``'s template with ``variant`` applied; dropped on exit."""
    async with cloned_database(target, cfg, scale) as url:
        yield VariantData(url=url, report=await apply_variant(url, name, variant, cfg=cfg))
