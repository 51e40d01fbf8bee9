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
dataset: :mod:`perfkit.snapshot.variants` applies them. This module holds the section's msgspec
structs (part of :class:`perfkit.config.Config`, checked when scales.yaml is loaded) and how a
variant is looked up by name; msgspec and perfkit's config helpers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec
from msgspec import Meta

from perfkit.errors import PerfkitError
from perfkit.typedconfig import ImportPath, Section, Text

#: A variant's name: lower-case letters, digits and ``_``, starting with a letter.
VariantName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        extra={"expected": "a variant name: lower-case letters, digits and _"},
    ),
]


class VariantConfig(Section, frozen=True):
    """One variant: what it is, and how it mutates the data (``sql`` or ``call``)."""

    #: What the variant's data looks like (the report shows it).
    description: Text
    #: Statements run in order, in one transaction (one statement, or a list).
    sql: Text | tuple[Text, ...] | None = None
    #: ``module:function``: ``async def fn(session: AsyncSession) -> None``.
    call: ImportPath | None = None
    #: The scales it applies to (default: every scale).
    scales: tuple[Text, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.sql, str):
            msgspec.structs.force_setattr(self, "sql", (self.sql,))
        if (self.sql is None) == (self.call is None):
            raise ValueError("give sql (statements) or call (module:function), not both or none")

    @property
    def statements(self) -> tuple[str, ...]:
        """The ``sql`` statements, in order (none for a ``call``)."""
        return (self.sql,) if isinstance(self.sql, str) else (self.sql or ())

    def applies_to(self, scale: str) -> bool:
        return self.scales is None or scale in self.scales


#: scales.yaml's ``variants`` section: name -> :class:`VariantConfig`.
Variants = Mapping[VariantName, VariantConfig]


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
