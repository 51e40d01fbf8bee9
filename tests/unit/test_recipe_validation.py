"""Checking a recipe against its tables, without a database: the type rules, the column rules,
the generated sample, and the one-line error (:mod:`perfkit.datagen.validate`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from perfkit.config import DataConfig, Scale
from perfkit.datagen.entities import ENTITY_VERSION
from perfkit.datagen.recipe import Computed, Const, Recipe, Row, Shape, TableRecipe
from perfkit.datagen.validate import (
    ColumnInfo,
    RecipeProblem,
    check_columns,
    check_rows,
    describe_source,
    find_problems,
    misfit,
    recipe_error,
)
from perfkit.text import QUOTE_LIMIT

RECIPE_PATH = "perfkit.apps.welfare.recipe:RECIPE"
SHAPE = Shape(
    scale=Scale(name="tiny", offices=2, staff_per_office=3, recipients_per_office=4),
    data=DataConfig(),
    mode="plan",
    seed=1,
    anchor=dt.date(2026, 2, 9),
    version=ENTITY_VERSION,
)


def col(type_name: str, name: str = "c", **kw: Any) -> ColumnInfo:
    """A column as the catalog would describe it."""
    categories = {"bool": "B", "int2": "N", "int4": "N", "int8": "N", "numeric": "N"}
    categories |= {"float8": "N", "text": "S", "varchar": "S", "bpchar": "S", "date": "D"}
    categories |= {"timestamp": "D", "timestamptz": "D", "_int4": "A", "inet": "I"}
    kw.setdefault("category", categories.get(type_name, "U"))
    kw.setdefault("type_sql", type_name)
    return ColumnInfo(name=name, type_name=type_name, **kw)


UTC_NOON = dt.datetime(2026, 2, 9, 12, tzinfo=dt.UTC)
NAIVE_NOON = dt.datetime(2026, 2, 9, 12)
ENUM = col("team_status", category="E", labels=("open", "closed"))


# --------------------------------------------------------------------------------------------
# the type rules


@pytest.mark.parametrize(
    ("value", "column", "problem"),
    [
        (True, col("bool"), None),
        (1, col("bool"), "wrong_type"),
        ("true", col("bool"), "wrong_type"),
        (None, col("bool"), None),
        (None, col("bool", not_null=True), "null"),
        (None, col("bool", not_null=True, has_default=True), "null"),  # COPY gives the NULL
        (5, col("int4"), None),
        (True, col("int4"), "wrong_type"),
        (1.0, col("int4"), "wrong_type"),
        ("1", col("int4"), "wrong_type"),
        (2**31 - 1, col("int4"), None),
        (2**31, col("int4"), "out_of_range"),
        (-(2**31) - 1, col("int4"), "out_of_range"),
        (40_000, col("int2"), "out_of_range"),
        (2**63, col("int8"), "out_of_range"),
        (2**62, col("int8"), None),
        (Decimal("1.5"), col("numeric"), None),
        (1.5, col("numeric"), None),
        (3, col("float8"), None),
        ("1.5", col("numeric"), "wrong_type"),
        (False, col("float8"), "wrong_type"),
        ("x" * 20, col("varchar", max_length=20), None),
        ("x" * 300, col("varchar", max_length=20), "too_long"),
        ("x" * 300, col("text"), None),
        ("ab", col("bpchar", max_length=1), "too_long"),
        (5, col("text"), "wrong_type"),
        ("a\x00b", col("text"), "bad_text"),
        ("other text type", col("citext", category="S"), None),
        (uuid.UUID("3f2a9c1e-6b7d-4e8f-9a0b-1c2d3e4f5a6b"), col("uuid"), None),
        ("4aca10b4-6d66-4ead-8c60-890cea933212", col("uuid"), None),
        ("not a uuid", col("uuid"), "wrong_type"),
        (7, col("uuid"), "wrong_type"),
        (dt.date(2026, 2, 9), col("date"), None),
        (NAIVE_NOON, col("date"), "wrong_type"),
        ("2026-02-09", col("date"), "wrong_type"),
        (UTC_NOON, col("timestamptz"), None),
        (NAIVE_NOON, col("timestamptz"), "wrong_type"),
        (dt.date(2026, 2, 9), col("timestamptz"), "wrong_type"),
        (NAIVE_NOON, col("timestamp"), None),
        (UTC_NOON, col("timestamp"), "wrong_type"),
        (dt.time(9), col("time"), None),
        (dt.timedelta(days=1), col("interval"), None),
        ("1 day", col("interval"), "wrong_type"),
        ('{"a": 1}', col("jsonb"), None),
        ("[1, 2]", col("json"), None),
        ({"a": 1}, col("jsonb"), "wrong_type"),  # asyncpg's jsonb codec takes text only
        ([1], col("json"), "wrong_type"),
        ("{not json", col("jsonb"), "bad_json"),
        (b"\x00", col("bytea"), None),
        ("text", col("bytea"), "wrong_type"),
        ("open", ENUM, None),
        ("archived", ENUM, "not_in_enum"),
        (1, ENUM, "wrong_type"),
        ("any", col("weird_enum", category="E", labels=None), None),
        ([1, 2], col("_int4"), None),
        ("{1,2}", col("_int4"), "wrong_type"),
        (object(), col("inet"), None),  # no rule for the type: not checked
    ],
)
def test_type_rules(value: Any, column: ColumnInfo, problem: str | None) -> None:
    found = misfit(value, column)
    assert (found.problem if found else None) == problem


def test_an_enum_is_checked_by_category_whatever_its_name() -> None:
    named_like_a_type = col("text", category="E", labels=("a", "b"))
    found = misfit("c", named_like_a_type)
    assert found is not None and found.problem == "not_in_enum"


@pytest.mark.parametrize(
    "value", ["x" * 100_000, list(range(100_000)), 10**5000], ids=["str", "list", "int"]
)
def test_a_misfit_never_quotes_a_whole_value(value: Any) -> None:
    found = misfit(value, col("varchar", max_length=20))
    assert found is not None and len(found.found) < 2 * QUOTE_LIMIT


def test_a_naive_datetime_is_called_naive() -> None:
    found = misfit(NAIVE_NOON, col("timestamptz"))
    assert found is not None and "naive" in found.found and "tzinfo" in found.wanted


# --------------------------------------------------------------------------------------------
# the column rules

STAFFS = (
    col("uuid", "id", not_null=True),
    col("uuid", "office_id", not_null=True),
    col("varchar", "email", not_null=True, max_length=255, type_sql="character varying(255)"),
    col("bool", "is_locked", not_null=True, type_sql="boolean"),
    col("bool", "is_test_data", not_null=True, has_default=True, type_sql="boolean"),
    col("int4", "number", not_null=True, has_default=True),  # an identity or SERIAL
    col("text", "email_lower", generated=True),
    col("timestamptz", "created_at", type_sql="timestamp with time zone"),
)
STAFF_COLUMNS = {"id": "id", "office_id": "office_id", "email": "email"}


def staffs(columns: dict[str, Any] | None = None, **kw: Any) -> TableRecipe:
    return TableRecipe("staffs", "staff", {**STAFF_COLUMNS, **(columns or {})}, **kw)


def problems_of(found: Iterable[RecipeProblem]) -> list[tuple[str, str]]:
    return [(p.column, p.problem) for p in found]


def test_a_recipe_that_fills_what_it_must_passes() -> None:
    table = staffs({"is_locked": Const(False)})
    assert check_columns(table, STAFFS) == []
    assert find_problems(Recipe(1, (table,), {}), {"staffs": STAFFS}, SHAPE) == []


def test_a_not_null_column_without_default_must_be_filled() -> None:
    [problem] = check_columns(staffs(), STAFFS)
    assert (problem.table, problem.column, problem.problem) == ("staffs", "is_locked", "not_filled")
    assert problem.hint == "add 'is_locked': Const(False) to the staffs TableRecipe"


def test_the_hint_for_a_column_no_constant_suits() -> None:
    columns = (*STAFFS, col("timestamptz", "locked_at", not_null=True, type_sql="timestamptz"))
    problems = check_columns(staffs({"is_locked": Const(False)}), columns)
    assert problems_of(problems) == [("locked_at", "not_filled")]
    assert "Computed" in problems[0].hint and "server default" in problems[0].hint


def test_an_unknown_column_suggests_the_closest() -> None:
    [problem] = check_columns(staffs({"is_lockd": Const(False), "is_locked": Const(True)}), STAFFS)
    assert (problem.column, problem.problem) == ("is_lockd", "unknown_column")
    assert "did you mean 'is_locked'?" in problem.message
    assert problem.source == "Const(False)"


def test_a_long_unknown_column_name_is_cut() -> None:
    name = "x" * 10_000
    [problem] = check_columns(staffs({name: Const(1), "is_locked": Const(False)}), STAFFS)
    assert problem.problem == "unknown_column" and len(problem.message) < 300


def test_a_generated_column_cannot_be_filled() -> None:
    table = staffs({"is_locked": Const(False), "email_lower": "email"})
    assert problems_of(check_columns(table, STAFFS)) == [("email_lower", "generated_column")]


def test_the_sample_rows_are_checked_once_per_column() -> None:
    table = staffs({"is_locked": Const(1), "created_at": Const(NAIVE_NOON)})
    rows = list(table.generate(SHAPE))
    problems = check_rows(table, STAFFS, rows)
    assert problems_of(problems) == [("is_locked", "wrong_type"), ("created_at", "wrong_type")]
    assert problems[0].message == "staffs.is_locked is boolean, but Const(1) is int 1"
    assert problems[1].hint.startswith("make Const(datetime.datetime(2026, 2, 9, 12, 0)) give")


def test_an_entity_field_that_does_not_fit() -> None:
    columns = (*STAFFS[:2], col("varchar", "email", max_length=5, type_sql="varchar(5)"))
    table = TableRecipe("staffs", "staff", STAFF_COLUMNS)
    [problem] = find_problems(Recipe(1, (table,), {}), {"staffs": columns}, SHAPE)
    assert (problem.column, problem.problem) == ("email", "too_long")
    assert problem.source == "entity field 'email'"
    assert "varchar(5)" in problem.message and "at most 5 characters" in problem.hint


def test_rows_of_the_wrong_width() -> None:
    def two_values(block: Any) -> Iterable[Row]:
        return [(i, "x") for i in block["id"]]

    table = staffs({"is_locked": Const(False)}, rows=two_values, rows_per_office=lambda *a: 3)
    [problem] = find_problems(Recipe(1, (table,), {}), {"staffs": STAFFS}, SHAPE)
    assert (problem.column, problem.problem) == ("", "row_width")
    assert "two_values" in problem.message and "2 values" in problem.message


def test_an_entity_field_the_entities_lack() -> None:
    table = staffs({"is_locked": Const(False), "email": "emial"})
    [problem] = find_problems(Recipe(1, (table,), {}), {"staffs": STAFFS}, SHAPE)
    assert (problem.column, problem.problem) == ("email", "unknown_field")
    assert "did you mean 'email'?" in problem.message


def test_a_computed_column_that_raises() -> None:
    def broken(block: Any) -> Sequence[Any]:
        raise ZeroDivisionError("x" * 10_000)

    table = staffs({"is_locked": Computed(broken)})
    [problem] = find_problems(Recipe(1, (table,), {}), {"staffs": STAFFS}, SHAPE)
    assert problem.problem == "generation_failed" and "ZeroDivisionError" in problem.message
    assert len(problem.message) < 300


def test_a_table_the_database_lacks() -> None:
    recipe = Recipe(1, (staffs({"is_locked": Const(False)}),), {})
    assert problems_of(find_problems(recipe, {}, SHAPE)) == [("", "missing_table")]


def test_dated_columns_are_date_columns_of_the_table() -> None:
    table = staffs({"is_locked": Const(False)})
    recipe = Recipe(1, (table,), {"staffs": ("created_at", "is_locked", "nope")})
    found = find_problems(recipe, {"staffs": STAFFS}, SHAPE)
    assert problems_of(found) == [("is_locked", "dated_column"), ("nope", "dated_column")]


def test_sources_are_described() -> None:
    def to_upper(block: Any) -> Sequence[Any]:
        return list(block["email"])

    table = staffs({"a": Const("x" * 1000), "b": Computed(to_upper)})
    assert describe_source(table, "email") == "entity field 'email'"
    assert describe_source(table, "b") == f"Computed({to_upper.__qualname__})"
    assert len(describe_source(table, "a") or "") < 60
    assert describe_source(table, "missing") is None


# --------------------------------------------------------------------------------------------
# the error


def test_the_error_is_one_line_naming_the_recipe_table_and_column() -> None:
    problems = check_columns(staffs(), STAFFS)
    error = recipe_error(problems, recipe_path=RECIPE_PATH)
    assert error.exit_code == 2
    assert (error.recipe, error.table, error.column, error.problem) == (
        RECIPE_PATH,
        "staffs",
        "is_locked",
        "not_filled",
    )
    assert error.one_line() == (
        "recipe perfkit.apps.welfare.recipe:RECIPE, table staffs: staffs.is_locked is NOT NULL "
        "with no default and the recipe does not fill it "
        "(hint: add 'is_locked': Const(False) to the staffs TableRecipe)"
    )


def test_the_error_names_the_other_problems_and_counts_the_rest() -> None:
    table = staffs({f"extra_{i}": Const(i) for i in range(6)})
    problems = check_columns(table, STAFFS)
    error = recipe_error(problems, recipe_path=RECIPE_PATH)
    assert len(error.problems) == 7 and error.problems[0] == ("staffs", "extra_0", "unknown_column")
    line = error.one_line()
    assert "\n" not in line
    assert "also staffs.extra_1 (unknown_column)" in line and "and 3 more" in line
