"""The shape of a dataset, and the bulk-drawing helpers its generators share.

A dataset is decided by its :class:`Shape` (scale, data settings, mode, seed, anchor date) and
the entities' version: the same shape gives the same entities, ids included
(:mod:`perfkit.datagen.entities`), and so the same rows of any recipe.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
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
    #: The entities' version (:data:`perfkit.datagen.entities.ENTITY_VERSION`): part of every
    #: random stream's key.
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


# --------------------------------------------------------------------------------------------
# helpers generators share


def blocks(offices: int, rows_per_office: int) -> Iterator[tuple[int, int]]:
    """(first office, number of offices) blocks of about :data:`BLOCK_ROWS` rows."""
    step = max(1, BLOCK_ROWS // max(1, rows_per_office))
    for first in range(0, offices, step):
        yield first, min(step, offices - first)


def repeat_each(values: Sequence[Any], times: int) -> list[Any]:
    """``[a, a, b, b]`` for ``values=[a, b], times=2``."""
    return list(itertools.chain.from_iterable(zip(*[values] * times, strict=True)))


def apportion(shares: Mapping[str, float], n: int) -> list[str]:
    """``n`` labels split by ``shares`` exactly (largest remainder, ties by order given)."""
    exact = {label: share * n for label, share in shares.items()}
    counts = {label: int(value) for label, value in exact.items()}
    by_remainder = sorted(shares, key=lambda label: -(exact[label] - counts[label]))
    for label in by_remainder[: n - sum(counts.values())]:
        counts[label] += 1
    return [label for label in shares for _ in range(counts[label])]


@functools.lru_cache(maxsize=16)
def days(anchor: dt.date, first: int, last: int) -> tuple[dt.date, ...]:
    """Dates for day offsets ``first..last`` from the anchor; index ``i`` is ``first + i``
    (kept: a range of birthdays is tens of thousands of dates, asked for by several tables)."""
    origin = anchor.toordinal()
    return tuple(map(dt.date.fromordinal, range(origin + first, origin + last + 1)))
