"""What values fit one column, from its type, its CHECKs, its name and its table's partitions.

:func:`value_space` gives a column's :class:`Space`: a *pool* to draw from (a few thousand
values at most, built once per plan from the column's own seeded stream) and, where the type
allows, an *injective* map ``k -> value`` over ``0..size-1`` for unique keys. The rules:

=====================  ============================================================
type                   values
=====================  ============================================================
smallint/int/bigint    a range: the CHECK bounds, else one the name suggests (``age``
                       18-90, ``year``, ``price``, ``rating`` 1-5 ...), else 0-100000
numeric(p, s)          the same, at scale ``s``, within the precision
real, double           the same, as floats
text, varchar(n),      by name (:mod:`perfkit.datagen.infer.providers`), cut to ``n``
char(n), citext        and to the CHECK lengths; an ``IN`` list when there is one
uuid                   random version-4 UUIDs
date, timestamp(tz)    within the window around the anchor date, the CHECK bounds and
                       the range partitions' bounds
time, interval         a day's minutes; minutes to a month
boolean, ENUM          the labels (the ``IN`` list's when there is one)
json, jsonb            small objects
bytea, inet, cidr      bytes; 10.0.0.0/8 addresses and /24 networks
tsvector               a few words
arrays                 zero to three elements of the element type
ranges                 ranges over the element type's values
=====================  ============================================================

Other types have no space: the planner names the column unless it may be NULL or has a
default.

Over 500 lines: one small rule per type, kept beside the table above.

Over 500 lines: one value space per PostgreSQL type family and CHECK shape, side by side so
that a type's rules are found in one place.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from asyncpg import Range

from perfkit.datagen.infer import providers
from perfkit.datagen.infer.checks import ColumnRules
from perfkit.datagen.infer.values import (
    injective_bytes,
    injective_date,
    injective_number,
    injective_text,
    injective_timestamp,
    injective_uuid,
    key_number,
    moment,
)
from perfkit.ddl.model import Column, ColumnType

#: Values in a drawn pool of a continuous type.
POOL = 4096
_INT_TYPES = {"int2": (-(2**15), 2**15 - 1), "int4": (-(2**31), 2**31 - 1),
              "int8": (-(2**63), 2**63 - 1)}  # fmt: skip
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})
_BIG = 2**62

#: (name pattern, low, high) for integer-like columns without CHECK bounds.
_NUMBER_HINTS: tuple[tuple[str, int, int], ...] = (
    (r"(^|_)age$", 18, 90),
    (r"(^|_)(year|yr)$", 1990, 2030),
    (r"(^|_)(rating|score|stars|grade)$", 1, 5),
    (r"(^|_)(percent|pct|percentage)$", 0, 100),
    (r"(^|_)(count|qty|quantity|num|number|stock)($|_)", 0, 100),
    (r"(^|_)(price|amount|cost|total|fee|salary|balance|budget)($|_)", 1, 10000),
    (r"(^|_)(minutes|duration|length|seconds)$", 1, 240),
    (r"(^|_)(priority|level|rank|position|sort|order)$", 1, 10),
)


@dataclass(frozen=True)
class Space:
    """The values a column may take: ``pool`` to draw from; ``injective`` maps ``k`` in
    ``0..size-1`` to distinct values (None when the type cannot be distinct); ``codec``
    names a type the loader must register a binary codec for."""

    pool: Sequence[Any]
    injective: Callable[[int], Any] | None = None
    size: int = 0
    codec: str | None = None
    #: Steps to add to another column's value for ``this > other`` (dates, timestamps, numbers).
    steps: Sequence[Any] | None = None


@dataclass(frozen=True)
class Window:
    """Dates and timestamps: from ``first`` to ``last`` (inclusive), in UTC."""

    first: dt.datetime
    last: dt.datetime

    @classmethod
    def around(cls, anchor: dt.date, *, past_days: int, future_days: int) -> Window:
        midnight = dt.datetime(anchor.year, anchor.month, anchor.day, tzinfo=dt.UTC)
        return cls(
            midnight - dt.timedelta(days=past_days), midnight + dt.timedelta(days=future_days)
        )


@dataclass(frozen=True)
class Partitions:
    """What a partition key column must hold for each row to find a partition: ``ranges``
    ((low, high) with None for MINVALUE/MAXVALUE) or ``values`` (a list partition's), or
    nothing when there is a default partition or the key is hashed."""

    ranges: tuple[tuple[Any, Any], ...] = ()
    values: tuple[Any, ...] = ()


class _NoSpace(Exception):
    pass


def value_space(
    table: str,
    column: Column,
    rules: ColumnRules,
    *,
    key: str,
    locale: str,
    window: Window,
    rows: int,
    partitions: Partitions | None = None,
) -> Space | None:
    """``column``'s :class:`Space`, or None when perfkit has no values for its type."""
    kind = column.type
    try:
        return _space(table, column.name, kind, rules, key, locale, window, rows, partitions)
    except _NoSpace:
        return None


def _rng(key: str) -> Any:
    import random

    return random.Random(key)  # noqa: S311 - test data


def _space(
    table: str,
    name: str,
    kind: ColumnType,
    rules: ColumnRules,
    key: str,
    locale: str,
    window: Window,
    rows: int,
    partitions: Partitions | None,
) -> Space:
    base = kind.base
    if partitions is not None and partitions.values:
        values = tuple(v for v in partitions.values if v is not None and rules.accepts(v))
        if not values:
            raise _NoSpace
        return Space(pool=values, size=len(values))
    if rules.allowed is not None:
        allowed = tuple(v for v in rules.allowed if rules.accepts(v))
        if not allowed:
            raise _NoSpace
        return Space(pool=_typed(allowed, base), size=len(allowed))
    if kind.category == "E" and kind.labels is not None:
        labels = tuple(v for v in kind.labels if rules.accepts(v))
        return Space(pool=labels, injective=labels.__getitem__, size=len(labels))
    if base in _INT_TYPES:
        return _integers(name, base, rules, partitions)
    if base == "numeric":
        return _numerics(name, kind.typmod, rules, key)
    if base in ("float4", "float8"):
        return _floats(name, rules, key)
    if base in _TEXT_TYPES:
        return _texts(table, name, kind, rules, locale)
    if base == "bool":
        return Space(pool=(True, False), injective=(False, True).__getitem__, size=2)
    if base == "uuid":
        return Space(pool=(), injective=injective_uuid(key_number(key)), size=_BIG)
    if base in ("date", "timestamp", "timestamptz"):
        return _moments(base, rules, key, window, rows, partitions)
    if base in ("time", "timetz"):
        times = tuple(dt.time(m // 60, m % 60) for m in range(0, 1440, 5))
        return Space(pool=times, injective=times.__getitem__, size=len(times))
    if base == "interval":
        return Space(pool=tuple(dt.timedelta(minutes=m) for m in range(1, 43200, 37)))
    if base in ("json", "jsonb"):
        return _json(key, locale)
    if base == "bytea":
        rng = _rng(key)
        pool = tuple(rng.randbytes(rng.randint(8, 32)) for _ in range(256))
        return Space(pool=pool, injective=injective_bytes(key_number(key)), size=_BIG)
    if base == "inet":
        hosts = tuple(ipaddress.IPv4Address(0x0A000000 + (i * 7919) % 2**24) for i in range(1024))
        return Space(
            pool=hosts, injective=lambda k: ipaddress.IPv4Address(0x0A000000 + k), size=2**24
        )
    if base == "cidr":
        return Space(
            pool=tuple(ipaddress.IPv4Network((0x0A000000 + (i << 8), 24)) for i in range(256))
        )
    if base == "tsvector":
        words = providers.pool(locale, "word")
        rng = _rng(key)
        lexemes = tuple(tuple(rng.sample(words, rng.randint(2, 6))) for _ in range(512))
        return Space(pool=lexemes, codec="tsvector")
    if base == "xml":
        return Space(pool=tuple(f"<item>{w}</item>" for w in providers.pool(locale, "word")[:256]))
    if kind.category == "A" and kind.element is not None:
        return _arrays(table, name, kind, key, locale, window)
    if kind.category == "R":
        return _ranges(base, key, window, rows)
    raise _NoSpace


def _typed(values: Sequence[Any], base: str) -> tuple[Any, ...]:
    """IN-list constants in the column's Python type (a ``numeric`` list of ints, say)."""
    if base == "numeric":
        return tuple(Decimal(v) if isinstance(v, int | str) else v for v in values)
    if base in ("float4", "float8"):
        return tuple(float(v) for v in values)
    return tuple(values)


def _hinted(name: str) -> tuple[int, int] | None:
    for pattern, low, high in _NUMBER_HINTS:
        if re.search(pattern, name.lower()):
            return low, high
    return None


def _int_bounds(rules: ColumnRules, low: int, high: int) -> tuple[int, int]:
    if rules.low is not None:
        bound = int(_ceil(rules.low))
        low = max(low, bound + (0 if rules.low_inclusive or bound != rules.low else 1))
    if rules.high is not None:
        bound = int(_floor(rules.high))
        high = min(high, bound - (0 if rules.high_inclusive or bound != rules.high else 1))
    return low, high


def _ceil(value: Any) -> Decimal:
    return Decimal(value).to_integral_value(rounding=ROUND_CEILING)


def _floor(value: Any) -> Decimal:
    return Decimal(value).to_integral_value(rounding=ROUND_FLOOR)


def _integers(name: str, base: str, rules: ColumnRules, partitions: Partitions | None) -> Space:
    smallest, largest = _INT_TYPES[base]
    low, high = _int_bounds(rules, smallest, largest)
    if rules.low is None and rules.high is None:
        low, high = _hinted(name) or (0, 1000 if base == "int2" else 100_000)
        low, high = max(low, smallest), min(high, largest)
    if partitions is not None and partitions.ranges:
        first, last = partitions.ranges[0]
        low = max(low, first if first is not None else low)
        high = min(high, last - 1 if last is not None else high)
    if low > high:
        raise _NoSpace
    pool: Sequence[int] = range(low, high + 1)
    if rules.excluded and high - low < 100_000:
        pool = tuple(v for v in pool if v not in rules.excluded)
    first_value = low
    return Space(
        pool=pool,
        injective=lambda k: first_value + k,
        size=high - low + 1,
        steps=range(1, max(2, (high - low) // 10 + 1)),
    )


def _numerics(name: str, typmod: int, rules: ColumnRules, key: str) -> Space:
    if typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        limit = Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)
    else:
        precision, scale, limit = 0, 2, Decimal("1e12")
    unit = Decimal(1).scaleb(-scale)
    low, high = -limit, limit
    if rules.low is None and rules.high is None:
        hinted = _hinted(name) or (0, 10000)
        low, high = max(low, Decimal(hinted[0])), min(high, Decimal(hinted[1]))
    if rules.low is not None:
        low = max(low, Decimal(rules.low) + (0 if rules.low_inclusive else unit))
    if rules.high is not None:
        high = min(high, Decimal(rules.high) - (0 if rules.high_inclusive else unit))
    low_units, high_units = int(_ceil(low / unit)), int(_floor(high / unit))
    if low_units > high_units:
        raise _NoSpace
    rng = _rng(key)
    span = high_units - low_units
    pool = tuple(
        Decimal(low_units + rng.randint(0, span)).scaleb(-scale) for _ in range(min(POOL, span + 1))
    )
    return Space(
        pool=pool,
        injective=injective_number(low_units, scale),
        size=span + 1,
        steps=tuple(Decimal(rng.randint(1, max(1, span // 10))).scaleb(-scale) for _ in range(64)),
    )


def _floats(name: str, rules: ColumnRules, key: str) -> Space:
    low, high = (float(v) for v in (_hinted(name) or (0, 10000)))
    if rules.low is not None:
        low = float(rules.low) + (0 if rules.low_inclusive else 1e-6)
    if rules.high is not None:
        high = float(rules.high) - (0 if rules.high_inclusive else 1e-6)
    if low > high:
        raise _NoSpace
    rng = _rng(key)
    pool = tuple(round(rng.uniform(low, high), 4) for _ in range(POOL))
    return Space(pool=pool, injective=lambda k: low + k * 1e-3, size=int((high - low) * 1000) + 1)


def _texts(table: str, name: str, kind: ColumnType, rules: ColumnRules, locale: str) -> Space:
    provider = providers.kind_for(name, table)
    max_length = kind.typmod - 4 if kind.base in ("varchar", "bpchar") and kind.typmod > 4 else None
    if rules.max_length is not None:
        max_length = rules.max_length if max_length is None else min(max_length, rules.max_length)
    pool = providers.fits(
        providers.pool(locale, provider), min_length=rules.min_length, max_length=max_length
    )
    pool = tuple(v for v in pool if rules.accepts(v))
    if not pool:
        raise _NoSpace
    return Space(
        pool=pool,
        injective=injective_text(pool, max_length=max_length, email=provider == "email"),
        size=_BIG,
        codec="citext" if kind.base == "citext" else None,
    )


def _moments(
    base: str,
    rules: ColumnRules,
    key: str,
    window: Window,
    rows: int,
    partitions: Partitions | None,
) -> Space:
    first, last = window.first, window.last
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    if partitions is not None and partitions.ranges:
        for low, high in partitions.ranges:
            spans.append(
                (
                    _as_moment(low) if low is not None else first,
                    _as_moment(high) - dt.timedelta(seconds=1) if high is not None else last,
                )
            )
    else:
        spans.append((first, last))
    if rules.low is not None:
        bound = _as_moment(rules.low) + (dt.timedelta(0) if rules.low_inclusive else _tick(base))
        spans = [(max(a, bound), b) for a, b in spans]
    if rules.high is not None:
        bound = _as_moment(rules.high) - (dt.timedelta(0) if rules.high_inclusive else _tick(base))
        spans = [(a, min(b, bound)) for a, b in spans]
    spans = [(a, b) for a, b in spans if a <= b]
    if not spans:
        raise _NoSpace
    rng = _rng(key)
    convert = _converter(base)
    if base == "date":
        days = [
            a.date() + dt.timedelta(days=d)
            for a, b in spans
            for d in range((b.date() - a.date()).days + 1)
        ]
        start = spans[0][0].date()
        return Space(
            pool=tuple(days),
            injective=injective_date(start),
            size=(spans[0][1].date() - start).days + 1,
            steps=tuple(dt.timedelta(days=d) for d in range(1, 366)),
        )
    pool = []
    for _ in range(POOL):
        a, b = spans[rng.randrange(len(spans))]
        seconds = int((b - a).total_seconds())
        pool.append(convert(a + dt.timedelta(seconds=rng.randint(0, max(0, seconds)))))
    a, b = spans[0]
    step = max(dt.timedelta(microseconds=1), (b - a) / max(1, rows))
    return Space(
        pool=tuple(pool),
        injective=lambda k: convert(injective_timestamp(a, step)(k)),
        size=max(1, rows) if (b - a) >= step * max(1, rows - 1) else 0,
        steps=tuple(dt.timedelta(minutes=rng.randint(1, 60 * 24 * 30)) for _ in range(256)),
    )


def _tick(base: str) -> dt.timedelta:
    return dt.timedelta(days=1) if base == "date" else dt.timedelta(microseconds=1)


def _as_moment(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        return _as_moment(dt.datetime.fromisoformat(value))
    raise _NoSpace


def _converter(base: str) -> Callable[[dt.datetime], Any]:
    if base == "timestamp":
        return lambda v: v.astimezone(dt.UTC).replace(tzinfo=None)
    return lambda v: v


def _json(key: str, locale: str) -> Space:
    rng = _rng(key)
    words = providers.pool(locale, "word")
    pool = tuple(
        json.dumps(
            {"kind": rng.choice(words), "count": rng.randint(0, 100), "on": rng.random() < 0.5},
            ensure_ascii=False,
            sort_keys=True,
        )
        for _ in range(256)
    )
    return Space(pool=pool, injective=lambda k: json.dumps({"n": k}), size=_BIG)


def _arrays(
    table: str, name: str, kind: ColumnType, key: str, locale: str, window: Window
) -> Space:
    element = ColumnType(
        sql=kind.sql.removesuffix("[]"),
        base=kind.element or "",
        category=kind.element_category or "",
        labels=kind.labels,
    )
    inner = _space(table, name, element, ColumnRules(), key + "/element", locale, window, 1, None)
    if not inner.pool:
        raise _NoSpace
    rng = _rng(key)
    count = 3 if kind.element_category != "E" else min(3, len(inner.pool))
    pool = tuple(
        list(dict.fromkeys(rng.choices(inner.pool, k=rng.randint(0, count)))) for _ in range(256)
    )
    return Space(pool=pool, codec=inner.codec)


def _ranges(base: str, key: str, window: Window, rows: int) -> Space:
    rng = _rng(key)
    if base in ("int4range", "int8range", "numrange"):
        make = Decimal if base == "numrange" else int
        pool = tuple(
            Range(make(lo), make(lo + rng.randint(1, 100)))
            for lo in (rng.randint(0, 10000) for _ in range(512))
        )
        return Space(
            pool=pool, injective=lambda k: Range(make(k * 10), make(k * 10 + 5)), size=_BIG
        )
    if base not in ("daterange", "tsrange", "tstzrange"):
        raise _NoSpace
    naive = _converter("timestamp" if base == "tsrange" else "timestamptz")

    def convert(value: dt.datetime) -> Any:  # the loader writes timestamps as moments
        return moment(naive(value))

    span = window.last - window.first
    if base == "daterange":
        first = window.first.date()
        days = max(1, span.days)
        pool = tuple(
            Range(first + dt.timedelta(days=d), first + dt.timedelta(days=d + rng.randint(1, 14)))
            for d in (rng.randrange(days) for _ in range(512))
        )
        return Space(
            pool=pool,
            injective=lambda k: Range(
                first + dt.timedelta(days=2 * k), first + dt.timedelta(days=2 * k + 1)
            ),
            size=_BIG,
        )
    minutes = max(1, int(span.total_seconds() // 60))
    starts = (window.first + dt.timedelta(minutes=rng.randrange(minutes)) for _ in range(512))
    pool = tuple(
        Range(convert(s), convert(s + dt.timedelta(minutes=rng.choice((30, 60, 90, 120)))))
        for s in starts
    )
    slot = max(dt.timedelta(seconds=2), span / max(1, rows))
    length = slot / 2
    first_moment = window.first
    return Space(
        pool=pool,
        injective=lambda k: Range(
            convert(first_moment + slot * k), convert(first_moment + slot * k + length)
        ),
        size=_BIG,
    )
