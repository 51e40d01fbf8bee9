"""Seeding with inferred data keeps the seeder's contract: the safety rule, one dataset per
database (the same one again is left alone, another is refused without reset), all or nothing,
and a ``perfkit_dataset`` row whose fingerprint is the capture's."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from perfkit.commands.data import seed
from perfkit.config import Config, Scale, SchemaSource
from perfkit.datagen.errors import DatasetConflictError
from perfkit.datagen.infer.model import INFER_VERSION
from perfkit.datagen.infer.seed import INFERRED_MODE, seed_inferred
from perfkit.datagen.metadata import read_dataset_info
from perfkit.dataspec import GenerationSpec, parse_spec
from perfkit.db import connection
from perfkit.ddl import Capture, capture_schema
from perfkit.errors import ConfigError, DatasetTooLargeError, UnsafeTargetError
from perfkit.loading import load_application
from perfkit.run import Run
from perfkit.testing import scratch_database

pytestmark = pytest.mark.integration

EXTRAS = Path(__file__).resolve().parents[1] / "schemas" / "extras.sql"
ANCHOR = dt.date(2026, 3, 2)
TINY = Scale(name="tiny", offices=1)
SPEC: dict[str, Any] = {
    "locale": "ja_JP",
    "default_rows": 5,
    "default_count": 2,
    "tables": {"org_unit": {"columns": {"zip": {"const": "100-0001"}}}},
}


@pytest.fixture(scope="module")
async def extras(pg_url: str) -> AsyncIterator[Capture]:
    """tests/schemas/extras.sql alone, built and captured."""
    async with (
        scratch_database(pg_url, "perfkit_infer_seed_source_test") as url,
        connection(str(url)) as conn,
    ):
        await conn.execute(EXTRAS.read_text(encoding="utf-8"))
        yield await capture_schema(conn, "public")


def spec() -> GenerationSpec:
    return parse_spec(SPEC, source="test")


async def test_a_seed_records_its_dataset_and_is_not_repeated(
    extras: Capture, pg_url: str, pg_config: Config
) -> None:
    async with scratch_database(pg_url, "perfkit_infer_seed_test", perfkit_made=True) as url:
        first = await seed_inferred(
            Run(pg_config, db=str(url)), TINY, capture=extras, spec=spec(), seed=1, anchor=ANCHOR
        )
        again = await seed_inferred(
            Run(pg_config, db=str(url)), TINY, capture=extras, spec=spec(), seed=1, anchor=ANCHOR
        )
        with pytest.raises(DatasetConflictError):
            await seed_inferred(
                Run(pg_config, db=str(url)), TINY, capture=extras, spec=spec(), seed=2
            )
        async with connection(str(url)) as conn:
            info = await read_dataset_info(conn)
            units = await conn.fetchval("SELECT count(*) FROM org_unit")
        replaced = await seed_inferred(
            Run(pg_config, db=str(url)), TINY, capture=extras, spec=spec(), seed=2, reset=True
        )
        async with connection(str(url)) as conn:
            after = await read_dataset_info(conn)
            live = await capture_schema(conn, "public", tables=extras.table_names)
    assert first.created and not again.created and replaced.created
    assert info is not None and after is not None
    assert (info.mode, info.generator_version, info.seed) == (INFERRED_MODE, INFER_VERSION, 1)
    assert info.schema_fingerprint == extras.fingerprint == live.fingerprint
    assert dict(info.row_counts) == dict(first.rows) and units == info.row_counts["org_unit"] == 5
    assert info.parameters["spec"]["locale"] == "ja_JP"
    assert after.seed == 2 and after.key() != info.key()


async def test_another_spec_is_another_dataset(
    extras: Capture, pg_url: str, pg_config: Config
) -> None:
    other = parse_spec({**SPEC, "null_share": 0.5}, source="test")
    async with scratch_database(pg_url, "perfkit_infer_spec_test", perfkit_made=True) as url:
        await seed_inferred(
            Run(pg_config, db=str(url)), TINY, capture=extras, spec=spec(), seed=1, anchor=ANCHOR
        )
        with pytest.raises(DatasetConflictError):
            await seed_inferred(
                Run(pg_config, db=str(url)), TINY, capture=extras, spec=other, seed=1, anchor=ANCHOR
            )


async def test_a_database_that_is_not_a_test_database_is_refused(
    extras: Capture, pg_url: str, pg_config: Config
) -> None:
    async with scratch_database(pg_url, "perfkit_customers") as url:
        with pytest.raises(UnsafeTargetError):
            await seed_inferred(
                Run(pg_config, db=str(url)), TINY, capture=extras, spec=spec(), seed=1
            )
        async with connection(str(url)) as conn:
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            )
    assert tables == 0


def without_recipe(cfg: Config, url: str, data: Mapping[str, Any] = SPEC) -> Config:
    """``cfg`` for an application with no recipe whose schema is extras.sql, seeding ``url``."""
    app = msgspec.structs.replace(
        cfg.app,
        schema=SchemaSource(sql=EXTRAS),
        recipe=None,
        data=parse_spec(data, source="scales.yaml", key="app.data"),
    )
    database = msgspec.structs.replace(cfg.database, backend="external")
    return msgspec.structs.replace(cfg, app=app, database=database, external_url=url)


async def test_invoke_seed_fills_an_application_without_a_recipe(
    pg_url: str, pg_config: Config
) -> None:
    async with scratch_database(pg_url, "perfkit_infer_command_test", perfkit_made=True) as url:
        cfg = without_recipe(pg_config, str(url))
        outcome = await seed(Run(cfg), scale="small", anchor=dt.date(2026, 3, 2))
        async with connection(str(url)) as conn:
            info = await read_dataset_info(conn)
            units = await conn.fetchval("SELECT count(*) FROM org_unit")
        app = load_application(Run(cfg))  # what the other commands load: the inferred data
    assert outcome.report.created and info is not None and info.mode == INFERRED_MODE
    assert units == 5 * cfg.scale("small").offices == info.row_counts["org_unit"]
    assert app.inferred is not None and info.schema_fingerprint == app.data.fingerprint
    with pytest.raises(ConfigError) as no_recipe:  # a step that needs a recipe says so
        _ = app.recipe
    assert no_recipe.value.key_path == "app.recipe"


async def test_a_bad_data_section_or_size_stops_invoke_seed_first(
    pg_url: str, pg_config: Config
) -> None:
    async with scratch_database(pg_url, "perfkit_infer_refused_test", perfkit_made=True) as url:
        with pytest.raises(ConfigError) as wrong:  # scales.yaml's app.data, as it is loaded
            without_recipe(pg_config, str(url), {"tables": {"team": {"rows": -1}}})
        big = without_recipe(pg_config, str(url))
        big = msgspec.structs.replace(big, limits=msgspec.structs.replace(big.limits, max_rows=10))
        with pytest.raises(DatasetTooLargeError):
            await seed(Run(big), scale="small")
        async with connection(str(url)) as conn:
            tables = await conn.fetchval(
                "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            )
    assert wrong.value.key_path == "app.data.tables.team.rows"
    assert tables == 0
