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

SQL statements run in order in one transaction (a multi-statement string is one item); a
callable gets an ``AsyncSession`` on the application's driver, committed after it returns.
A variant is only ever applied on a clone of the scale's template, never on the shared
dataset: :mod:`perfkit.snapshot.variants` applies them. This module holds the models only
(pydantic, nothing that imports the configuration), so that the configuration can check them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, RootModel, field_validator, model_validator

from perfkit.errors import PerfkitError
from perfkit.sections import ImportPath, Section, parse_section

if TYPE_CHECKING:
    from perfkit.config import Config

VARIANT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


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


def configured_variants(cfg: Config) -> Mapping[str, VariantConfig]:
    """scales.yaml's ``variants`` section, checked."""
    return parse_section(
        Variants, dict(cfg.variants), source=cfg.source.name, key_path="variants"
    ).root
