"""Schema sources and the catalogue fingerprint, on the private server.

In this process: the catalogue reads alike in any schema; the fingerprint follows what
PostgreSQL builds, not how the DDL is written; models are built once (rolled back in the test
database, or in a scratch database when there is none yet) and remembered; a SQL file is built,
read back and rebuilt by perfkit into the same catalogue; bad files and failing migrations are
one-line errors; no scratch database outlives a command.

Through ``invoke`` (the example application, which this process never imports): its models,
its SQL file and its alembic migrations seed databases with one fingerprint and one catalogue;
a snapshot made from one source restores under another; a changed SQL file makes the snapshot
stale and the seeded data another dataset.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import yaml
from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy import Enum as SAEnum

from perfkit.apps.welfare.models import metadata as welfare_metadata
from perfkit.catalog import Catalog, read_catalog
from perfkit.config import Config, MigrationsSource, SchemaSource
from perfkit.db import connection
from perfkit.ddl.source import CAPTURES_DIR
from perfkit.errors import ConfigError, DatabaseEnvError
from perfkit.run import Run
from perfkit.schema import Schema
from perfkit.schema_source import MEMO_FILE, schema_fingerprint, schema_from_source
from perfkit.testing import PrivateServer, run_perfkit, run_perfkit_process, scratch_database
from perfkit.urls import make_url, parse_url, password_of, with_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "homecare"
#: The example's tables, parents first, as its models order them.
HOMECARE_TABLES = (
    "agencies",
    "caregivers",
    "clients",
    "agency_caregivers",
    "care_plans",
    "review_cycles",
    "documents",
)


# -- helpers -----------------------------------------------------------------------------------


async def build(url: str, schema: Schema, where: str = "public") -> Catalog:
    """Build ``schema`` with perfkit's DDL in ``where`` of the database at ``url``; its
    catalogue."""
    async with connection(url) as conn:
        if where != "public":
            await conn.execute(f'CREATE SCHEMA "{where}"')
        await conn.execute(
            ";\n".join(
                [
                    *schema.create_types_sql(where),
                    *schema.create_tables_sql(where),
                    *schema.post_load_sql(where),
                ]
            )
        )
        return await read_catalog(conn, where, schema.tables)


async def helper_databases(server_url: str) -> list[str]:
    """Scratch databases perfkit made for schema sources that still exist."""
    async with connection(with_database(server_url, "postgres")) as admin:
        rows = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE '%\\_\\_pksch\\_%'"
        )
    return [str(r["datname"]) for r in rows]


def own_state(cfg: Config, state: Path) -> Config:
    """``cfg`` with a state folder of its own, reaching the private server by URL."""
    database = msgspec.structs.replace(cfg.database, backend="external")
    url = with_database(PRIVATE_URL[0], "schema_sources_test")
    return msgspec.structs.replace(cfg, database=database, external_url=url, state_dir=state)


def with_source(cfg: Config, tmp_path: Path, source: SchemaSource) -> Config:
    """``cfg`` with schema source ``source`` and a state folder of its own."""
    app = msgspec.structs.replace(cfg.app, schema=source)
    return msgspec.structs.replace(own_state(cfg, tmp_path / "state"), app=app)


#: The private server's URL, for :func:`own_state` (set by the autouse fixture below).
PRIVATE_URL: list[str] = []


@pytest.fixture(autouse=True)
def _private_url(pg: PrivateServer) -> None:
    PRIVATE_URL[:] = [pg.url]


@pytest.fixture
async def empty_db(pg: PrivateServer) -> AsyncIterator[str]:
    async with scratch_database(pg.url, "schema_sources_test") as url:
        yield url


def items_metadata(
    *,
    code_length: int = 20,
    default: object = "0",
    index: bool = True,
    labels: tuple[str, ...] = ("new", "done"),
    unique_name: str = "uq_items_code",
) -> MetaData:
    """A small schema with the features a fingerprint must see, each one adjustable."""
    md = MetaData()
    Table("owners", md, Column("id", Integer, primary_key=True))
    items = Table(
        "items",
        md,
        Column("id", Integer, primary_key=True),
        Column("owner_id", ForeignKey("owners.id"), nullable=False),
        Column("code", String(code_length), nullable=False),
        Column("quantity", Integer, nullable=False, server_default=default),  # type: ignore[arg-type]
        Column("state", SAEnum(*labels, name="item_state"), nullable=False),
        UniqueConstraint("code", name=unique_name),
    )
    if index:
        Index("ix_items_owner_id", items.c.owner_id)
    return md


# -- the catalogue and the fingerprint ---------------------------------------------------------


async def test_the_catalogue_reads_alike_in_any_schema(empty_db: str) -> None:
    schema = Schema(welfare_metadata)
    in_public = await build(empty_db, schema)
    in_staging = await build(empty_db, schema, "perfkit_seed_0123abcd")
    assert in_public.tables and set(in_public.tables) == set(schema.tables)
    assert in_staging.differences(in_public) == []
    assert in_staging.fingerprint == in_public.fingerprint
    # the text really names things: an index, a check and a foreign key, without a schema
    cycles = in_public.tables["support_plan_cycles"]
    assert any("WHERE" in definition for _, definition in cycles["indexes"])
    assert any(kind == "f" and "REFERENCES individual_support_plans(id)" in d
               for _, kind, d in cycles["constraints"])  # fmt: skip
    assert not any("perfkit_seed" in str(part) for part in in_staging.tables.values())


async def test_the_fingerprint_follows_what_is_built_not_how_it_is_written(
    pg: PrivateServer,
) -> None:
    base = Schema(items_metadata())
    # the same table, written another way: a default given as SQL text instead of a string
    same = Schema(items_metadata(default=text("0")))
    assert same.digest != base.digest
    variants = {
        "a wider column": Schema(items_metadata(code_length=40)),
        "a dropped index": Schema(items_metadata(index=False)),
        "another ENUM label": Schema(items_metadata(labels=("new", "done", "lost"))),
        "a renamed constraint": Schema(items_metadata(unique_name="uq_items_code_key")),
        "another default": Schema(items_metadata(default="1")),
    }
    catalogs: dict[str, Catalog] = {}
    for label, schema in {"base": base, "same": same, **variants}.items():
        async with scratch_database(pg.url, "fingerprint_variant_test") as url:
            catalogs[label] = await build(url, schema)
    assert catalogs["same"].fingerprint == catalogs["base"].fingerprint
    for label in variants:
        assert catalogs[label].fingerprint != catalogs["base"].fingerprint, label
        assert catalogs[label].differences(catalogs["base"]), label
    assert catalogs["a dropped index"].differences(catalogs["base"]) == [
        "items: indexes differ (ix_items_owner_id)"
    ]
    assert catalogs["another ENUM label"].differences(catalogs["base"]) == [
        "enum type item_state differs"
    ]


async def test_models_are_built_once_rolled_back_and_remembered(
    pg: PrivateServer, pg_config: Config, tmp_path: Path, empty_db: str
) -> None:
    cfg = own_state(pg_config, tmp_path / "state")  # its test database exists (empty_db)
    schema = Schema(items_metadata())
    fingerprint = schema_fingerprint(cfg, schema, db=lambda: Run(cfg).db)
    async with scratch_database(pg.url, "fingerprint_check_test") as url:
        assert fingerprint == (await build(url, schema)).fingerprint
    memo = yaml.safe_load((cfg.state_dir / MEMO_FILE).read_text(encoding="utf-8"))
    assert memo == {schema.digest: fingerprint}
    async with connection(empty_db) as conn:  # built in the test database and rolled back
        assert await conn.fetchval("SELECT count(*) FROM pg_class WHERE relname = 'items'") == 0
        assert not await conn.fetch("SELECT 1 FROM pg_namespace WHERE nspname LIKE 'perfkit%'")
    # no test database yet: built in a scratch database beside where it will be, then dropped
    absent = msgspec.structs.replace(
        own_state(pg_config, tmp_path / "absent"),
        external_url=with_database(pg.url, "not_created_yet_test"),
    )
    assert schema_fingerprint(absent, schema, db=lambda: Run(absent).db) == fingerprint
    assert await helper_databases(pg.url) == []
    # another state folder whose memo says otherwise: the memo is what is read
    other = own_state(cfg, tmp_path / "copy")
    other.state_dir.mkdir()
    (other.state_dir / MEMO_FILE).write_text(
        f'{{"{schema.digest}": "00000000000000aa"}}\n', encoding="utf-8"
    )
    assert (
        schema_fingerprint(other, schema, db=lambda: Run(other).db) == "00000000000000aa"
    )  # read, not rebuilt


async def test_a_server_that_refuses_createdb_is_one_line_saying_so(
    pg: PrivateServer, pg_config: Config, tmp_path: Path
) -> None:
    admin_url = with_database(pg.url, "postgres")
    async with connection(admin_url) as admin:
        await admin.execute("DROP ROLE IF EXISTS perfkit_nocreatedb")
        await admin.execute("CREATE ROLE perfkit_nocreatedb LOGIN PASSWORD 'pw' NOCREATEDB")
    try:
        parsed = parse_url(pg.url)
        host, port = parsed.hosts[0]
        url = make_url(
            user="perfkit_nocreatedb",
            password="pw",
            host=host,
            port=port or 5432,
            database="not_created_yet_test",
        )
        cfg = msgspec.structs.replace(own_state(pg_config, tmp_path / "state"), external_url=url)
        with pytest.raises(DatabaseEnvError, match="permission denied to create") as caught:
            schema_fingerprint(cfg, Schema(items_metadata()), db=lambda: Run(cfg).db)
        assert "needs CREATEDB" in caught.value.one_line()
        assert ":pw@" not in caught.value.one_line()
    finally:
        async with connection(admin_url) as admin:
            await admin.execute("DROP ROLE IF EXISTS perfkit_nocreatedb")


# -- SQL files ---------------------------------------------------------------------------------


async def test_a_sql_file_is_read_back_and_rebuilt_into_the_same_catalogue(
    pg: PrivateServer, pg_config: Config, tmp_path: Path, empty_db: str
) -> None:
    cfg = with_source(pg_config, tmp_path, SchemaSource(sql=EXAMPLE / "schema.sql"))
    schema = schema_from_source(cfg, db=Run(cfg).db)
    assert schema.tables == HOMECARE_TABLES  # parents first, as the models order them
    assert "alembic_version" not in schema.tables
    assert schema.serial_columns == (("review_cycles", "id"),)
    assert [name for name, _ in schema.enum_types] == [
        "caregiver_role",
        "document_kind",
        "review_status",
    ]
    # the cycle agencies <-> caregivers is broken at its deferrable key, as the models do
    late = [
        fk.name
        for t in schema.metadata.tables.values()
        for fk in t.foreign_key_constraints
        if fk.use_alter
    ]
    assert late == ["fk_agencies_created_by_caregivers"]
    # perfkit's own DDL for the tables read back builds what the file built
    rebuilt = await build(empty_db, schema)
    assert rebuilt.fingerprint == schema_fingerprint(cfg, schema, db=lambda: Run(cfg).db)
    assert await helper_databases(pg.url) == []


BAD_FILES = {
    "syntax": (
        "CREATE TABLE t (id integer PRIMARY KEY);\n\nCREATE TABLE u (id integr PRIMARY KEY);\n",
        r"'bad\.sql', line 3 \(CREATE TABLE u \(id \.\.\.\): UndefinedObjectError: type "
        r"\"integr\" does not exist",
    ),
    "parse": (  # PostgreSQL's parser cannot split it: sent whole, the server says where
        "CREATE TABLE t (id integer PRIMARY KEY);\n\nCREATE TABLE u (id integer,);\n",
        r"'bad\.sql', line 3: PostgresSyntaxError: syntax error at or near",
    ),
    "data": (
        "CREATE TABLE t (id integer PRIMARY KEY);\nCOPY public.t (id) FROM stdin;\n1\n\\.\n",
        r"holds data \(COPY \.\.\. FROM stdin\)",
    ),
    "empty": ("-- nothing here\n\n", "holds no statement"),
    "no tables": ("CREATE SEQUENCE s;\n", "built no table in schema public"),
    "unknown type": (
        "CREATE TYPE pair AS (a integer, b integer);\n"
        "CREATE TABLE t (id integer PRIMARY KEY, p pair);\n",
        r"cannot rebuild the type of t\.p",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
async def test_a_bad_sql_file_is_one_line_and_leaves_nothing(
    case: str, pg: PrivateServer, pg_config: Config, tmp_path: Path
) -> None:
    body, message = BAD_FILES[case]
    path = tmp_path / "bad.sql"
    path.write_text(body, encoding="utf-8")
    cfg = with_source(pg_config, tmp_path, SchemaSource(sql=path))
    with pytest.raises(ConfigError, match=message) as caught:
        schema_from_source(cfg, db=Run(cfg).db)
    assert "\n" not in caught.value.one_line()
    assert await helper_databases(pg.url) == []


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (("agencies", "ghosts"), r"builds no table\(s\) ghosts"),
        (("documents",), "not closed under foreign keys: documents.review_cycle_id"),
    ],
)
async def test_a_table_list_the_file_does_not_fit_is_named(
    tables: tuple[str, ...], message: str, pg: PrivateServer, pg_config: Config, tmp_path: Path
) -> None:
    source = SchemaSource(sql=EXAMPLE / "schema.sql", tables=tables)
    with pytest.raises(ConfigError, match=message):
        schema_from_source(
            with_source(pg_config, tmp_path, source),
            db=Run(with_source(pg_config, tmp_path, source)).db,
        )
    assert await helper_databases(pg.url) == []


async def test_every_kind_of_sequence_fed_key_is_read_back_and_rebuilt(
    pg: PrivateServer, pg_config: Config, tmp_path: Path, empty_db: str
) -> None:
    """Not only ``SERIAL``: an identity column, ``BIGSERIAL``, and a key whose ``nextval``
    default was set apart from its table (as pg_dump writes it) all get their sequences."""
    path = tmp_path / "keys.sql"
    path.write_text(
        "CREATE TABLE a (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);\n"
        "CREATE TABLE b (id bigserial PRIMARY KEY, a_id integer NOT NULL REFERENCES a);\n"
        "CREATE TABLE c (id integer NOT NULL, note text);\n"
        "CREATE SEQUENCE c_id_seq OWNED BY c.id;\n"
        "ALTER TABLE ONLY c ALTER COLUMN id SET DEFAULT nextval('c_id_seq'::regclass);\n"
        "ALTER TABLE ONLY c ADD CONSTRAINT c_pkey PRIMARY KEY (id);\n",
        encoding="utf-8",
    )
    cfg = with_source(pg_config, tmp_path, SchemaSource(sql=path))
    schema = schema_from_source(cfg, db=Run(cfg).db)
    assert sorted(schema.serial_columns) == [("a", "id"), ("b", "id"), ("c", "id")]
    rebuilt = await build(empty_db, schema)
    assert rebuilt.fingerprint == schema_fingerprint(cfg, schema, db=lambda: Run(cfg).db)


def test_psql_meta_commands_are_skipped(pg_config: Config, tmp_path: Path) -> None:
    path = tmp_path / "dump.sql"
    path.write_text(
        "\\restrict abc\nCREATE TABLE t (id integer PRIMARY KEY);\n\\unrestrict abc\n",
        encoding="utf-8",
    )
    schema = schema_from_source(
        with_source(pg_config, tmp_path, SchemaSource(sql=path)),
        db=Run(with_source(pg_config, tmp_path, SchemaSource(sql=path))).db,
    )
    assert schema.tables == ("t",)


# -- migrations --------------------------------------------------------------------------------


def migrations_cfg(pg_config: Config, tmp_path: Path, *command: str) -> Config:
    source = SchemaSource(migrations=MigrationsSource(command=command, cwd=tmp_path, timeout=60))
    cfg = with_source(pg_config, tmp_path, source)
    return msgspec.structs.replace(
        cfg, app=msgspec.structs.replace(cfg.app, database_env=("APP_DB_URL",))
    )


def test_migrations_run_on_a_scratch_database_named_by_the_apps_variable(
    pg: PrivateServer, pg_config: Config, tmp_path: Path
) -> None:
    script = (
        "import asyncio, os, asyncpg\n"
        "async def main():\n"
        "    url = os.environ['APP_DB_URL'].replace('postgresql+asyncpg', 'postgresql')\n"
        "    conn = await asyncpg.connect(url)\n"
        "    await conn.execute('CREATE TABLE alembic_version (version_num text PRIMARY KEY);"
        " CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL)')\n"
        "    await conn.close()\n"
        "asyncio.run(main())\n"
    )
    (tmp_path / "migrate.py").write_text(script, encoding="utf-8")
    schema = schema_from_source(
        migrations_cfg(pg_config, tmp_path, sys.executable, "migrate.py"),
        db=Run(migrations_cfg(pg_config, tmp_path, sys.executable, "migrate.py")).db,
    )
    assert schema.tables == ("things",)  # alembic's own table is not the application's
    assert schema.serial_columns == (("things", "id"),)


def test_failing_migrations_are_one_line_without_the_password(
    pg: PrivateServer, pg_config: Config, tmp_path: Path
) -> None:
    code = "import os, sys; sys.exit('cannot migrate ' + os.environ['APP_DB_URL'])"
    cfg = migrations_cfg(pg_config, tmp_path, sys.executable, "-c", code)
    with pytest.raises(ConfigError, match=r"failed \(exit 1\): cannot migrate postgresql") as e:
        schema_from_source(cfg, db=Run(cfg).db)
    password = password_of(pg.url)
    assert password and password not in str(e.value)
    with pytest.raises(ConfigError, match="command not found: 'no-such-migrator'"):
        schema_from_source(
            migrations_cfg(pg_config, tmp_path, "no-such-migrator"),
            db=Run(migrations_cfg(pg_config, tmp_path, "no-such-migrator")).db,
        )
    traceback = (
        "import sys; sys.stderr.write('Traceback (most recent call last):\\n  File x\\n"
        "sqlalchemy.exc.ProgrammingError: column is_mfa_enabled already exists\\n"
        "(Background on this error at: https://sqlalche.me/e/20/f405)\\n'); sys.exit(1)"
    )
    with pytest.raises(ConfigError, match=r"\(exit 1\): sqlalchemy.exc.ProgrammingError: column"):
        schema_from_source(
            migrations_cfg(pg_config, tmp_path, sys.executable, "-c", traceback),
            db=Run(migrations_cfg(pg_config, tmp_path, sys.executable, "-c", traceback)).db,
        )
    nowhere = migrations_cfg(pg_config, tmp_path / "no-such-folder", sys.executable, "-V")
    with pytest.raises(ConfigError, match=r"migrations\.cwd: not a folder: ") as refused:
        schema_from_source(nowhere, db=Run(nowhere).db)
    assert refused.value.key_path == "app.schema.migrations.cwd"
    cfg = msgspec.structs.replace(cfg, app=msgspec.structs.replace(cfg.app, database_env=()))
    with pytest.raises(ConfigError, match=r"app\.database_env: migrations need the database"):
        schema_from_source(cfg, db=Run(cfg).db)


# -- through invoke: the example's three sources -------------------------------------------------

#: Every table's constraints and indexes, and the columns' types and defaults, in plain SQL: what
#: the three sources must agree on, read without perfkit.
CATALOG_SQL = """
SELECT c.relname, 'column' AS kind, a.attname AS name,
       format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text
       || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS definition
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0
  AND c.relname <> 'perfkit_dataset'
UNION ALL
SELECT c.relname, 'constraint', k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relnamespace = 'public'::regnamespace AND c.relname <> 'perfkit_dataset'
UNION ALL
SELECT tablename, 'index', indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename <> 'perfkit_dataset'
ORDER BY 1, 2, 3
"""


def source_config(tmp_path: Path, name: str, source: dict[str, object]) -> Path:
    """The example's scales.yaml with schema source ``source``, paths made absolute."""
    raw = yaml.safe_load((EXAMPLE / "scales.yaml").read_text(encoding="utf-8"))
    raw["app"]["import_root"] = str(EXAMPLE)
    raw["app"]["requirements"] = str(EXAMPLE / "requirements.txt")
    raw["app"]["schema"] = source
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


async def test_models_a_sql_file_and_migrations_build_one_schema_with_one_fingerprint(
    pg: PrivateServer, tmp_path: Path
) -> None:
    sql = tmp_path / "schema.sql"
    shutil.copy(EXAMPLE / "schema.sql", sql)
    sources: dict[str, dict[str, object]] = {
        "models": {"metadata": "homecare.models:metadata"},
        "sql": {"sql": str(sql)},
        "migrations": {"migrations": {"command": ["alembic", "upgrade", "head"]}},
    }
    env_of: dict[str, dict[str, str]] = {}
    fingerprints, catalogs = {}, {}
    for name, source in sources.items():
        async with scratch_database(pg.url, f"homecare_{name}_test", perfkit_made=True) as url:
            env = {
                "PERFKIT_CONFIG": str(source_config(tmp_path, name, source)),
                "TEST_DATABASE_URL": url,
                "PERFKIT_STATE_DIR": str(tmp_path / "state"),
                "PERFKIT_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
            }
            env_of[name] = env
            done = run_perfkit("seed", "--scale", "small", cwd=ROOT, env=env)
            assert done.returncode == 0, f"{name}: {done.stdout[-2000:]}{done.stderr}"
            async with connection(url) as conn:
                fingerprints[name] = await conn.fetchval(
                    "SELECT schema_fingerprint FROM perfkit_dataset"
                )
                catalogs[name] = [tuple(r) for r in await conn.fetch(CATALOG_SQL)]
            if name == "models":  # a snapshot made from the models...
                done = run_perfkit("snapshot", "--scale", "small", cwd=ROOT, env=env)
                assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert fingerprints["sql"] == fingerprints["models"] == fingerprints["migrations"]
    assert catalogs["sql"] == catalogs["models"] == catalogs["migrations"]
    assert {name for _, kind, name, _ in catalogs["models"] if kind == "constraint"} >= {
        "fk_agencies_created_by_caregivers",
        "ck_documents_signed_has_date",
    }
    assert await helper_databases(pg.url) == []

    async with scratch_database(pg.url, "homecare_sql_test", perfkit_made=True) as url:
        env = env_of["sql"] | {"TEST_DATABASE_URL": url}
        # ... restores where the schema comes from the SQL file
        done = run_perfkit("restore", "--scale", "small", "--method", "file", cwd=ROOT, env=env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        async with connection(url) as conn:
            assert await conn.fetchval("SELECT count(*) FROM documents") > 0

        # a changed file is another schema: the snapshot is stale, the data another dataset
        sql.write_text(
            sql.read_text(encoding="utf-8")
            + "\nCREATE INDEX ix_documents_uploaded_on ON public.documents (uploaded_on);\n",
            encoding="utf-8",
        )
        done = run_perfkit("restore", "--scale", "small", "--method", "file", cwd=ROOT, env=env)
        assert done.returncode != 0
        assert f"was made for schema {fingerprints['sql']}, but the current" in done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        done = run_perfkit("seed", "--scale", "small", cwd=ROOT, env=env)
        assert done.returncode != 0
        assert f"made for schema {fingerprints['sql']}; the schema is now" in done.stdout + (
            done.stderr
        )
        done = run_perfkit("seed", "--scale", "small", "--reset", cwd=ROOT, env=env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        async with connection(url) as conn:
            assert await conn.fetchval(
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_documents_uploaded_on'"
            )
            assert (
                await conn.fetchval("SELECT schema_fingerprint FROM perfkit_dataset")
                != fingerprints["sql"]
            )
    assert await helper_databases(pg.url) == []

    # the listing builds nothing: with the models' fingerprint remembered it says "fits"; with
    # none remembered, "unknown (not built yet)", even with no server to build on (a process of
    # its own: this one remembers the builds above)
    dead = env_of["models"] | {"TEST_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/homecare_test"}
    for remembered, fit in ((True, "fits"), (False, "unknown (not built yet)")):
        if not remembered:  # the example's data is inferred: its captures are remembered
            shutil.rmtree(tmp_path / "state" / CAPTURES_DIR)
        done = run_perfkit_process("snapshots", cwd=ROOT, env=dead)  # plain text: never cut
        assert done.returncode == 0, done.stderr
        listing = done.stdout  # the table: results go to stdout
        assert "small" in listing and fit in listing, listing


def test_two_schema_sources_at_once_are_refused(tmp_path: Path) -> None:
    path = source_config(
        tmp_path, "both", {"metadata": "homecare.models:metadata", "sql": "schema.sql"}
    )
    done = run_perfkit("seed", "--scale", "small", cwd=ROOT, env={"PERFKIT_CONFIG": str(path)})
    assert done.returncode == 2
    assert "app.schema: give one schema source, not metadata and sql" in done.stderr
    assert "Traceback" not in done.stderr
