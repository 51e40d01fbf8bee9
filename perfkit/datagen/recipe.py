"""Data recipes: how an application's tables are filled with deterministic rows.

An application (see :mod:`perfkit.app`) hands perfkit a :class:`Recipe`: one
:class:`TableRecipe` per table, in dependency order (parents first), each naming the columns it
fills and yielding rows for a :class:`Shape`. A dataset is decided by its shape (scale, data
settings, mode, seed, anchor date) and the recipe's :attr:`Recipe.version`: the same shape and
version give the same rows, ids included. Child tables replay their parents' id streams
(:meth:`Shape.ids`) instead of reading ids back, so tables load independently, in parallel.

Dates are relative to the anchor date, which is stored with the data; the recipe names the
columns that move with the calendar (:attr:`Recipe.dated_columns`) so a restore can shift
them to today. The helpers below (:func:`blocks`, :func:`repeat_each`, :func:`apportion`,
:func:`days`) are what recipes share to draw columns in bulk.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfkit.config import DataConfig, DataMode, Scale
from perfkit.datagen.ids import IdStream, stream_key

#: Rows a generator draws at a time (whole offices, at least one).
BLOCK_ROWS = 8192

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Shape:
    """Everything that decides a dataset's rows."""

    scale: Scale
    data: DataConfig
    mode: DataMode
    seed: int
    anchor: dt.date
    #: The recipe's version: part of every random stream's key.
    version: int

    def ids(self, table: str) -> IdStream:
        """A fresh replay of ``table``'s id stream."""
        return IdStream(self._key(table, "id"))

    def rng(self, table: str, purpose: str = "attrs") -> random.Random:
        """A fresh random stream for ``table``'s other columns."""
        return random.Random(self._key(table, purpose))  # noqa: S311 (test data, not secrets)

    def _key(self, table: str, purpose: str) -> str:
        return stream_key(
            generator_version=self.version, seed=self.seed, table=table, purpose=purpose
        )


RowsPerOffice = Callable[[Scale, DataConfig, DataMode], int]


@dataclass(frozen=True)
class TableRecipe:
    """One table's generator: the columns it fills, in order, and its rows."""

    name: str
    columns: tuple[str, ...]
    rows_per_office: RowsPerOffice
    generate: Callable[[Shape], Iterator[Row]]


@dataclass(frozen=True)
class Recipe:
    """How an application's tables are filled; see the module docstring."""

    #: Bump whenever a change in the recipe changes the rows a seed makes.
    version: int
    #: Every table's generator, parents first.
    tables: tuple[TableRecipe, ...]
    #: Table -> its date columns that move with the calendar (relative to the anchor).
    dated_columns: Mapping[str, tuple[str, ...]]
    #: Everything besides seed and mode that shapes the rows, as plain JSON values.
    parameters: Callable[[Scale, DataConfig], dict[str, Any]]

    def table(self, name: str) -> TableRecipe:
        return next(t for t in self.tables if t.name == name)

    def row_counts(self, scale: Scale, data: DataConfig, mode: DataMode) -> dict[str, int]:
        """Rows per table that seeding ``scale`` in ``mode`` makes, tables in recipe order."""
        return {t.name: scale.offices * t.rows_per_office(scale, data, mode) for t in self.tables}


# --------------------------------------------------------------------------------------------
# helpers recipes share


def blocks(offices: int, rows_per_office: int) -> Iterator[tuple[int, int]]:
    """(first office, number of offices) blocks of about :data:`BLOCK_ROWS` rows."""
    step = max(1, BLOCK_ROWS // max(1, rows_per_office))
    for first in range(0, offices, step):
        yield first, min(step, offices - first)


def repeat_each(values: Sequence[Any], times: int) -> list[Any]:
    """``[a, a, b, b]`` for ``values=[a, b], times=2``."""
    return list(itertools.chain.from_iterable(itertools.repeat(v, times) for v in values))


def apportion(shares: Mapping[str, float], n: int) -> list[str]:
    """``n`` labels split by ``shares`` exactly (largest remainder, ties by order given)."""
    exact = {label: share * n for label, share in shares.items()}
    counts = {label: int(value) for label, value in exact.items()}
    by_remainder = sorted(shares, key=lambda label: -(exact[label] - counts[label]))
    for label in by_remainder[: n - sum(counts.values())]:
        counts[label] += 1
    return [label for label in shares for _ in range(counts[label])]


def days(anchor: dt.date, first: int, last: int) -> list[dt.date]:
    """Dates for day offsets ``first..last`` from the anchor; index ``i`` is ``first + i``."""
    return [anchor + dt.timedelta(days=d) for d in range(first, last + 1)]


def per_office(attr: str) -> RowsPerOffice:
    """Rows per office given by one of the scale's counts (``staff_per_office``, ...)."""
    return lambda scale, _data, _mode: int(getattr(scale, attr))


def one_per_office(_scale: Scale, _data: DataConfig, _mode: DataMode) -> int:
    """One row per office."""
    return 1
