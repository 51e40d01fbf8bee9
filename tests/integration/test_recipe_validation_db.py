"""Checking a recipe against the tables PostgreSQL made for it, before anything is written:
against a staging schema directly, and through ``seed_database`` (which then leaves the
database as it was)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import recipes_for_validation as made_up

from perfkit.app import Application, RecipeData
from perfkit.apps.welfare import application as welfare_application
from perfkit.config import AppConfig, Config, Scale, SchemaSource, WorkloadConfig
from perfkit.datagen import read_dataset_info, seed_database, table_checksums
from perfkit.datagen.entities import ENTITY_VERSION
from perfkit.datagen.recipe import Computed, Const, Recipe, Shape, Source
from perfkit.datagen.validate import read_columns, validate_recipe
from perfkit.db import connection
from perfkit.errors import RecipeError
from perfkit.run import Run
from perfkit.schema import Schema, quote_ident
from perfkit.testing import PrivateServer, scratch_database
from perfkit.workload import WorkloadRegistry

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1]
STAGING = "perfkit_seed_validation"
RECIPE_PATH = "recipes_for_validation:RECIPE"
ANCHOR = dt.date(2026, 2, 9)
TINY = Scale(name="tiny", offices=3, staff_per_office=4, recipients_per_office=5)
NAIVE = dt.datetime(2026, 2, 9, 12)


def made_up_app(recipe: Recipe = made_up.RECIPE) -> Application:
    return Application(
        name="made_up",
        data=RecipeData(schema=Schema(made_up.metadata), recipe=recipe),
        workloads=WorkloadRegistry({}),
        default_workload="noop",
    )


def shape(cfg: Config) -> Shape:
    return Shape(
        scale=TINY, data=cfg.data, mode="plan", seed=1, anchor=ANCHOR, version=ENTITY_VERSION
    )


async def build_staging(conn: asyncpg.Connection, schema: Schema) -> None:
    """The staging schema as seeding makes it: the types and bare tables."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(STAGING)} CASCADE")
    await conn.execute(
        ";\n".join(
            [
                f"CREATE SCHEMA {quote_ident(STAGING)}",
                *schema.create_types_sql(STAGING),
                *schema.create_tables_sql(STAGING),
            ]
        )
    )


@pytest.fixture(scope="module")
async def staged(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a database whose staging schema holds the made-up tables."""
    async with (
        scratch_database(pg_url, "recipe_validation_test") as url,
        connection(url) as conn,
    ):
        await build_staging(conn, made_up_app().schema)
        yield conn


async def refusal(conn: asyncpg.Connection, cfg: Config, recipe: Recipe) -> RecipeError:
    with pytest.raises(RecipeError) as caught:
        await validate_recipe(
            conn, made_up_app(recipe), shape(cfg), schema=STAGING, recipe_path=RECIPE_PATH
        )
    return caught.value


def teams(**columns: Source) -> Recipe:
    return made_up.recipe(teams={**made_up.TEAMS, **columns})


def members(**columns: Source) -> Recipe:
    return made_up.recipe(members={**made_up.MEMBERS, **columns})


# --------------------------------------------------------------------------------------------
# against the staging tables


async def test_the_catalog_as_validation_reads_it(staged: asyncpg.Connection) -> None:
    catalog = await read_columns(staged, schema=STAGING, tables=("teams", "members"))
    columns = {c.name: c for c in catalog["teams"] + catalog["members"]}
    assert columns["name"].max_length == 20 and columns["name"].needs_value
    assert columns["status"].labels == ("open", "closed")
    assert columns["status"].type_sql == "team_status"  # not staging-qualified
    assert columns["created_at"].type_name == "timestamptz"
    assert (columns["status"].category, columns["is_active"].category) == ("E", "B")
    assert not columns["note"].not_null
    assert columns["score"].has_default and not columns["score"].needs_value
    assert columns["number"].has_default  # an identity
    assert columns["email_domain"].generated
    assert columns["preferences"].type_name == "jsonb"


async def test_a_good_recipe_passes(staged: asyncpg.Connection, pg_config: Config) -> None:
    await validate_recipe(
        staged, made_up_app(), shape(pg_config), schema=STAGING, recipe_path=RECIPE_PATH
    )


async def test_an_unknown_column(staged: asyncpg.Connection, pg_config: Config) -> None:
    error = await refusal(staged, pg_config, members(is_activ=Const(True)))
    assert (error.table, error.column, error.problem) == ("members", "is_activ", "unknown_column")
    assert error.recipe == RECIPE_PATH
    assert "did you mean 'is_active'?" in error.message


async def test_a_missing_not_null_column(staged: asyncpg.Connection, pg_config: Config) -> None:
    error = await refusal(staged, pg_config, made_up.MISSING_IS_ACTIVE)
    assert (error.table, error.column, error.problem) == ("members", "is_active", "not_filled")
    assert error.one_line() == (
        "recipe recipes_for_validation:RECIPE, table members: members.is_active is NOT NULL "
        "with no default and the recipe does not fill it "
        "(hint: add 'is_active': Const(False) to the members TableRecipe)"
    )


@pytest.mark.parametrize(
    ("recipe", "table", "column", "problem"),
    [
        (members(is_active=Const(1)), "members", "is_active", "wrong_type"),
        (teams(created_at=Const(NAIVE)), "teams", "created_at", "wrong_type"),
        (teams(status=Const("archived")), "teams", "status", "not_in_enum"),
        (teams(name=Computed(lambda b: ["x" * 300] * len(b["id"]))), "teams", "name", "too_long"),
        (members(preferences=Const({"email": True})), "members", "preferences", "wrong_type"),
        (teams(note=Const(None)), None, None, None),  # nullable
        (teams(name=Const(None)), "teams", "name", "null"),
        (members(email_domain="email"), "members", "email_domain", "generated_column"),
    ],
    ids=[
        "int-into-boolean",
        "naive-into-timestamptz",
        "label-not-in-enum",
        "300-chars-into-varchar-20",
        "dict-into-jsonb",
        "null-into-nullable",
        "null-into-not-null",
        "into-generated",
    ],
)
async def test_values_that_do_not_fit(
    staged: asyncpg.Connection,
    pg_config: Config,
    recipe: Recipe,
    table: str | None,
    column: str | None,
    problem: str | None,
) -> None:
    if problem is None:
        await validate_recipe(
            staged, made_up_app(recipe), shape(pg_config), schema=STAGING, recipe_path="x:y"
        )
        return
    error = await refusal(staged, pg_config, recipe)
    assert (error.table, error.column, error.problem) == (table, column, problem)
    line = error.one_line()
    assert f"{table}.{column}" in line and "\n" not in line and len(line) < 400


async def test_the_sample_application_passes(pg_url: str, pg_config: Config) -> None:
    app = welfare_application()
    async with (
        scratch_database(pg_url, "recipe_validation_welfare_test") as url,
        connection(url) as conn,
    ):
        await build_staging(conn, app.schema)
        for mode in ("plan", "realistic"):
            sample = dataclasses.replace(shape(pg_config), mode=mode)
            await validate_recipe(
                conn, app, sample, schema=STAGING, recipe_path=pg_config.app.recipe or ""
            )


# --------------------------------------------------------------------------------------------
# through seed_database


def app_config(recipe: str) -> AppConfig:
    """scales.yaml's ``app`` section for the made-up application with ``recipe``."""
    return AppConfig(
        name="made_up",
        import_root=TESTS,
        schema=SchemaSource(metadata="recipes_for_validation:metadata"),
        recipe=f"recipes_for_validation:{recipe}",
        workloads={"noop": WorkloadConfig(call="recipes_for_validation:noop")},
        default_workload="noop",
    )


async def contents(url: str) -> tuple[list[str], dict[str, str]]:
    """Every relation, type and schema perfkit could have left, and the tables' checksums."""
    async with connection(url) as conn:
        left = await conn.fetch(
            "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' OR starts_with(n.nspname, 'perfkit_seed_') "
            "UNION ALL SELECT 'type ' || typname FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE (n.nspname = 'public' OR starts_with(n.nspname, 'perfkit_seed_')) "
            "AND t.typtype = 'e' "
            "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace "
            "WHERE starts_with(nspname, 'perfkit_seed_') ORDER BY 1"
        )
        names = [r["name"] for r in left]
        sums = await table_checksums(conn, ["teams", "members"]) if names else {}
        return names, sums


async def test_seeding_stops_before_writing_and_leaves_nothing(pg: PrivateServer) -> None:
    cfg = pg.config_with(app=app_config("MISSING_IS_ACTIVE"))
    async with scratch_database(pg.url, "recipe_validation_seed_test", perfkit_made=True) as url:
        with pytest.raises(RecipeError) as caught:
            await seed_database(Run(cfg, db=url), TINY, anchor=ANCHOR)
        error = caught.value
        assert (error.recipe, error.table, error.column, error.problem) == (
            "recipes_for_validation:MISSING_IS_ACTIVE",
            "members",
            "is_active",
            "not_filled",
        )
        assert error.exit_code == 2
        assert await contents(url) == ([], {})


async def test_a_refused_reseed_leaves_the_dataset_as_it_was(pg: PrivateServer) -> None:
    good = pg.config_with(app=app_config("RECIPE"))
    bad = pg.config_with(app=app_config("MISSING_IS_ACTIVE"))
    async with scratch_database(pg.url, "recipe_validation_reseed_test", perfkit_made=True) as url:
        report = await seed_database(Run(good, db=url), TINY, anchor=ANCHOR)
        assert report.created and report.rows == {"teams": 3, "members": 12}
        before = await contents(url)
        async with connection(url) as conn:
            info = await read_dataset_info(conn)
        with pytest.raises(RecipeError):
            await seed_database(Run(bad, db=url), TINY, anchor=ANCHOR, seed=9, reset=True)
        assert await contents(url) == before
        async with connection(url) as conn:
            assert await read_dataset_info(conn) == info


async def test_seeding_the_sample_application_still_works(pg_url: str, pg_config: Config) -> None:
    async with scratch_database(pg_url, "recipe_validation_small_test", perfkit_made=True) as url:
        report = await seed_database(
            Run(pg_config, db=url), pg_config.scale("small"), anchor=ANCHOR
        )
    assert report.created and report.total_rows > 0
    assert set(report.rows) == set(welfare_application().tables)
