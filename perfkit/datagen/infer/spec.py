"""The cardinality language and overrides: how many rows each table gets, how children spread
over their parents, and the columns a team knows better than the catalogue.

A plain mapping (a YAML section) is validated into frozen pydantic models by
:func:`parse_spec`; an error is one :class:`~perfkit.errors.ConfigError` naming the key path
(``tables.city.count.uniform``). Every table not named is inferred.

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
``{pareto: {alpha, max}}`` (both at least 1, at most ``max``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from perfkit.errors import ConfigError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Fixed(_Model):
    fixed: Annotated[int, Field(ge=0)]


class Uniform(_Model):
    uniform: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]

    @field_validator("uniform")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError("the first bound must not exceed the second")
        return value


class ZipfParams(_Model):
    s: Annotated[float, Field(gt=0)]
    max: Annotated[int, Field(ge=1)]


class Zipf(_Model):
    zipf: ZipfParams


class ParetoParams(_Model):
    alpha: Annotated[float, Field(gt=0)]
    max: Annotated[int, Field(ge=1)]


class Pareto(_Model):
    pareto: ParetoParams


def _count_kind(value: Any) -> str | None:
    """Which count a value is: ``int``, or its one key (``fixed``, ``uniform``, ``zipf``,
    ``pareto``); None (an error naming the choices) otherwise."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        return "int"
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        return key if key in ("fixed", "uniform", "zipf", "pareto") else None
    if isinstance(value, Fixed | Uniform | Zipf | Pareto):
        return type(value).__name__.lower()
    return None


Count = Annotated[
    Annotated[Annotated[int, Field(ge=0)], Tag("int")]
    | Annotated[Fixed, Tag("fixed")]
    | Annotated[Uniform, Tag("uniform")]
    | Annotated[Zipf, Tag("zipf")]
    | Annotated[Pareto, Tag("pareto")],
    Discriminator(
        _count_kind,
        custom_error_type="count",
        custom_error_message="a count is a number, or {fixed: n}, {uniform: [a, b]}, "
        "{zipf: {s, max}} or {pareto: {alpha, max}}",
    ),
]


class Choice(_Model):
    values: tuple[Any, ...] = Field(min_length=1)
    weights: tuple[Annotated[float, Field(ge=0)], ...] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> Choice:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights must give one weight per value")
            if not any(self.weights):
                raise ValueError("at least one weight must be above 0")
        return self


class ColumnOverride(_Model):
    """One column: at most one of ``const``, ``choice``, ``call``, ``sql``; ``null_share``
    alone changes only the share of NULLs."""

    const: Any = None
    choice: Choice | None = None
    call: str | None = Field(default=None, pattern=r"^[\w.]+:[\w.]+$")
    sql: str | None = Field(default=None, min_length=1)
    #: For ``sql``: alias -> the foreign-key column that joins the parent (when a parent is
    #: reached by more than one foreign key; otherwise each parent's table name is its alias).
    join: Mapping[str, str] | None = None
    null_share: Annotated[float, Field(ge=0, le=1)] | None = None

    @field_validator("choice", mode="before")
    @classmethod
    def _list_is_equal_weights(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {"values": value}
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            given = [k for k in ("const", "choice", "call", "sql") if k in data]
            if len(given) > 1:
                raise ValueError(f"give one of const, choice, call, sql, not {', '.join(given)}")
            if "join" in data and "sql" not in data:
                raise ValueError("join goes with sql")
        return data

    @property
    def kind(self) -> str | None:
        """``const``, ``choice``, ``call``, ``sql``, or None (``null_share`` alone)."""
        fields = self.model_fields_set
        for kind in ("const", "choice", "call", "sql"):
            if kind in fields:
                return kind
        return None


class TableSpec(_Model):
    rows: Annotated[int, Field(ge=0)] | None = None
    per: str | None = None
    #: The foreign-key column (its first, for a composite key) that leads to ``per``.
    via: str | None = None
    count: Count | None = None
    csv: str | None = None
    columns: Mapping[str, ColumnOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> TableSpec:
        if self.rows is not None and (self.per is not None or self.count is not None):
            raise ValueError("give rows (a root table) or per and count (a child), not both")
        if self.via is not None and self.per is None:
            raise ValueError("via goes with per")
        if self.csv is not None and (self.rows, self.per, self.count) != (None, None, None):
            raise ValueError("a csv table's rows are the file's: drop rows, per and count")
        return self


class Window(_Model):
    past_days: Annotated[int, Field(ge=0)] = 730
    future_days: Annotated[int, Field(ge=0)] = 0


class GenerationSpec(_Model):
    locale: str = "en_US"
    default_rows: Annotated[int, Field(ge=0)] = 100
    default_count: Annotated[int, Field(ge=0)] = 3
    null_share: Annotated[float, Field(ge=0, le=1)] = 0.1
    window: Window = Field(default_factory=Window)
    tables: Mapping[str, TableSpec] = Field(default_factory=dict)

    def table(self, name: str) -> TableSpec:
        return self.tables.get(name) or TableSpec()


_BRANCHES = frozenset({"int", "fixed", "uniform", "zipf", "pareto"})


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a key path: the tag of a count's union branch, which
    follows ``count``, left out (``count.uniform.uniform`` -> ``count.uniform``)."""
    parts: list[str] = []
    tag_next = False
    for part in map(str, loc):
        if tag_next and part in _BRANCHES:
            tag_next = False
            continue
        tag_next = part == "count" and len(parts) >= 2 and parts[-2] == "tables"
        if part.startswith(("constrained-", "function-")):
            continue
        parts.append(part)
    return ".".join(parts)


def parse_spec(raw: Mapping[str, Any] | None, *, source: str, key: str = "") -> GenerationSpec:
    """``raw`` validated into a :class:`GenerationSpec`; :class:`ConfigError` naming the key
    path (under ``key``) of the first problem otherwise."""
    try:
        return GenerationSpec.model_validate(dict(raw or {}))
    except ValidationError as exc:
        # Among a union's branches, the deepest error is the branch the input meant
        # ({uniform: [5, 2]} -> the Uniform branch's, not the int branch's).
        errors = exc.errors()
        error = max(errors, key=lambda e: len(_where(tuple(e["loc"])).split(".")))
        path = ".".join(p for p in (key, _where(tuple(error["loc"]))) if p)
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(message, source=source, key_path=path) from None


#: A count distribution, for the planner.
CountSpec = int | Fixed | Uniform | Zipf | Pareto
Kind = Literal["const", "choice", "call", "sql"]
