"""Simple CHECK constraints, read with PostgreSQL's own parser (pglast) into rules a generator
can follow by construction.

A CHECK is read from ``pg_get_constraintdef`` (a domain's CHECK names its value ``VALUE``).
What it understands, joined by ``AND``:

- ``col op constant`` for ``< <= > >= = <>`` (either side; numbers, strings, dates and
  timestamps, with casts), so ``BETWEEN`` too;
- ``col = ANY (ARRAY[...])`` (an ``IN`` list);
- ``length(col)``, ``char_length(col)`` or ``character_length(col)`` against a constant;
- ``col1 op col2`` between two columns of the row;
- ``col IS NOT NULL``, and ``a IS NOT NULL OR b IS NOT NULL`` (at least one is filled);
- ``col IS NULL OR <rule on col>``: SQL passes a CHECK whose value is NULL, so the rule alone
  says the same.

Anything else makes the whole constraint one perfkit cannot satisfy: :func:`read_check`
returns None, and the planner names it (table, constraint, text) so an override can fill the
columns it reads.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType
from pglast.parser import ParseError

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}
_LENGTH_FUNCTIONS = frozenset({"length", "char_length", "character_length"})


@dataclass(frozen=True)
class Bound:
    """``column op value`` (``op`` one of ``< <= > >= = <>``)."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class OneOf:
    column: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Length:
    column: str
    op: str
    value: int


@dataclass(frozen=True)
class Compare:
    """``left op right`` between two columns of the row."""

    left: str
    op: str
    right: str


@dataclass(frozen=True)
class NotNull:
    column: str


@dataclass(frozen=True)
class AnyNotNull:
    columns: tuple[str, ...]


Rule = Bound | OneOf | Length | Compare | NotNull | AnyNotNull


class _Unsupported(Exception):
    pass


def read_check(definition: str, *, value_column: str | None = None) -> list[Rule] | None:
    """The rules of ``CHECK (...)`` text (``pg_get_constraintdef``); None when some part is
    not understood. ``value_column`` is the column a domain's ``VALUE`` stands for."""
    text = definition.strip()
    for suffix in (" NOT VALID", " NO INHERIT"):
        text = text.removesuffix(suffix)
    if not text.startswith("CHECK "):
        return None
    try:
        statement: Any = parse_sql("SELECT " + text.removeprefix("CHECK "))[0].stmt
        expr = statement.targetList[0].val
        return _rules(expr, value_column)
    except (
        _Unsupported,
        ParseError,
        IndexError,
        AttributeError,
        ValueError,
        decimal.DecimalException,
    ):
        return None


def _is(node: Any, kind: type) -> bool:
    """``isinstance`` without narrowing: pglast's node fields are typed loosely, and the
    walk below reads them as ``Any``."""
    return isinstance(node, kind)


def _rules(node: Any, value: str | None) -> list[Rule]:
    if _is(node, ast.BoolExpr):
        if node.boolop == BoolExprType.AND_EXPR:
            return [rule for arg in node.args for rule in _rules(arg, value)]
        if node.boolop == BoolExprType.OR_EXPR:
            return _disjunction(node.args, value)
        raise _Unsupported
    if _is(node, ast.NullTest) and node.nulltesttype == NullTestType.IS_NOT_NULL:
        return [NotNull(_column(node.arg, value))]
    if _is(node, ast.A_Expr):
        return [_comparison(node, value)]
    raise _Unsupported


def _disjunction(args: Sequence[Any], value: str | None) -> list[Rule]:
    """``a IS NOT NULL OR b IS NOT NULL``, or ``col IS NULL OR <rules on col>``."""
    tests = [a for a in args if _is(a, ast.NullTest)]
    if len(tests) == len(args) and all(t.nulltesttype == NullTestType.IS_NOT_NULL for t in tests):
        return [AnyNotNull(tuple(_column(t.arg, value) for t in tests))]
    nullable = {_column(t.arg, value) for t in tests if t.nulltesttype == NullTestType.IS_NULL}
    rest = [a for a in args if not _is(a, ast.NullTest)]
    if len(tests) + len(rest) != len(args) or len(rest) != 1 or not nullable:
        raise _Unsupported
    rules = _rules(rest[0], value)
    if any(not (nullable & _columns_of(rule)) for rule in rules):
        raise _Unsupported  # a rule a NULL in those columns would not make pass
    return rules


def _columns_of(rule: Rule) -> set[str]:
    if isinstance(rule, Compare):
        return {rule.left, rule.right}
    if isinstance(rule, AnyNotNull):
        return set(rule.columns)
    return {rule.column}


def _comparison(node: Any, value: str | None) -> Rule:
    op = node.name[-1].sval
    if node.kind == A_Expr_Kind.AEXPR_OP_ANY and op == "=":
        if not _is(node.rexpr, ast.A_ArrayExpr):
            raise _Unsupported
        return OneOf(
            _column(node.lexpr, value), tuple(_constant(e) for e in node.rexpr.elements or ())
        )
    if node.kind != A_Expr_Kind.AEXPR_OP or op not in _FLIP:
        raise _Unsupported
    left, right = node.lexpr, node.rexpr
    if _is_column(left) and _is_column(right):
        return Compare(_column(left, value), op, _column(right, value))
    if _is_constant(left) and not _is_constant(right):
        left, right, op = right, left, _FLIP[op]
    length = _length_of(left, value)
    if length is not None:
        limit = _constant(right)
        if not isinstance(limit, int):
            raise _Unsupported
        return Length(length, op, limit)
    return Bound(_column(left, value), op, _constant(right))


def _unwrap(node: Any) -> Any:
    while _is(node, ast.TypeCast) and _is_column(node.arg):
        node = node.arg
    return node


def _is_column(node: Any) -> bool:
    return isinstance(_unwrap(node) if _is(node, ast.TypeCast) else node, ast.ColumnRef)


def _column(node: Any, value: str | None) -> str:
    node = _unwrap(node)
    if not _is(node, ast.ColumnRef) or len(node.fields) != 1:
        raise _Unsupported
    name = node.fields[0]
    if not _is(name, ast.String):
        raise _Unsupported
    if name.sval == "value" and value is not None:
        return value
    return str(name.sval)


def _length_of(node: Any, value: str | None) -> str | None:
    if not _is(node, ast.FuncCall):
        return None
    name = node.funcname[-1].sval
    if name not in _LENGTH_FUNCTIONS or len(node.args or ()) != 1:
        raise _Unsupported
    return _column(node.args[0], value)


def _is_constant(node: Any) -> bool:
    try:
        _constant(node)
    except _Unsupported:
        return False
    return True


def _constant(node: Any) -> Any:
    """A constant's Python value: int, Decimal, str, date or datetime."""
    if _is(node, ast.A_Expr) and node.name[-1].sval == "-" and node.lexpr is None:
        inner = _constant(node.rexpr)
        if isinstance(inner, int | Decimal):
            return -inner
        raise _Unsupported
    if _is(node, ast.TypeCast):
        raw = _constant(node.arg)
        names: Any = node.typeName.names
        return _cast(raw, str(names[-1].sval))
    if _is(node, ast.A_Const) and not node.isnull:
        val = node.val
        if _is(val, ast.Integer):
            return int(val.ival or 0)
        if _is(val, ast.Float):
            return Decimal(str(val.fval))
        if _is(val, ast.String):
            return str(val.sval)
    raise _Unsupported


def _cast(raw: Any, kind: str) -> Any:
    if kind in ("numeric", "float4", "float8"):
        return Decimal(str(raw))
    if kind in ("int2", "int4", "int8", "integer", "smallint", "bigint"):
        return int(raw)
    if kind == "date" and isinstance(raw, str):
        return dt.date.fromisoformat(raw)
    if kind in ("timestamp", "timestamptz") and isinstance(raw, str):
        return dt.datetime.fromisoformat(raw)
    if kind in ("text", "varchar", "bpchar", "name", "citext") or kind.isidentifier():
        return raw  # text, or an ENUM label
    raise _Unsupported


@dataclass
class ColumnRules:
    """What the CHECKs say about one column."""

    low: Any = None
    low_inclusive: bool = True
    high: Any = None
    high_inclusive: bool = True
    allowed: tuple[Any, ...] | None = None
    excluded: set[Any] = field(default_factory=set)
    min_length: int | None = None
    max_length: int | None = None
    not_null: bool = False
    #: (op, other column): this column ``op`` the other one, in the same row.
    compared: list[tuple[str, str]] = field(default_factory=list)

    def add(self, rule: Rule) -> None:
        if isinstance(rule, Bound):
            self._bound(rule.op, rule.value)
        elif isinstance(rule, OneOf):
            kept = (
                rule.values
                if self.allowed is None
                else tuple(v for v in self.allowed if v in rule.values)
            )
            self.allowed = kept
        elif isinstance(rule, Length):
            self._length(rule.op, rule.value)
        elif isinstance(rule, NotNull):
            self.not_null = True

    def _bound(self, op: str, value: Any) -> None:
        if op == "=":
            self.allowed = (value,)
        elif op == "<>":
            self.excluded.add(value)
        elif op in (">", ">="):
            if self.low is None or value > self.low or (value == self.low and op == ">"):
                self.low, self.low_inclusive = value, op == ">="
        elif self.high is None or value < self.high or (value == self.high and op == "<"):
            self.high, self.high_inclusive = value, op == "<="

    def _length(self, op: str, value: int) -> None:
        low = {">": value + 1, ">=": value, "=": value}.get(op)
        high = {"<": value - 1, "<=": value, "=": value}.get(op)
        if low is not None:
            self.min_length = max(self.min_length or 0, low)
        if high is not None:
            self.max_length = high if self.max_length is None else min(self.max_length, high)

    def accepts(self, value: Any) -> bool:
        """Whether a non-NULL ``value`` passes the rules about this column alone."""
        try:
            if self.allowed is not None and value not in self.allowed:
                return False
            if value in self.excluded:
                return False
            if self.low is not None and (
                value < self.low or (value == self.low and not self.low_inclusive)
            ):
                return False
            if self.high is not None and (
                value > self.high or (value == self.high and not self.high_inclusive)
            ):
                return False
        except TypeError:
            return False
        if isinstance(value, str):
            if self.min_length is not None and len(value) < self.min_length:
                return False
            if self.max_length is not None and len(value) > self.max_length:
                return False
        return True


def columns_read(definition: str, *, value_column: str | None = None) -> set[str]:
    """The columns a CHECK's expression names (empty when it does not parse)."""
    text = definition.strip().removeprefix("CHECK ")
    for suffix in (" NOT VALID", " NO INHERIT"):
        text = text.removesuffix(suffix)
    try:
        root = parse_sql("SELECT " + text)[0].stmt
    except ParseError:
        return set()
    found: set[str] = set()

    def walk(node: Any) -> None:
        if _is(node, ast.ColumnRef):
            fields: Any = node.fields
            last = fields[-1]
            if _is(last, ast.String):
                name = str(last.sval)
                found.add(value_column if name == "value" and value_column else name)
            return
        if isinstance(node, tuple | list):
            for item in node:
                walk(item)
        elif _is(node, ast.Node):
            for attr in node:
                walk(getattr(node, attr))

    walk(root)
    return found
