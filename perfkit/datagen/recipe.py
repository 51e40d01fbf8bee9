"""Data recipes: how an application's tables are filled with deterministic rows.

perfkit makes one deterministic world of entities (offices, staff, recipients, plans, cycles:
:mod:`perfkit.datagen.entities`); an application (:mod:`perfkit.app`) hands perfkit a
:class:`Recipe` that maps them onto its own tables. A :class:`TableRecipe` names the entity
kind a table's rows come from and, per column, where the values come from: an entity field,
a :class:`Const` (for NOT NULL columns the application has no default for), or a
:class:`Computed` over a whole block. Extra rows (association rows, deliverables) come from a
``rows`` function over each block. A table's rows are generated on their own, so tables load
independently, in parallel.

The same shape and :attr:`Recipe.version` give the same rows, ids included. Dates are
relative to the anchor date, which is stored with the data; the recipe names the columns that
move with the calendar (:attr:`Recipe.dated_columns`) so a restore can shift them to today.

A minimal recipe, for an application whose ``members`` table has no ``is_active`` default::

    Recipe(
        version=1,
        tables=(
            TableRecipe("teams", "office", {"id": "id", "name": "name"}),
            TableRecipe(
                "members",
                "staff",
                {"id": "id", "team_id": "office_id", "email": "email", "is_active": Const(True)},
            ),
        ),
        dated_columns={},
    )
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfkit.config import DataConfig, DataMode, Scale
from perfkit.datagen.entities import ENTITY_VERSION, Kind, entity_blocks, parameters, per_office
from perfkit.datagen.shape import (
    BLOCK_ROWS,
    Row,
    Shape,
    apportion,
    blocks,
    days,
    repeat_each,
)

__all__ = [
    "BLOCK_ROWS",
    "Computed",
    "Const",
    "Recipe",
    "Row",
    "Shape",
    "Source",
    "TableRecipe",
    "apportion",
    "blocks",
    "days",
    "repeat_each",
]

RowsPerOffice = Callable[[Scale, DataConfig, DataMode], int]
#: Field name -> one value per entity of the block (see :mod:`perfkit.datagen.entities`).
Block = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class Const:
    """The same value in every row."""

    value: Any


@dataclass(frozen=True)
class Computed:
    """A column computed from the whole block at once: ``fn(block)`` returns one value per
    entity (fast: no Python call per row). The block also holds ``entity_number``: each
    entity's 1-based number across the dataset, for integer keys (``SERIAL`` columns)."""

    fn: Callable[[Block], Sequence[Any]]


#: Where a column's values come from: an entity field's name, a constant, or a computation.
Source = str | Const | Computed


@dataclass(frozen=True)
class TableRecipe:
    """One table: the entity kind its rows come from, and where each column's values come
    from. By default a table has one row per entity; ``rows`` overrides that (a filter, or
    several rows per entity) and then ``rows_per_office`` must say exactly how many rows each
    office gets (the loader checks the count)."""

    name: str
    entity: Kind
    columns: Mapping[str, Source]
    rows: Callable[[Block], Iterable[Row]] | None = None
    rows_per_office: RowsPerOffice | None = None

    def __post_init__(self) -> None:
        if (self.rows is None) != (self.rows_per_office is None):
            raise ValueError(f"table {self.name!r}: give both rows and rows_per_office, or neither")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def count_per_office(self, scale: Scale, data: DataConfig, mode: DataMode) -> int:
        """Rows each office gets."""
        if self.rows_per_office is not None:
            return self.rows_per_office(scale, data, mode)
        return per_office(self.entity, scale, data, mode)

    def generate(self, shape: Shape) -> Iterator[Row]:
        """The table's rows for ``shape``, in bounded memory."""
        number = 0
        for raw in entity_blocks(self.entity, shape):
            size = len(raw["id"])
            block = {**raw, "entity_number": range(number + 1, number + size + 1)}
            number += size
            if self.rows is not None:
                yield from self.rows(block)
                continue
            columns = [_values(source, block, size) for source in self.columns.values()]
            yield from zip(*columns, strict=False)  # constants repeat without end


def _values(source: Source, block: Block, size: int) -> Iterable[Any]:
    if isinstance(source, str):
        return block[source]
    if isinstance(source, Const):
        return itertools.repeat(source.value, size)
    return source.fn(block)


@dataclass(frozen=True)
class Recipe:
    """How an application's tables are filled; see the module docstring."""

    #: Bump whenever a change in the recipe changes the rows a seed makes.
    version: int
    #: Every table's recipe, parents first (the schema's order).
    tables: tuple[TableRecipe, ...]
    #: Table -> its date columns that move with the calendar (relative to the anchor).
    dated_columns: Mapping[str, tuple[str, ...]]

    def table(self, name: str) -> TableRecipe:
        return next(t for t in self.tables if t.name == name)

    def row_counts(self, scale: Scale, data: DataConfig, mode: DataMode) -> dict[str, int]:
        """Rows per table that seeding ``scale`` in ``mode`` makes, tables in recipe order."""
        return {t.name: scale.offices * t.count_per_office(scale, data, mode) for t in self.tables}

    def parameters(self, scale: Scale, data: DataConfig) -> dict[str, Any]:
        """Everything besides seed and mode that shapes the rows, as plain JSON values."""
        return {**parameters(scale, data), "entities": ENTITY_VERSION}
