"""Data inferred from the catalogue, for a schema nobody here wrote, with no recipe.

The sample schema (Pagila plus tests/schemas/extras.sql) is built from its SQL files in
database A and captured; a plan made from the capture and a small spec fills scratch
databases at two sizes. The load succeeding is most of the proof (every primary key, unique,
CHECK, exclusion and foreign key is added after the rows, so PostgreSQL checks them all); the
tests also check the row counts the spec asks for, that the schema came out exactly as
captured, that the same seed gives the same rows and another seed others, and that
overrides (const, choice, call, sql, csv) land, while bad ones are refused, naming
``table.column``, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from perfkit.datagen.infer.fill import fill_database
from perfkit.datagen.infer.model import InferenceError
from perfkit.datagen.infer.plan import make_plan
from perfkit.dataspec import parse_spec
from perfkit.db import connection
from perfkit.ddl import Capture, UncarriedError, capture_schema
from perfkit.errors import ConfigError
from perfkit.testing import scratch_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "schemas"
ANCHOR = dt.date(2026, 2, 2)

#: The proof's spec: a few tables sized on purpose, the rest inferred; the one CHECK perfkit
#: cannot read (a regular expression on org_unit.zip's domain) gets an override.
SPEC: dict[str, Any] = {
    "locale": "ja_JP",
    "default_rows": 6,
    "default_count": 2,
    "tables": {
        "country": {"rows": 5},
        "city": {"per": "country", "count": 3},
        "language": {"rows": 4},
        "film": {"per": "language", "via": "language_id", "count": {"uniform": [2, 6]}},
        "film_actor": {"per": "film", "count": {"zipf": {"s": 1.2, "max": 5}}},
        "rental": {"per": "customer", "count": {"pareto": {"alpha": 1.5, "max": 4}}},
        "org_unit": {
            "rows": 6,
            "columns": {"zip": {"choice": {"values": ["100-0001", "530-0001"], "weights": [3, 1]}}},
        },
        "employee": {"per": "org_unit", "via": "unit_id", "count": 4},
    },
}


def username(row: Mapping[str, Any]) -> str:
    """A ``call`` override: the row's number, spelled as a login."""
    return f"user{row['_index']:05d}"


@pytest.fixture(scope="module")
async def captured(pg_url: str) -> AsyncIterator[Capture]:
    """The sample schema, built from its SQL files and captured."""
    async with (
        scratch_database(pg_url, "perfkit_infer_source_test") as url,
        connection(str(url)) as conn,
    ):
        for name in ("pagila-schema.sql", "extras.sql"):
            await conn.execute((SCHEMAS / name).read_text(encoding="utf-8"))
        yield await capture_schema(conn, "public")


async def counts(conn: asyncpg.Connection, tables: list[str]) -> dict[str, int]:
    return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}  # noqa: S608


async def checksums(conn: asyncpg.Connection, tables: list[str]) -> dict[str, str]:
    """An md5 of each table's rows, in the order of their text (tables without an ``id``)."""
    await conn.execute("SET TimeZone = 'UTC'")
    return {
        t: str(
            await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(r, ',' ORDER BY r), '')) "  # noqa: S608
                f'FROM (SELECT x::text AS r FROM "{t}" AS x) AS s'
            )
        )
        for t in tables
    }


async def fill(pg_url: str, name: str, captured: Capture, spec: dict[str, Any], **kw: Any) -> str:
    """Fill a fresh scratch database ``name`` (left for the caller to read, dropped by the
    next use of the name); its URL."""
    plan = make_plan(captured, parse_spec(spec, source="test"), anchor=ANCHOR, **kw)
    async with scratch_database(pg_url, name) as url:
        await fill_database(str(url), captured, plan)
        async with connection(str(url)) as conn:
            got = await counts(conn, list(plan.row_counts))
            again = await capture_schema(conn, "public")
            sums = await checksums(conn, list(plan.row_counts))
    assert got == plan.row_counts
    assert again.fingerprint == captured.fingerprint  # every constraint and index rebuilt
    return json.dumps(sums, sort_keys=True)


@pytest.mark.parametrize("scale", [1, 3])
async def test_every_table_is_filled_as_configured(
    captured: Capture, pg_url: str, scale: int
) -> None:
    plan = make_plan(captured, parse_spec(SPEC, source="test"), seed=7, anchor=ANCHOR, scale=scale)
    rows = plan.row_counts
    assert set(rows) == {t.name for t in captured.data_tables}
    assert all(n > 0 for n in rows.values()), rows
    assert rows["country"] == 5 * scale and rows["language"] == 4 * scale
    assert rows["city"] == 3 * rows["country"]
    assert rows["employee"] == 4 * rows["org_unit"] == 24 * scale
    assert 2 * rows["language"] <= rows["film"] <= 6 * rows["language"]
    assert rows["film"] <= rows["film_actor"] <= 5 * rows["film"]
    assert rows["customer"] <= rows["rental"] <= 4 * rows["customer"]
    async with scratch_database(pg_url, f"perfkit_infer_fill_{scale}_test") as url:
        report = await fill_database(str(url), captured, plan)
        async with connection(str(url)) as conn:
            assert await counts(conn, list(rows)) == rows == dict(report.rows)
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
                    " AND NOT convalidated"
                )
                == 0
            )
            again = await capture_schema(conn, "public")
            # Every row has a parent, whichever way the keys were made.
            orphans = await conn.fetchval(
                "SELECT count(*) FROM employee e LEFT JOIN org_unit u ON u.id = e.unit_id "
                "WHERE u.id IS NULL"
            )
            per_unit = await conn.fetch("SELECT count(*) AS n FROM employee GROUP BY unit_id")
            pairs = await conn.fetchval(
                "SELECT count(*) - count(DISTINCT (actor_id, film_id)) FROM film_actor"
            )
            zips = await conn.fetch("SELECT DISTINCT zip FROM org_unit ORDER BY 1")
    assert again.fingerprint == captured.fingerprint
    assert orphans == 0 and {r["n"] for r in per_unit} == {4} and pairs == 0
    assert [r["zip"] for r in zips] == ["100-0001", "530-0001"]


async def test_the_same_seed_gives_the_same_rows(captured: Capture, pg_url: str) -> None:
    first = await fill(pg_url, "perfkit_infer_seed_a_test", captured, SPEC, seed=11)
    second = await fill(pg_url, "perfkit_infer_seed_b_test", captured, SPEC, seed=11)
    other = await fill(pg_url, "perfkit_infer_seed_c_test", captured, SPEC, seed=12)
    assert first == second
    a, c = json.loads(first), json.loads(other)
    assert sum(a[t] != c[t] for t in a) >= len(a) - 2  # a lookup table may repeat its pool


def test_rows_do_not_depend_on_the_process(captured: Capture, tmp_path: Path) -> None:
    """Another interpreter, with another hash seed, makes the same rows: no ``hash()``, no
    dict-order dependence."""
    saved = tmp_path / "capture.pickle"
    saved.write_bytes(pickle.dumps((captured, SPEC, ANCHOR)))
    script = (
        "import hashlib, pickle, sys\n"
        "from perfkit.datagen.infer.plan import make_plan\n"
        "from perfkit.dataspec import parse_spec\n"
        "captured, spec, anchor = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "plan = make_plan(captured, parse_spec(spec, source='t'), seed=5, anchor=anchor)\n"
        "digest = hashlib.sha256()\n"
        "for table in plan.tables:\n"
        "    for row in table.generate():\n"
        "        digest.update(repr(row).encode())\n"
        "print(digest.hexdigest())\n"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script, str(saved)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
        )
        outputs.add(done.stdout.strip())
    assert len(outputs) == 1 and len(next(iter(outputs))) == 64


async def test_overrides_land(captured: Capture, pg_url: str, tmp_path: Path) -> None:
    languages = tmp_path / "languages.csv"
    languages.write_text("language_id,name\n1,English\n2,日本語\n3,Français\n", encoding="utf-8")
    spec = json.loads(json.dumps(SPEC))
    spec["tables"]["language"] = {"csv": str(languages)}
    spec["tables"]["film"] = {
        "per": "language",
        "via": "language_id",
        "count": 3,
        "columns": {"rating": {"const": "PG-13"}},
    }
    spec["tables"]["customer"] = {"columns": {"active": {"choice": [0, 1]}}}
    spec["tables"]["staff"] = {"columns": {"username": {"call": f"{__name__}:username"}}}
    spec["tables"]["address"] = {"columns": {"district": {"sql": "upper(city.city) || '区'"}}}
    plan = make_plan(captured, parse_spec(spec, source="test"), seed=3, anchor=ANCHOR)
    async with scratch_database(pg_url, "perfkit_infer_overrides_test") as url:
        await fill_database(str(url), captured, plan)
        async with connection(str(url)) as conn:
            names = await conn.fetch("SELECT language_id, trim(name) AS name FROM language")
            ratings = await conn.fetch("SELECT DISTINCT rating::text FROM film")
            active = await conn.fetch("SELECT DISTINCT active FROM customer ORDER BY 1")
            logins = await conn.fetch("SELECT username FROM staff ORDER BY staff_id LIMIT 2")
            wrong = await conn.fetchval(
                "SELECT count(*) FROM address a JOIN city c USING (city_id) "
                "WHERE a.district <> upper(c.city) || '区'"
            )
            films = await conn.fetchval("SELECT count(*) FROM film")
    assert sorted((r["language_id"], r["name"]) for r in names) == [
        (1, "English"),
        (2, "日本語"),
        (3, "Français"),
    ]
    assert films == 9
    assert [r["rating"] for r in ratings] == ["PG-13"]
    assert [r["active"] for r in active] == [0, 1]
    assert [r["username"] for r in logins] == ["user00000", "user00001"]
    assert wrong == 0


def problem_of(captured: Capture, spec: dict[str, Any]) -> tuple[str, str, str]:
    with pytest.raises(InferenceError) as caught:
        make_plan(captured, parse_spec(spec, source="test"), seed=1, anchor=ANCHOR)
    return caught.value.table, caught.value.column, caught.value.problem


def with_table(name: str, table: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(json.dumps(SPEC))
    spec["tables"][name] = table
    return spec


def test_a_check_perfkit_cannot_read_is_named(captured: Capture) -> None:
    spec = with_table("org_unit", {"rows": 6})
    assert problem_of(captured, spec) == ("org_unit", "zip", "check")


@pytest.mark.parametrize(
    ("table", "override", "wanted"),
    [
        ("team", {"budget": {"const": "lots"}}, ("team", "budget", "override")),
        ("team", {"budget": {"choice": [2000, 10]}}, ("team", "budget", "override")),
        ("org_unit", {"kind": {"const": "shop"}}, ("org_unit", "kind", "override")),
        ("film", {"rating": {"const": "XXX"}}, ("film", "rating", "override")),
        ("film", {"nope": {"const": 1}}, ("film", "nope", "unknown_column")),
        ("staff", {"username": {"call": "no.such.module:f"}}, ("staff", "username", "override")),
    ],
)
def test_an_override_that_does_not_fit_is_refused(
    captured: Capture, table: str, override: dict[str, Any], wanted: tuple[str, str, str]
) -> None:
    spec = json.loads(json.dumps(SPEC))
    spec["tables"].setdefault(table, {})["columns"] = {
        **spec["tables"].get(table, {}).get("columns", {}),
        **override,
    }
    assert problem_of(captured, spec) == wanted


def test_unknown_tables_and_bad_counts_are_refused(captured: Capture) -> None:
    assert problem_of(captured, with_table("nope", {"rows": 1})) == ("nope", "", "unknown_table")
    assert problem_of(captured, with_table("city", {"per": "film", "count": 2}))[2] == "per"
    with pytest.raises(ConfigError) as caught:
        parse_spec(
            with_table("city", {"per": "country", "count": {"uniform": [5, 2]}}),
            source="scales.yaml",
            key="data.generate",
        )
    assert caught.value.key_path == "data.generate.tables.city.count"
    assert "uniform: the first bound" in caught.value.message


async def test_a_bad_sql_override_is_refused_before_any_row(captured: Capture, pg_url: str) -> None:
    spec = with_table("address", {"columns": {"district": {"sql": "upper(nowhere.city)"}}})
    plan = make_plan(captured, parse_spec(spec, source="test"), seed=1, anchor=ANCHOR)
    async with scratch_database(pg_url, "perfkit_infer_bad_sql_test") as url:
        with pytest.raises(InferenceError) as caught:
            await fill_database(str(url), captured, plan)
        async with connection(str(url)) as conn:
            left = await conn.fetchval(
                "SELECT count(*) FROM pg_class WHERE relnamespace::regnamespace::text "
                "NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            )
    assert (caught.value.table, caught.value.column, caught.value.problem) == (
        "address",
        "district",
        "override",
    )
    assert left == 0


async def test_what_cannot_be_carried_stops_the_fill(pg_url: str) -> None:
    async with scratch_database(pg_url, "perfkit_infer_uncarried_test") as url:
        async with connection(str(url)) as conn:
            await conn.execute(
                "CREATE SCHEMA src; CREATE TABLE src.base (id int PRIMARY KEY);"
                "CREATE RULE base_quiet AS ON DELETE TO src.base DO INSTEAD NOTHING"
            )
            source = await capture_schema(conn, "src")
        plan = make_plan(source, parse_spec({}, source="t"), seed=1, anchor=ANCHOR)
        with pytest.raises(UncarriedError):
            await fill_database(str(url), source, plan)
        report = await fill_database(str(url), source, plan, skip_uncarried=True)
        async with connection(str(url)) as conn:
            rules = await conn.fetchval("SELECT count(*) FROM pg_rules WHERE schemaname = 'public'")
    assert report.rows == {"base": 100} and rules == 0


async def test_a_check_on_the_per_key_and_an_override_passes_to_postgresql(pg_url: str) -> None:
    """A CHECK perfkit cannot read ("a cycle's event or a status's, never both") over the
    table's ``per`` key and an overridden column: the team chose both, so it is not refused,
    and PostgreSQL checks it when the constraint is added after the load."""
    async with scratch_database(pg_url, "perfkit_infer_per_check_test") as url:
        async with connection(str(url)) as conn:
            await conn.execute(
                "CREATE SCHEMA src; CREATE TABLE src.cycle (id int PRIMARY KEY);"
                "CREATE TABLE src.status (id int PRIMARY KEY);"
                "CREATE TABLE src.event (id int PRIMARY KEY,"
                " cycle_id int REFERENCES src.cycle, status_id int REFERENCES src.status,"
                " CONSTRAINT one_ref CHECK ((cycle_id IS NOT NULL AND status_id IS NULL)"
                " OR (cycle_id IS NULL AND status_id IS NOT NULL)))"
            )
            source = await capture_schema(conn, "src")
        bare = {"tables": {"event": {"per": "cycle", "via": "cycle_id", "count": 1}}}
        with pytest.raises(InferenceError) as caught:
            make_plan(source, parse_spec(bare, source="t"), seed=1, anchor=ANCHOR)
        assert "check" in {p for _, _, p in caught.value.problems}
        spec = {
            "tables": {
                "event": {**bare["tables"]["event"], "columns": {"status_id": {"const": None}}}
            }
        }
        plan = make_plan(source, parse_spec(spec, source="t"), seed=1, anchor=ANCHOR)
        report = await fill_database(str(url), source, plan)
        async with connection(str(url)) as conn:
            linked = await conn.fetchval(
                "SELECT count(*) FROM event WHERE cycle_id IS NOT NULL AND status_id IS NULL"
            )
    assert report.rows["event"] == report.rows["cycle"] == linked > 0


#: keikakun's shapes, small: a unique key with a column always NULL, a unique key over the
#: per key (one row per parent) and another column, and a value read from a sibling table.
SHORTFALLS = """
CREATE SCHEMA src;
CREATE TABLE src.office (id int PRIMARY KEY);
CREATE TABLE src.recipient (id int PRIMARY KEY);
CREATE TABLE src.status (id int PRIMARY KEY);
CREATE TABLE src.membership (id int PRIMARY KEY,
  recipient_id int NOT NULL REFERENCES src.recipient, office_id int NOT NULL REFERENCES src.office,
  kind text NOT NULL, UNIQUE (recipient_id, kind));
CREATE TABLE src.cycle (id int PRIMARY KEY,
  recipient_id int NOT NULL REFERENCES src.recipient, office_id int NOT NULL REFERENCES src.office,
  status_id int REFERENCES src.status, event text NOT NULL,
  UNIQUE (status_id, event));
"""


async def test_unique_keys_with_null_or_one_row_per_parent_and_sibling_values(
    pg_url: str,
) -> None:
    async with scratch_database(pg_url, "perfkit_infer_shortfalls_test") as url:
        async with connection(str(url)) as conn:
            await conn.execute(SHORTFALLS)
            source = await capture_schema(conn, "src")
        spec = {
            "tables": {
                "office": {"rows": 3},
                "recipient": {"rows": 20},
                # (recipient_id, kind): one membership per recipient makes it unique
                "membership": {"per": "recipient", "count": 1},
                "cycle": {
                    "per": "recipient",
                    "count": 2,
                    "columns": {
                        # (status_id, event): status_id always NULL, so never a clash
                        "status_id": {"const": None},
                        "event": {"const": "renewal"},
                        # the recipient's office, read from its membership (a sibling)
                        "office_id": {
                            "sql": "(SELECT m.office_id FROM membership AS m "
                            "WHERE m.recipient_id = t.recipient_id)"
                        },
                    },
                },
            }
        }
        plan = make_plan(source, parse_spec(spec, source="t"), seed=1, anchor=ANCHOR)
        report = await fill_database(str(url), source, plan)
        async with connection(str(url)) as conn:
            apart = await conn.fetchval(
                "SELECT count(*) FROM cycle c JOIN membership m USING (recipient_id) "
                "WHERE c.office_id <> m.office_id"
            )
            offices = await conn.fetchval("SELECT count(DISTINCT office_id) FROM cycle")
    assert report.rows["membership"] == 20 and report.rows["cycle"] == 40
    assert apart == 0 and offices > 1


@pytest.mark.parametrize(
    ("columns", "table", "column"),
    [
        ({"title": {"days": [1, 2]}}, "film", "title"),  # not a date
        ({"title": {"dated": True}}, "film", "title"),
        ({"last_update": {"days": [0, 1], "relative_to": "title"}}, "film", "last_update"),
    ],
)
def test_days_and_dated_need_a_date_column(
    captured: Capture, columns: dict[str, Any], table: str, column: str
) -> None:
    spec = parse_spec({"tables": {table: {"columns": columns}}}, source="t")
    with pytest.raises(InferenceError) as caught:
        make_plan(captured, spec, seed=1, anchor=ANCHOR)
    assert (table, column) in {(t, c) for t, c, _ in caught.value.problems}


def test_a_partitioned_tables_dates_cannot_move(captured: Capture) -> None:
    spec = parse_spec(
        {"tables": {"payment": {"columns": {"payment_date": {"dated": True}}}}}, source="t"
    )
    with pytest.raises(InferenceError) as caught:
        make_plan(captured, spec, seed=1, anchor=ANCHOR)
    assert ("payment", "payment_date", "dated") in caught.value.problems


async def test_days_are_drawn_from_the_anchor(captured: Capture, pg_url: str) -> None:
    spec = {
        **SPEC,
        "tables": {
            **SPEC["tables"],
            "rental": {
                **SPEC["tables"]["rental"],
                "columns": {
                    "rental_date": {"days": [-5, -1]},
                    "return_date": {"days": [2, 3], "relative_to": "rental_date"},
                },
            },
        },
    }
    plan = make_plan(captured, parse_spec(spec, source="t"), seed=3, anchor=ANCHOR)
    async with scratch_database(pg_url, "perfkit_infer_days_test") as url:
        await fill_database(str(url), captured, plan)
        async with connection(str(url)) as conn:
            low, high, gaps = await conn.fetchrow(
                "SELECT min(rental_date), max(rental_date), "
                "array_agg(DISTINCT (return_date - rental_date)) FROM rental"
            )
    midnight = dt.datetime(ANCHOR.year, ANCHOR.month, ANCHOR.day, tzinfo=dt.UTC)
    assert midnight - dt.timedelta(days=5) <= low <= high < midnight
    assert set(gaps) <= {dt.timedelta(days=2), dt.timedelta(days=3), None}
