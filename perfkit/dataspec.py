"""scales.yaml's ``app.data``: the cardinality language and overrides of inferred data. How
many rows each table gets, how children spread over their parents, and the columns a team
knows better than the catalogue.

Every table not named is inferred (:mod:`perfkit.datagen.infer`). The section is a msgspec
struct of :class:`perfkit.config.Config`, checked when scales.yaml is loaded; a mistake is one
:class:`~perfkit.errors.ConfigError` naming the key path (``app.data.tables.city.count``).

.. code-block:: yaml

    locale: ja_JP            # names, e-mails, phones and addresses
    default_rows: 100        # a root table (no foreign key to follow) without rows:
    default_count: 3         # children per parent for a child table without count:
    null_share: 0.1          # NULLs in a nullable column without its own null_share
    window: {past_days: 730, future_days: 0}   # dates and timestamps around the anchor
    tables:
      country: {rows: 20}                       # a root table; the scale multiplies it
      city: {per: country, count: {uniform: [5, 20]}}
      film_actor: {per: film, count: {zipf: {s: 1.2, max: 10}}}
      payment: {per: rental, via: rental_id, count: {pareto: {alpha: 1.5, max: 4}}}
      language: {csv: data/languages.csv}       # these rows, as they are
      customer:
        columns:
          email: {null_share: 0.2}
          active: {const: 1}
          activebool: {choice: {values: [true, false], weights: [9, 1]}}
          store_id: {call: "perf.data:pick_store"}
          last_name: {sql: "upper(address.district)"}   # over the row's parents, after the load

A count is a number, ``{fixed: n}``, ``{uniform: [a, b]}``, ``{zipf: {s, max}}`` or
``{pareto: {alpha, max}}`` (both at least 1, at most ``max``). msgspec and perfkit's config
helpers only: the configuration imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType, field

from perfkit.typedconfig import (
    Count,
    Fraction,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Section,
    Text,
    build,
    frozen_map,
    to_plain,
)

#: The kinds of distribution a count may be besides a plain number.
DISTRIBUTIONS = ("fixed", "uniform", "zipf", "pareto", "scale")
#: What an override makes a column from.
Kind = Literal["const", "choice", "call", "sql", "days"]
KINDS: tuple[Kind, ...] = ("const", "choice", "call", "sql", "days")
#: The numbers of a scale a count may follow (``{scale: recipients_per_office}``), besides
#: the ones a scale lists under ``counts``.
SCALE_NUMBERS = ("offices", "staff_per_office", "recipients_per_office", "cycles_per_plan")
#: A preset's name: a YAML file shipped in :mod:`perfkit.presets`.
PresetName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]*$", extra={"expected": "a name"})]
#: A column or table name a key refers to.
Name = Annotated[str, Meta(min_length=1, max_length=63)]
#: Rows: as many as a table can hold (not :data:`~perfkit.typedconfig.MAX_INT`).
Rows = Annotated[int, Meta(ge=0, le=2**62)]


class ZipfParams(Section, frozen=True):
    """Zipf's law: ``k`` children with weight ``k ** -s``, ``k`` from 1 to ``max``."""

    #: The exponent: the larger, the more parents get one child.
    s: PositiveFloat
    #: The most children a parent gets.
    max: PositiveInt


class ParetoParams(Section, frozen=True):
    """A Pareto tail with shape ``alpha``, from 1 to ``max`` children."""

    #: The shape: the smaller, the heavier the tail.
    alpha: PositiveFloat
    #: The most children a parent gets.
    max: PositiveInt


class Distribution(Section, frozen=True):
    """How many children each parent gets: exactly one of ``fixed``, ``uniform``, ``zipf``,
    ``pareto``, ``scale``."""

    #: Every parent the same number.
    fixed: Count | None = None
    #: A number drawn uniformly from ``[low, high]``.
    uniform: tuple[Count, Count] | None = None
    #: Skewed by Zipf's law.
    zipf: ZipfParams | None = None
    #: Skewed by a Pareto tail.
    pareto: ParetoParams | None = None
    #: The scale's number of that name: one of :data:`SCALE_NUMBERS` (``staff_per_office``,
    #: ...) or a key of the scale's ``counts``.
    scale: Name | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [kind for kind in DISTRIBUTIONS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                "a count is a number, or one of {fixed: n}, {uniform: [a, b]}, "
                "{zipf: {s, max}}, {pareto: {alpha, max}} or {scale: name}"
            )
        if self.uniform is not None and self.uniform[0] > self.uniform[1]:
            raise ValueError("uniform: the first bound must not exceed the second")

    @property
    def kind(self) -> str:
        """``fixed``, ``uniform``, ``zipf``, ``pareto`` or ``scale``."""
        return next(kind for kind in DISTRIBUTIONS if getattr(self, kind) is not None)


#: Children per parent: a number, or a :class:`Distribution`.
CountSpec = int | Distribution


class Choice(Section, frozen=True):
    """Values drawn with ``weights`` (equal weights when none are given)."""

    #: The values a column takes.
    values: Annotated[tuple[Any, ...], Meta(min_length=1)]
    #: One weight per value, at least one above 0.
    weights: tuple[NonNegativeFloat, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights must give one weight per value")
            if not any(self.weights):
                raise ValueError("at least one weight must be above 0")


#: Days from the anchor (or from another column): a century either way at most.
Days = Annotated[int, Meta(ge=-36500, le=36500)]


class ColumnOverride(Section, frozen=True):
    """One column: at most one of ``const``, ``choice``, ``call``, ``sql``, ``days``;
    ``null_share`` alone changes only the share of NULLs; ``dated`` says whether the column
    moves with the run day on a restore."""

    #: Every row the same value (``null`` included).
    const: Any | UnsetType = UNSET
    #: Values drawn with weights (a list: equal weights).
    choice: tuple[Any, ...] | Choice | None = None
    #: ``module:function`` called with the row's context: ``(row) -> value``.
    call: (
        Annotated[
            str,
            Meta(pattern=r"^[\w.]+:[\w.]+$", extra={"expected": "'module:function'"}),
        ]
        | None
    ) = None
    #: A SQL expression over the row (``t``) and its parents, run after the load.
    sql: Text | None = None
    #: For ``sql``: alias -> the foreign-key column that joins the parent (when a parent is
    #: reached by more than one foreign key; otherwise each parent's table name is its alias).
    join: Mapping[str, str] | None = None
    #: A date or timestamp drawn uniformly between the anchor (the data's day) plus the
    #: first and plus the second number of days, or, with ``relative_to``, that column's
    #: value in the same row plus them.
    days: tuple[Days, Days] | None = None
    #: For ``days``: the row's date or timestamp column the days are counted from.
    relative_to: Name | None = None
    #: The column moves with the run day: a restore for another day shifts it by as many
    #: days as the anchor (default: true for ``days`` relative to the anchor, else false).
    dated: bool | None = None
    #: The share of NULLs in this column.
    null_share: Fraction | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [kind for kind in KINDS if self._given(kind)]
        if len(given) > 1:
            raise ValueError(f"give one of const, choice, call, sql, days, not {', '.join(given)}")
        if self.join is not None and self.sql is None:
            raise ValueError("join goes with sql")
        if self.days is not None and self.days[0] > self.days[1]:
            raise ValueError("days: the first bound must not exceed the second")
        if self.relative_to is not None and self.days is None:
            raise ValueError("relative_to goes with days")
        if isinstance(self.choice, tuple):
            msgspec.structs.force_setattr(self, "choice", Choice(values=self.choice))

    def _given(self, kind: Kind) -> bool:
        value = getattr(self, kind)
        return value is not UNSET if kind == "const" else value is not None

    @property
    def kind(self) -> Kind | None:
        """``const``, ``choice``, ``call``, ``sql``, ``days``, or None (``null_share`` or
        ``dated`` alone)."""
        return next((kind for kind in KINDS if self._given(kind)), None)

    @property
    def moves(self) -> bool:
        """Whether the column moves with the run day (``dated``, or its default)."""
        if self.dated is not None:
            return self.dated
        return self.days is not None and self.relative_to is None

    @property
    def choices(self) -> Choice | None:
        """``choice`` as a :class:`Choice` (a list is one with equal weights)."""
        choice = self.choice
        return Choice(values=choice) if isinstance(choice, tuple) else choice


class TableSpec(Section, frozen=True):
    """One table: ``rows`` (a root table; the scale multiplies it), or ``per`` a parent and
    ``count`` children each, or ``csv`` (these rows, as they are); and column overrides."""

    #: Rows of a root table, before the scale multiplies them.
    rows: Rows | None = None
    #: The parent table each row belongs to.
    per: Text | None = None
    #: The foreign-key column (its first, for a composite key) that leads to ``per``.
    via: Text | None = None
    #: Children per parent: a number or a distribution.
    count: Count | Distribution | None = None
    #: A CSV file whose rows the table gets, as they are; relative to scales.yaml.
    csv: Text | None = None
    #: Column -> what it is made of.
    columns: Mapping[str, ColumnOverride] = frozen_map()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rows is not None and (self.per is not None or self.count is not None):
            raise ValueError("give rows (a root table) or per and count (a child), not both")
        if self.via is not None and self.per is None:
            raise ValueError("via goes with per")
        if self.csv is not None and (self.rows, self.per, self.count) != (None, None, None):
            raise ValueError("a csv table's rows are the file's: drop rows, per and count")


class Window(Section, frozen=True):
    """Dates and timestamps fall between ``past_days`` before the anchor and ``future_days``
    after it."""

    #: Days before the anchor.
    past_days: Count = 730
    #: Days after the anchor.
    future_days: Count = 0


class GenerationSpec(Section, frozen=True):
    """``app.data``: how inferred data is shaped (module docstring). Every table not named
    under ``tables`` is inferred."""

    #: A named fragment of ``app.data`` shipped with perfkit (``perfkit/presets/<name>.yaml``)
    #: under this section: the section's own keys win over the preset's (a table's keys one
    #: by one, its columns one by one).
    preset: PresetName | None = None
    #: The locale of names, e-mails, phones and addresses (Faker's, e.g. ``ja_JP``).
    locale: Text = "en_US"
    #: Rows of a root table (no foreign key to follow) without ``rows``.
    default_rows: Rows = 100
    #: Children per parent of a child table without ``count``.
    default_count: Count = 3
    #: The share of NULLs in a nullable column without its own ``null_share``.
    null_share: Fraction = 0.1
    #: Where dates and timestamps fall around the anchor.
    window: Window = field(default_factory=Window)
    #: Table -> its rows, counts and column overrides.
    tables: Mapping[str, TableSpec] = frozen_map()

    def table(self, name: str) -> TableSpec:
        return self.tables.get(name) or TableSpec()

    @property
    def dated_columns(self) -> dict[str, tuple[str, ...]]:
        """Table -> its columns that move with the run day (``dated``, or ``days`` from the
        anchor), in the order the section names them."""
        out: dict[str, tuple[str, ...]] = {}
        for name, table in self.tables.items():
            moving = tuple(c for c, o in table.columns.items() if o.moves)
            if moving:
                out[name] = moving
        return out

    @property
    def scale_numbers(self) -> dict[str, str]:
        """Key path -> the scale's number a count follows (``{scale: name}``)."""
        return {
            f"app.data.tables.{name}.count.scale": table.count.scale
            for name, table in self.tables.items()
            if isinstance(table.count, Distribution) and table.count.scale is not None
        }

    def as_json(self) -> dict[str, Any]:
        """The spec as plain JSON values (what a dataset's parameters record)."""
        plain: dict[str, Any] = to_plain(self)
        return plain


def parse_spec(raw: Mapping[str, Any] | None, *, source: str, key: str = "") -> GenerationSpec:
    """``raw`` (an ``app.data`` section's plain values) as a :class:`GenerationSpec`;
    :class:`~perfkit.errors.ConfigError` naming the key path (under ``key``) of the first
    problem otherwise."""
    from perfkit.presets import with_preset  # presets read YAML: only when a spec is parsed

    merged = with_preset(dict(raw or {}), source=source, key_path=key or "app.data")
    return build(GenerationSpec, merged, source=source, key_path=key)
