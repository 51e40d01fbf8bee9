"""Column value makers: each gives the values of one or more columns for a block of rows.

Two families:

- *drawn* makers take a seeded stream of their own per block (:class:`Block.rng`): pools,
  ranges, random UUIDs, NULL shares. Fast: one C-level draw per value.
- *addressed* makers compute the value of row ``i`` from ``i`` alone (:meth:`Addressed.at`), so
  a child table can compute the key of any parent row without reading anything back:
  sequences, and *injective* values (distinct by construction) for unique keys: row ``i``
  gets ``f(perm(i))`` where ``perm`` is an affine permutation of ``0..R-1`` and ``f`` is
  one-to-one (a number, a text with ``i`` written in base 36 after its last separator, a
  UUID whose low 62 bits are a bijection of ``i``, a timestamp ``i`` steps into the window).

Every stream's key names the seed, the table, the column and the block number, so the same
seed gives the same values in any order, on any machine (``random.Random`` seeds a string
through SHA-512; nothing uses ``hash()``).

Over 500 lines: every maker a plan uses, each small, read best beside the others it combines
with (drawn, addressed, parents, timestamps).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from asyncpg import Range
from asyncpg.pgproto.pgproto import UUID as _FastUUID

_MASK62 = (1 << 62) - 1
_MASK64 = (1 << 64) - 1
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, digit = divmod(n, 36)
        out.append(_B36[digit])
    return "".join(reversed(out))


def mix64(x: int) -> int:
    """splitmix64's finalizer: a bijection of 64-bit integers that scatters its input."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
    return x ^ (x >> 31)


def _bijection62(x: int, salt: int) -> int:
    """A bijection of 62-bit integers (odd multiplications, an addition, xor-shifts)."""
    x = (x * 0x9E3779B97F4A7C15 + salt) & _MASK62
    x ^= x >> 31
    x = (x * 0xD6E8FEB86659FD93) & _MASK62
    return x ^ (x >> 29)


def key_number(key: str) -> int:
    """A 64-bit number from a stream key, stable across machines (not ``hash()``)."""
    return random.Random(key).getrandbits(64)  # noqa: S311 - test data


@dataclass(frozen=True)
class Permutation:
    """``i -> (a * i + b) mod size``: a permutation of ``0..size-1`` that looks shuffled."""

    size: int
    a: int
    b: int

    @classmethod
    def of(cls, size: int, key: str) -> Permutation:
        if size <= 1:
            return cls(max(size, 1), 1, 0)
        number = key_number(key)
        a = (number | 1) % size or 1
        while math.gcd(a, size) != 1:
            a = a % (size - 1) + 1
        return cls(size, a, (number >> 32) % size)

    def __call__(self, i: int) -> int:
        return (self.a * i + self.b) % self.size


@dataclass
class Block:
    """One block of rows being made: rows ``start .. start + n - 1`` of ``table``."""

    table: str
    start: int
    n: int
    number: int
    key: str
    #: Each row's parent row number (a ``per`` table), and its rank among its siblings.
    parents: list[int] | None = None
    ranks: list[int] | None = None
    #: Columns already made for this block (a maker may read the ones before it).
    done: dict[str, list[Any]] = field(default_factory=dict)

    def rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self.key}/{self.table}/{purpose}/{self.number}")  # noqa: S311

    @property
    def indices(self) -> range:
        return range(self.start, self.start + self.n)


class Maker(Protocol):
    """Makes ``columns`` for a block: one list of ``block.n`` values per column."""

    @property
    def columns(self) -> tuple[str, ...]: ...

    def make(self, block: Block) -> list[list[Any]]: ...


class Addressed(Protocol):
    """Values computed from the row number alone."""

    def at(self, indices: Sequence[int]) -> list[Any]: ...


def with_nulls(values: list[Any], share: float, rng: random.Random) -> list[Any]:
    if share <= 0:
        return values
    draw = rng.random
    return [None if draw() < share else v for v in values]


# -- drawn makers ------------------------------------------------------------------------------


#: Values in a drawn column's ring: a block reads a slice of it at a random offset.
RING = 16384


@dataclass(frozen=True)
class Drawn:
    """Values drawn from ``pool`` (with optional cumulative weights), a share of them NULL.

    The draws are made once: a *ring* of :data:`RING` values drawn from the column's own
    stream (NULLs included); each block reads :data:`RING`-wrapped consecutive values from
    an offset its own stream picks. A block costs one draw and one slice, whatever its size;
    each column keeps its distribution, and rows pair values of different columns at
    offsets that change from block to block.
    """

    column: str
    pool: Sequence[Any]
    null_share: float = 0.0
    cum_weights: Sequence[float] | None = None
    key: str = ""
    #: The ring's length: :data:`RING`, or the table's rows when fewer.
    size: int = RING
    _ring: list[list[Any]] = field(default_factory=list, init=False, compare=False, repr=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def ring(self) -> list[Any]:
        if not self._ring:
            rng = random.Random(f"{self.key}/{self.column}/ring")  # noqa: S311 - test data
            values = rng.choices(self.pool, cum_weights=self.cum_weights, k=self.size)
            values = with_nulls(values, self.null_share, rng)
            self._ring.append(values + values)
        return self._ring[0]

    def make(self, block: Block) -> list[list[Any]]:
        ring, size = self.ring(), self.size
        offset = block.rng(self.column).randrange(size)
        if block.n <= size:
            return [ring[offset : offset + block.n]]
        return [[ring[(offset + i) % size] for i in range(block.n)]]


@dataclass(frozen=True)
class Constant:
    column: str
    value: Any
    null_share: float = 0.0

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        values = [self.value] * block.n
        return [with_nulls(values, self.null_share, block.rng(self.column))]

    def at(self, indices: Sequence[int]) -> list[Any]:
        return [self.value] * len(indices)


@dataclass(frozen=True)
class RandomUuids:
    column: str
    null_share: float = 0.0

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        rng = block.rng(self.column)
        raw = bytearray(rng.randbytes(16 * block.n))
        for i in range(6, len(raw), 16):
            raw[i] = (raw[i] & 0x0F) | 0x40
            raw[i + 2] = (raw[i + 2] & 0x3F) | 0x80
        data = bytes(raw)
        values = [_FastUUID(data[i : i + 16]) for i in range(0, 16 * block.n, 16)]
        return [with_nulls(values, self.null_share, rng)]


@dataclass(frozen=True)
class Called:
    """An override: ``fn(row)`` per row, ``row`` the values made so far in that row (a dict,
    with ``"_index"`` the row number; in a child table with ``per``, ``"_parent"`` its parent's
    row number and ``"_rank"`` its rank among that parent's rows, from 0)."""

    column: str
    fn: Callable[[Mapping[str, Any]], Any]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        names = list(block.done)
        lists = [block.done[n] for n in names]
        out = []
        parents, ranks = block.parents, block.ranks
        for offset, index in enumerate(block.indices):
            row = {name: values[offset] for name, values in zip(names, lists, strict=True)}
            row["_index"] = index
            if parents is not None and ranks is not None:
                row["_parent"] = parents[offset]
                row["_rank"] = ranks[offset]
            out.append(self.fn(row))
        return [out]


@dataclass(frozen=True)
class After:
    """``column op other`` in every row: ``other``'s value plus a step drawn from ``steps``
    (positive for ``>``/``>=``, negative for ``<``/``<=``); NULL where ``other`` is NULL or
    in a share of rows."""

    column: str
    other: str
    steps: Sequence[Any]
    null_share: float = 0.0
    clamp: Callable[[Any], Any] | None = None
    #: The columns hold :func:`moment` tuples (``steps`` are then microseconds).
    moments: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        rng = block.rng(self.column)
        base = block.done[self.other]
        steps = rng.choices(self.steps, k=block.n)
        if self.moments:  # (microseconds,) tuples, and steps in microseconds
            values = [None if b is None else (b[0] + s,) for b, s in zip(base, steps, strict=True)]
        else:
            values = [None if b is None else b + s for b, s in zip(base, steps, strict=True)]
        if self.clamp is not None:
            values = [None if v is None else self.clamp(v) for v in values]
        return [with_nulls(values, self.null_share, rng)]


# -- addressed makers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sequential:
    """``start + i * step``: a sequence-fed key (``SERIAL``, identity, ``nextval``)."""

    column: str
    first: int = 1
    step: int = 1

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        return [self.at(block.indices)]

    def at(self, indices: Sequence[int]) -> list[Any]:
        first, step = self.first, self.step
        if isinstance(indices, range) and indices.step == 1:
            return list(range(first + indices.start * step, first + indices.stop * step, step))
        if step == 1:
            return [first + i for i in indices]
        return [first + i * step for i in indices]


@dataclass(frozen=True)
class Injective:
    """Distinct values by construction: row ``i`` gets ``value(perm(i))``."""

    column: str
    perm: Permutation
    value: Callable[[int], Any]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        return [self.at(block.indices)]

    def at(self, indices: Sequence[int]) -> list[Any]:
        perm, value = self.perm, self.value
        return [value(perm(i)) for i in indices]


@dataclass(frozen=True)
class Listed:
    """The rows of a CSV file, column by column."""

    column: str
    values: Sequence[Any]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        return [list(self.values[block.start : block.start + block.n])]

    def at(self, indices: Sequence[int]) -> list[Any]:
        return [self.values[i] for i in indices]


@dataclass(frozen=True)
class Hashed:
    """A pool value picked from row ``i``'s number alone (for a column other tables' keys
    read, that is not distinct)."""

    column: str
    pool: Sequence[Any]
    salt: int

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def make(self, block: Block) -> list[list[Any]]:
        return [self.at(block.indices)]

    def at(self, indices: Sequence[int]) -> list[Any]:
        pool, salt, size = self.pool, self.salt, len(self.pool)
        return [pool[mix64(i ^ salt) % size] for i in indices]


# -- injective value functions -------------------------------------------------------------------


def injective_text(
    pool: Sequence[str], *, max_length: int | None, email: bool
) -> Callable[[int], str]:
    """``k -> pool[k % len] + '-' + base36(k)`` (an e-mail gets ``.base36(k)`` before its
    ``@``), cut to ``max_length``: distinct because the base-36 part, which holds no
    separator, comes last."""
    size = len(pool)

    def value(k: int) -> str:
        tail = base36(k)
        if email:
            local, _, domain = pool[k % size].partition("@")
            return f"{local}.{tail}@{domain or 'example.com'}"
        head = pool[k % size]
        if max_length is not None and len(head) + len(tail) + 1 > max_length:
            head = head[: max(0, max_length - len(tail) - 1)]
        return f"{head}-{tail}" if head else tail

    return value


def injective_uuid(salt: int) -> Callable[[int], Any]:
    def value(k: int) -> Any:
        high = (mix64(k ^ salt) & ~(0xF << 12)) | (0x4 << 12)
        low = _bijection62(k, salt) | (0b10 << 62)
        return _FastUUID(((high << 64) | low).to_bytes(16, "big"))

    return value


def injective_timestamp(first: dt.datetime, step: dt.timedelta) -> Callable[[int], Any]:
    return lambda k: first + step * k


def injective_date(first: dt.date) -> Callable[[int], Any]:
    return lambda k: first + dt.timedelta(days=k)


def injective_number(low: int, scale: int) -> Callable[[int], Any]:
    if scale <= 0:
        return lambda k: low + k
    return lambda k: Decimal(low + k).scaleb(-scale)


def injective_bytes(salt: int) -> Callable[[int], Any]:
    prefix = salt.to_bytes(8, "big")
    return lambda k: prefix + k.to_bytes(8, "big")


def disjoint_range(first: Any, slot: Any, length: Any) -> Callable[[int], Any]:
    """Row ``k``'s range ``[first + k*slot, first + k*slot + length)``: no two overlap."""
    return lambda k: Range(first + slot * k, first + slot * k + length)


# -- parents ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Groups:
    """How a child table's rows spread over its parent's: parent ``p`` has ``count(p)``
    children, in parent order. A fixed count needs no table of starts."""

    parents: int
    fixed: int | None
    #: Cumulative starts (``parents + 1`` of them) when counts vary.
    starts: Sequence[int] | None = None

    @property
    def rows(self) -> int:
        if self.fixed is not None:
            return self.parents * self.fixed
        assert self.starts is not None
        return self.starts[-1]

    def locate(self, start: int, n: int) -> tuple[list[int], list[int]]:
        """(parent row, rank among siblings) of rows ``start .. start + n - 1``."""
        if self.fixed is not None:
            size = self.fixed
            rows = range(start, start + n)
            return [r // size for r in rows], [r % size for r in rows]
        starts = self.starts
        assert starts is not None
        parents: list[int] = []
        ranks: list[int] = []
        p = bisect.bisect_right(starts, start) - 1
        row = start
        end = start + n
        while row < end:
            while starts[p + 1] <= row:
                p += 1
            upto = min(end, starts[p + 1])
            parents.extend(itertools.repeat(p, upto - row))
            ranks.extend(range(row - starts[p], upto - starts[p]))
            row = upto
        return parents, ranks


@dataclass(frozen=True)
class Reference:
    """One foreign key of a child table: its columns and the parent's key makers."""

    columns: tuple[str, ...]
    keys: tuple[Addressed, ...]
    #: Rows of the parent table.
    size: int


@dataclass(frozen=True)
class Parents:
    """The foreign-key columns of a block: which parent row each row points at, then that
    row's key values.

    ``how`` is ``per`` (the row's own parent, from the table's groups), ``distinct`` (a
    parent different from its siblings': ``(A * rank + mix(parent)) mod size``, for M:N
    tables), ``unique`` (a permutation: each parent at most once), ``combo`` (the references
    together take distinct combinations, one permutation over their product), ``earlier`` (a
    row of the same table made before it), ``hashed`` (picked from the row number alone) or
    ``random``.
    """

    references: tuple[Reference, ...]
    how: str
    salt: int
    null_share: float = 0.0
    nullable: bool = False
    perm: Permutation | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for ref in self.references for c in ref.columns)

    def make(self, block: Block) -> list[list[Any]]:
        chosen = self._chosen(block)
        out: list[list[Any]] = []
        for ref, rows in zip(self.references, chosen, strict=True):
            present = [r for r in rows if r is not None]
            for key in ref.keys:
                if len(present) == len(rows):
                    out.append(key.at(present))
                    continue
                values = iter(key.at(present))
                out.append([None if r is None else next(values) for r in rows])
        return out

    def at(self, indices: Sequence[int]) -> list[Any]:  # pragma: no cover - via Hashed keys
        raise NotImplementedError

    def _chosen(self, block: Block) -> list[list[int | None]]:
        how = self.how
        sizes = [ref.size for ref in self.references]
        rng = block.rng("/".join(self.columns))
        rows: list[int | None]
        if how == "per":
            assert block.parents is not None
            rows = list(block.parents)
        elif how == "distinct":
            assert block.parents is not None and block.ranks is not None
            size, salt = sizes[0], self.salt
            step = self.perm.a if self.perm is not None else 1
            offsets = {p: mix64(p ^ salt) for p in set(block.parents)}
            rows = [
                (step * rank + offsets[parent]) % size
                for parent, rank in zip(block.parents, block.ranks, strict=True)
            ]
        elif how in ("unique", "combo"):
            assert self.perm is not None
            perm = self.perm
            combined = [perm(i) for i in block.indices]
            if how == "unique":
                rows = list(combined)
            else:
                return _split(combined, sizes)
        elif how == "earlier":
            rows = [
                rng.randrange(i) if i else (None if self.nullable else 0) for i in block.indices
            ]
        elif how == "hashed":
            size, salt = sizes[0], self.salt
            rows = [mix64(i ^ salt) % size for i in block.indices]
        else:  # a walk with a stride coprime to the size, from where this block's stream says
            assert self.perm is not None
            size, step = sizes[0], self.perm.a
            first = rng.randrange(size)
            rows = [(first + step * i) % size for i in range(block.n)]
        if self.null_share > 0 and how not in ("per", "unique", "combo", "distinct"):
            draw = rng.random
            rows = [None if draw() < self.null_share else r for r in rows]
        return [rows]


def _split(combined: Sequence[int], sizes: Sequence[int]) -> list[list[int | None]]:
    """Mixed-radix digits of each combined index, one list per radix."""
    out: list[list[int | None]] = [[] for _ in sizes]
    for value in combined:
        for digits, size in zip(out, sizes, strict=True):
            value, digit = divmod(value, size)
            digits.append(digit)
    return out


# -- timestamps as the loader writes them --------------------------------------------------------

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(2000, 1, 1)
MOMENT_TYPES = frozenset({"timestamptz", "timestamp"})


def moment(value: Any) -> Any:
    """A timestamp as PostgreSQL stores it: ``(microseconds since 2000-01-01,)``, the form the
    loader's timestamp codec passes through unchanged (asyncpg's own encoder costs more per
    value than the rest of a row). None stays None."""
    if value is None or isinstance(value, tuple):
        return value
    delta = value - (_EPOCH if value.tzinfo is not None else _NAIVE_EPOCH)
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds,)


def from_moment(value: tuple[int], *, aware: bool = True) -> dt.datetime:
    return (_EPOCH if aware else _NAIVE_EPOCH) + dt.timedelta(microseconds=value[0])


def step_micros(step: Any) -> int:
    """A ``timedelta`` step in microseconds (numbers pass as they are)."""
    if isinstance(step, dt.timedelta):
        return (step.days * 86_400 + step.seconds) * 1_000_000 + step.microseconds
    return int(step)


@dataclass(frozen=True)
class AsMoments:
    """Another maker's timestamps turned into :func:`moment` tuples, value by value (for
    makers whose values are not a pool: injective, CSV rows, a team's function)."""

    inner: Any

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.inner.columns)

    def make(self, block: Block) -> list[list[Any]]:
        return [[moment(v) for v in values] for values in self.inner.make(block)]

    def at(self, indices: Sequence[int]) -> list[Any]:
        return [moment(v) for v in self.inner.at(indices)]
