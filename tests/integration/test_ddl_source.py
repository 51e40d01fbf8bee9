"""The capture of an application's schema, built the application's way, for each of the three
sources: the home-care example's SQL file and its alembic migrations capture alike; the
sample application's models capture as perfkit's own DDL builds them."""

from __future__ import annotations

import types
from pathlib import Path

import msgspec
import pytest

from perfkit.apps.welfare.models import metadata as welfare_metadata
from perfkit.config import Config, MigrationsSource, SchemaSource
from perfkit.db import connection
from perfkit.ddl import capture_schema
from perfkit.ddl.source import capture_source, settle
from perfkit.run import Run
from perfkit.schema import Schema
from perfkit.testing import PrivateServer, scratch_database

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "homecare"
HOMECARE_TABLES = {
    "agencies", "caregivers", "clients", "agency_caregivers", "care_plans", "review_cycles",
    "documents",
}  # fmt: skip


def homecare(pg_config: Config, source: SchemaSource) -> Config:
    app = msgspec.structs.replace(
        pg_config.app,
        schema=source,
        import_root=EXAMPLE,
        env=types.MappingProxyType({"APP_SECRET": "perfkit-placeholder-not-a-secret"}),
        database_env=("APP_DATABASE_URL",),
        driver="psycopg",
    )
    return msgspec.structs.replace(pg_config, app=app)


def test_a_sql_file_and_migrations_capture_alike(pg: PrivateServer, pg_config: Config) -> None:
    from_sql = capture_source(
        homecare(pg_config, SchemaSource(sql=EXAMPLE / "schema.sql")),
        db=Run(homecare(pg_config, SchemaSource(sql=EXAMPLE / "schema.sql"))).db,
    )
    command = ("alembic", "upgrade", "head")
    migrations = SchemaSource(migrations=MigrationsSource(command=command, cwd=EXAMPLE))
    from_migrations = capture_source(
        homecare(pg_config, migrations), db=Run(homecare(pg_config, migrations)).db
    )
    assert set(from_sql.table_names) == HOMECARE_TABLES
    assert "alembic_version" not in from_migrations.table_names
    assert from_migrations.fingerprint == from_sql.fingerprint


async def test_models_capture_as_perfkits_own_ddl_builds_them(
    pg: PrivateServer, pg_config: Config
) -> None:
    captured = capture_source(pg_config, welfare_metadata, db=Run(pg_config).db)
    schema = Schema(welfare_metadata)
    assert set(captured.table_names) == set(schema.tables)
    statements = [
        *schema.create_types_sql("public"),
        *schema.create_tables_sql("public"),
        *schema.post_load_sql("public"),
    ]
    async with (
        scratch_database(pg.url, "perfkit_ddl_source_models_test") as url,
        connection(str(url)) as conn,
    ):
        await conn.execute(";\n".join(statements))
        built = await capture_schema(conn, "public")
        # the capture is settled to its own replay (PostgreSQL prints the models' IN checks
        # on varchar differently once replayed): the same schema, printed as loads print it
        rebuilt = await settle(conn, built, built.table_names)
    assert rebuilt.fingerprint == captured.fingerprint
    assert built.fingerprint != captured.fingerprint  # the welfare models' role/status checks
