"""The pieces of inference that need no database: CHECKs read, the cardinality language,
values distinct by construction, how children spread over parents, providers."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest

from perfkit.config import config_from
from perfkit.datagen.infer.checks import (
    AnyNotNull,
    Bound,
    ColumnRules,
    Compare,
    Length,
    NotNull,
    OneOf,
    columns_read,
    read_check,
)
from perfkit.datagen.infer.fill import decode_tsvector, encode_tsvector
from perfkit.datagen.infer.providers import kind_for
from perfkit.datagen.infer.seed import scale_numbers
from perfkit.datagen.infer.values import (
    Groups,
    Permutation,
    from_moment,
    injective_text,
    injective_uuid,
    moment,
)
from perfkit.dataspec import Distribution, parse_spec
from perfkit.errors import ConfigError


@pytest.mark.parametrize(
    ("definition", "rules"),
    [
        ("CHECK (((n >= 1) AND (n <= 5)))", [Bound("n", ">=", 1), Bound("n", "<=", 5)]),
        ("CHECK ((kind = ANY (ARRAY['a'::text, 'b'::text])))", [OneOf("kind", ("a", "b"))]),
        ("CHECK ((char_length((name)::text) >= 2))", [Length("name", ">=", 2)]),
        ("CHECK ((length(code) < 9))", [Length("code", "<", 9)]),
        ("CHECK (((b IS NULL) OR (b > a)))", [Compare("b", ">", "a")]),
        ("CHECK ((salary > (0)::numeric))", [Bound("salary", ">", Decimal(0))]),
        ("CHECK ((-5 < x))", [Bound("x", ">", -5)]),
        ("CHECK ((d >= '2020-01-01'::date))", [Bound("d", ">=", dt.date(2020, 1, 1))]),
        ("CHECK ((a IS NOT NULL))", [NotNull("a")]),
        ("CHECK (((a IS NOT NULL) OR (b IS NOT NULL)))", [AnyNotNull(("a", "b"))]),
        ("CHECK ((x > 0)) NOT VALID", [Bound("x", ">", 0)]),
    ],
)
def test_simple_checks_become_rules(definition: str, rules: list[Any]) -> None:
    assert read_check(definition) == rules


@pytest.mark.parametrize(
    "definition",
    [
        "CHECK ((VALUE ~ '^[0-9]{3}$'::text))",
        "CHECK (((a + b) > c))",
        "CHECK ((NOT (a > 1)))",
        "CHECK (((a > 1) OR (b > 2)))",
        "CHECK ((lower(x) = x))",
        "UNIQUE (a)",
    ],
)
def test_other_checks_are_not_understood(definition: str) -> None:
    assert read_check(definition) is None


def test_a_domain_check_reads_value_as_the_column() -> None:
    rules = read_check("CHECK (((VALUE >= 1901) AND (VALUE <= 2155)))", value_column="year")
    assert rules == [Bound("year", ">=", 1901), Bound("year", "<=", 2155)]
    assert columns_read("CHECK ((VALUE ~ 'x'::text))", value_column="zip") == {"zip"}


def test_column_rules_combine_bounds_lists_and_lengths() -> None:
    rules = ColumnRules()
    for rule in read_check("CHECK (((x > 1) AND (x <= 10) AND (x >= 0) AND (x <> 5)))") or []:
        rules.add(rule)
    bounds = (rules.low, rules.low_inclusive, rules.high, rules.high_inclusive)
    assert bounds == (1, False, 10, True)
    assert [v for v in range(12) if rules.accepts(v)] == [2, 3, 4, 6, 7, 8, 9, 10]
    text = ColumnRules()
    text.add(Length("t", ">=", 2))
    text.add(Length("t", "<", 4))
    assert [text.accepts(v) for v in ("a", "ab", "abc", "abcd")] == [False, True, True, False]


@pytest.mark.parametrize("size", [1, 2, 7, 36, 1000, 4096])
def test_a_permutation_is_one_to_one(size: int) -> None:
    perm = Permutation.of(size, f"key/{size}")
    assert sorted(perm(i) for i in range(size)) == list(range(size))


def test_injective_values_are_distinct() -> None:
    pool = ("taro@example.com", "hanako@example.org", "a-1@example.net")
    emails = injective_text(pool, max_length=None, email=True)
    codes = injective_text(("ab", "ab-1", "c"), max_length=6, email=False)
    uuids = injective_uuid(12345)
    for make in (emails, codes, uuids):
        values = [make(k) for k in range(20_000)]
        assert len(set(values)) == len(values)
    assert all(len(codes(k)) <= 6 for k in range(20_000))
    assert {str(uuids(k))[14] for k in range(100)} == {"4"}  # version 4


def test_groups_place_each_row_under_its_parent() -> None:
    fixed = Groups(parents=3, fixed=2)
    assert fixed.rows == 6 and fixed.locate(1, 4) == ([0, 1, 1, 2], [1, 0, 1, 0])
    varying = Groups(parents=3, fixed=None, starts=[0, 2, 2, 5])
    assert varying.rows == 5
    assert varying.locate(0, 5) == ([0, 0, 2, 2, 2], [0, 1, 0, 1, 2])
    assert varying.locate(3, 2) == ([2, 2], [1, 2])


def test_timestamps_travel_as_microseconds() -> None:
    aware = dt.datetime(2026, 2, 2, 9, 30, tzinfo=dt.UTC)
    assert from_moment(moment(aware)) == aware
    naive = dt.datetime(2000, 1, 1, 0, 0, 1)
    assert moment(naive) == (1_000_000,) and from_moment((1_000_000,), aware=False) == naive
    assert moment(None) is None


def test_a_tsvector_round_trips_sorted_and_distinct() -> None:
    assert decode_tsvector(encode_tsvector(("猫", "cat", "cat", "apple"))) == ("apple", "cat", "猫")


@pytest.mark.parametrize(
    ("column", "table", "kind"),
    [
        ("email", "users", "email"),
        ("contact_email", "orders", "email"),
        ("phone_number", "staff", "phone"),
        ("last_name", "actor", "last_name"),
        ("name", "customer", "full_name"),
        ("name", "office", "company"),
        ("name", "category", "word"),
        ("postal_code", "address", "zip"),
        ("address2", "address", "address2"),
        ("description", "film", "text"),
        ("status", "orders", "word"),
    ],
)
def test_column_names_choose_the_provider(column: str, table: str, kind: str) -> None:
    assert kind_for(column, table) == kind


def test_the_cardinality_language_reads_plain_mappings() -> None:
    spec = parse_spec(
        {
            "locale": "ja_JP",
            "tables": {
                "offices": {"rows": 10},
                "staff": {"per": "offices", "count": 10},
                "plans": {"per": "staff", "count": {"uniform": [1, 3]}},
                "visits": {"per": "plans", "count": {"zipf": {"s": 1.1, "max": 9}}},
                "staff_roles": {
                    "columns": {"role": {"choice": {"values": ["a", "b"], "weights": [3, 1]}}}
                },
            },
        },
        source="scales.yaml",
    )
    assert spec.table("offices").rows == 10 and spec.table("staff").count == 10
    plans, visits = spec.table("plans").count, spec.table("visits").count
    assert isinstance(plans, Distribution) and plans.kind == "uniform" and plans.uniform == (1, 3)
    assert isinstance(visits, Distribution) and visits.zipf is not None and visits.zipf.max == 9
    assert spec.table("staff_roles").columns["role"].kind == "choice"
    assert spec.table("not_named").rows is None


@pytest.mark.parametrize(
    ("raw", "key_path"),
    [
        ({"tables": {"c": {"count": {"uniform": [5, 2]}}}}, "g.tables.c.count"),
        ({"tables": {"c": {"count": {"unifrom": [1, 2]}}}}, "g.tables.c.count.unifrom"),
        ({"tables": {"c": {"count": {"fixed": 1, "uniform": [1, 2]}}}}, "g.tables.c.count"),
        ({"tables": {"c": {"count": {"zipf": {"s": 0, "max": 3}}}}}, "g.tables.c.count.zipf.s"),
        ({"tables": {"c": {"rows": -1}}}, "g.tables.c.rows"),
        ({"tables": {"c": {"rows": 1, "per": "p"}}}, "g.tables.c"),
        (
            {"tables": {"c": {"columns": {"a": {"const": 1, "choice": [1]}}}}},
            "g.tables.c.columns.a",
        ),
        ({"tables": {"c": {"columns": {"a": {"call": "a b"}}}}}, "g.tables.c.columns.a.call"),
        ({"null_share": 2}, "g.null_share"),
        ({"talbes": {}}, "g.talbes"),
        ({"tables": {"c": {"count": {"scale": 3}}}}, "g.tables.c.count.scale"),
        ({"tables": {"c": {"columns": {"d": {"days": [9, 1]}}}}}, "g.tables.c.columns.d"),
        ({"tables": {"c": {"columns": {"d": {"relative_to": "x"}}}}}, "g.tables.c.columns.d"),
        (
            {"tables": {"c": {"columns": {"d": {"days": [1, 2], "const": 1}}}}},
            "g.tables.c.columns.d",
        ),
        ({"preset": "nosuch"}, "g.preset"),
        ({"preset": "Bad Name!"}, "g.preset"),
    ],
)
def test_a_bad_spec_names_its_key(raw: dict[str, Any], key_path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_spec(raw, source="scales.yaml", key="g")
    assert caught.value.key_path == key_path
    assert "\n" not in caught.value.message


def test_zipf_counts_are_skewed_and_capped() -> None:
    from perfkit.datagen.infer.facts import draw_counts

    spec = parse_spec({"tables": {"t": {"count": {"zipf": {"s": 1.5, "max": 20}}}}}, source="s")
    groups = draw_counts(spec.table("t").count, 5000, 8, "key")
    assert groups.starts is not None
    sizes = [b - a for a, b in itertools.pairwise(groups.starts)]
    assert max(sizes) == 8 and min(sizes) == 1
    assert sizes.count(1) > sizes.count(2) > sizes.count(4)


def test_a_preset_is_under_the_teams_keys() -> None:
    """The team's keys win: a table's cardinality as a whole, its columns one by one; the
    preset's other tables and keys stay."""
    spec = parse_spec(
        {
            "preset": "welfare",
            "locale": "en_US",
            "tables": {
                "staffs": {"rows": 3, "columns": {"role": {"const": "owner"}}},
                "extra": {"rows": 1},
            },
        },
        source="scales.yaml",
    )
    assert spec.preset == "welfare" and spec.locale == "en_US"
    staffs = spec.table("staffs")
    assert (staffs.rows, staffs.per, staffs.count) == (3, None, None)
    assert staffs.columns["role"].const == "owner"
    assert staffs.columns["is_test_data"].const is True  # the preset's, kept
    assert spec.table("extra").rows == 1
    cycles = spec.table("support_plan_cycles")
    assert isinstance(cycles.count, Distribution) and cycles.count.scale == "cycles_per_plan"
    assert spec.dated_columns == {"support_plan_cycles": ("start_date", "end_date")}


def test_days_move_with_the_run_day_unless_told_otherwise() -> None:
    spec = parse_spec(
        {
            "tables": {
                "t": {
                    "columns": {
                        "due": {"days": [-3, 3]},
                        "born": {"days": [-9000, -7000], "dated": False},
                        "ends": {"days": [1, 2], "relative_to": "due"},
                        "seen": {"dated": True},
                        "made": {"const": None},
                    }
                }
            }
        },
        source="scales.yaml",
    )
    assert spec.dated_columns == {"t": ("due", "seen")}


def test_a_count_must_name_a_number_every_scale_gives(tmp_path: Any) -> None:
    raw = {
        "scales": {"small": {"offices": 1, "counts": {"visits": 2}}, "medium": {"offices": 2}},
        "app": {"recipe": None, "data": {"tables": {"v": {"count": {"scale": "visits"}}}}},
    }
    with pytest.raises(ConfigError) as caught:
        config_from(raw, source=tmp_path / "scales.yaml")
    assert caught.value.key_path == "app.data.tables.v.count.scale"
    raw["scales"]["medium"]["counts"] = {"visits": 4}  # type: ignore[index]
    cfg = config_from(raw, source=tmp_path / "scales.yaml")
    assert cfg.scale("medium").counts == {"visits": 4}
    assert scale_numbers(cfg.scale("medium"))["visits"] == 4
    assert scale_numbers(cfg.scale("small"))["staff_per_office"] == 10
