"""A schema source is the application's code: what it may reach, on the private server.

Migrations get a scrubbed environment: whatever the caller's ``DATABASE_URL``, ``PG*``
variables or ``app.env`` name, the command reaches only its scratch database (or is refused,
naming the variable). A SQL file and migrations run as a role perfkit makes for the build, not
a superuser: roles, tablespaces, ``ALTER SYSTEM``, settings and comments on other databases
(perfkit's own marker on ``postgres``), untrusted extensions and ``COPY ... TO PROGRAM`` are
refused in one line naming the statement and its line, and the cluster is left as it was;
trusted extensions still install. A killed build's role and database are removed by the next
build and by ``perfkit prune``. Listing, verifying and pruning snapshots never run the source.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import stat
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
import zstandard

from perfkit.config import Config, MigrationsSource, SchemaSource
from perfkit.database import Database
from perfkit.db import connection
from perfkit.ddl.source import capture_source
from perfkit.env.base import CREATED_BY_PERFKIT
from perfkit.errors import ConfigError
from perfkit.migrations_env import MigrationsEnvError
from perfkit.run import Run
from perfkit.schema_sandbox import BuildRoleError
from perfkit.schema_scripts import SchemaSourceError
from perfkit.schema_source import SOURCES_MEMO_FILE, schema_fingerprint, schema_from_source
from perfkit.snapshot.fileformat import file_digest
from perfkit.snapshot.listing import list_snapshots, verify_snapshots
from perfkit.snapshot.manifest import Manifest, TableFile
from perfkit.snapshot.prune import prune
from perfkit.snapshot.store import SnapshotStore, new_snapshot_id
from perfkit.testing import PrivateServer, scratch_database
from perfkit.urls import parse_url, password_of, with_database, with_driver

pytestmark = pytest.mark.integration

#: The test database the configurations below name (scratch databases are its helpers).
TARGET = "confinement_test"


def source_cfg(pg: PrivateServer, tmp_path: Path, source: SchemaSource, **app: object) -> Config:
    """The private server's config with schema source ``source`` and a state folder of its
    own, reaching the server by URL (as an external one would be)."""
    cfg = pg.cfg
    database = msgspec.structs.replace(cfg.database, backend="external")
    return msgspec.structs.replace(
        cfg,
        database=database,
        external_url=with_database(pg.url, TARGET),
        state_dir=tmp_path / "state",
        snapshots=msgspec.structs.replace(cfg.snapshots, directory=tmp_path / "snapshots"),
        app=msgspec.structs.replace(cfg.app, schema=source, **app),
    )


def sql_cfg(pg: PrivateServer, tmp_path: Path, body: str) -> Config:
    path = tmp_path / "schema.sql"
    path.write_text(body, encoding="utf-8")
    return source_cfg(pg, tmp_path, SchemaSource(sql=path))


def migrations_cfg(
    pg: PrivateServer, tmp_path: Path, *command: str, env: dict[str, str] | None = None
) -> Config:
    source = SchemaSource(migrations=MigrationsSource(command=command, cwd=tmp_path, timeout=60))
    return source_cfg(pg, tmp_path, source, database_env=("APP_DB_URL",), env=env or {})


async def admin_fetchval(pg: PrivateServer, sql: str, *args: object) -> object:
    async with connection(with_database(pg.url, "postgres")) as conn:
        return await conn.fetchval(sql, *args)


async def leftovers(pg: PrivateServer) -> tuple[list[str], list[str]]:
    """(scratch databases, build roles) that still exist on the server."""
    async with connection(with_database(pg.url, "postgres")) as conn:
        databases = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE '%\\_\\_pksch\\_%'"
        )
        roles = await conn.fetch(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE '%\\_\\_pksch\\_%'"
        )
    return [str(r[0]) for r in databases], [str(r[0]) for r in roles]


async def public_tables(url: str) -> list[str]:
    async with connection(url) as conn:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(str(r[0]) for r in rows)


@pytest.fixture(scope="module")
async def other_db(pg: PrivateServer) -> AsyncIterator[str]:
    """Another real database on the server: what a stray variable names (one for the module:
    each test leaves it empty)."""
    async with scratch_database(pg.url, "bystander_test") as url:
        yield url


# -- item 2: migrations see nothing of the caller's that names a database ------------------------


def alembic_project(root: Path, variable: str) -> None:
    """A tiny alembic project in ``root`` whose env.py reads ``variable``."""
    (root / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s\npath_separator = os\n", encoding="utf-8"
    )
    (root / "env.py").write_text(
        textwrap.dedent(
            f"""\
            import os
            from alembic import context
            from sqlalchemy import create_engine, pool

            engine = create_engine(os.environ[{variable!r}], poolclass=pool.NullPool)
            with engine.connect() as connection:
                context.configure(connection=connection, target_metadata=None)
                with context.begin_transaction():
                    context.run_migrations()
            """
        ),
        encoding="utf-8",
    )
    (root / "script.py.mako").write_text("", encoding="utf-8")
    (root / "versions" / "0001_widgets.py").write_text(
        textwrap.dedent(
            """\
            from alembic import op
            import sqlalchemy as sa

            revision = "0001"
            down_revision = None
            branch_labels = None
            depends_on = None

            def upgrade():
                op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))

            def downgrade():
                op.drop_table("widgets")
            """
        ),
        encoding="utf-8",
    )


async def test_alembic_reading_database_url_migrates_the_scratch_not_the_callers_database(
    pg: PrivateServer, tmp_path: Path, other_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """env.py reads DATABASE_URL, which app.database_env does not list; the caller's points at
    another real database. That database stays untouched; the scratch one is migrated."""
    alembic_project(tmp_path, "DATABASE_URL")
    monkeypatch.setenv("DATABASE_URL", with_driver(other_db, "psycopg"))
    cfg = migrations_cfg(pg, tmp_path, "alembic", "upgrade", "head")
    schema = schema_from_source(cfg, db=Run(cfg).db)
    assert schema.tables == ("widgets",)
    assert await public_tables(other_db) == []
    assert await leftovers(pg) == ([], [])


async def test_libpq_variables_and_app_env_urls_reach_only_the_scratch_database(
    pg: PrivateServer, tmp_path: Path, other_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's PGHOST/PGDATABASE/PGUSER/PGPASSWORD name another database; app.env holds a
    URL and a libpq keyword string naming it too. A script that connects by libpq's defaults,
    and by each of those, creates its table in the scratch database only, as a role that is not
    a superuser."""
    other = parse_url(other_db)
    host, port = other.hosts[0]
    for name, value in {
        "PGHOST": host,
        "PGPORT": str(port),
        "PGUSER": other.user or "",
        "PGPASSWORD": other.password or "",
        "PGDATABASE": "bystander_test",
        "PGSERVICE": "nowhere",
    }.items():
        monkeypatch.setenv(name, value)
    dsn = f"host={host} port={port} dbname=bystander_test user={other.user}"
    script = textwrap.dedent(
        """\
        import os, sys, psycopg
        names = set()
        for conninfo in ("", os.environ["REPORTING_URL"], os.environ["REPORTING_DSN"]):
            with psycopg.connect(conninfo, autocommit=True) as conn:
                name, su = conn.execute(
                    "SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
                if su:
                    sys.exit("ran as a superuser")
                names.add(name)
                conn.execute("CREATE TABLE IF NOT EXISTS things (id integer PRIMARY KEY)")
        print(names)
        """
    )
    (tmp_path / "migrate.py").write_text(script, encoding="utf-8")
    env = {"REPORTING_URL": other_db, "REPORTING_DSN": dsn}
    cfg = migrations_cfg(pg, tmp_path, sys.executable, "migrate.py", env=env)
    assert schema_from_source(cfg, db=Run(cfg).db).tables == ("things",)
    assert await public_tables(other_db) == []


def test_a_database_url_perfkit_cannot_read_is_refused_naming_its_variable(
    pg: PrivateServer, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w')"
    # a password with a bare '@' and '/': libpq and Python read another host from it
    env = {"LEGACY_DB": "postgresql://app:p@ss/word@db.example:5432/shop"}
    cfg = migrations_cfg(pg, tmp_path, sys.executable, "-c", code, env=env)
    with pytest.raises(MigrationsEnvError) as caught:
        schema_from_source(cfg, db=Run(cfg).db)
    assert caught.value.variable == "LEGACY_DB"
    assert "p@ss" not in caught.value.one_line()
    assert not marker.exists()


async def test_migrations_that_build_nothing_say_which_database_they_were_given(
    pg: PrivateServer, tmp_path: Path
) -> None:
    cfg = migrations_cfg(pg, tmp_path, sys.executable, "-c", "pass")
    with pytest.raises(SchemaSourceError) as caught:
        schema_from_source(cfg, db=Run(cfg).db)
    error = caught.value
    assert error.database is not None and error.database.startswith(TARGET + "__pksch_")
    assert error.database in error.one_line()
    assert "APP_DB_URL" in error.one_line() and "\n" not in error.one_line()
    assert await leftovers(pg) == ([], [])


# -- listing, verifying and pruning never run the schema source ------------------------------------


def publish_snapshot(cfg: Config, *, fingerprint: str, tables: tuple[str, ...]) -> None:
    """A signed snapshot of ``tables`` (data files that are not real COPY: never restored)."""
    store = SnapshotStore(cfg.snapshots.directory, key_file=cfg.state_dir / "snapshot.key")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    snapshot_id = new_snapshot_id(now)
    rows = b"PGCOPY\n\xff\r\n\x00" + b"r" * 100
    with store.building("small", snapshot_id) as builder:
        files = []
        for table in (*tables, "perfkit_dataset"):
            path = builder.dir / f"{table}.copy.zst"
            path.write_bytes(zstandard.ZstdCompressor().compress(rows))
            size, sha = file_digest(path)
            files.append(TableFile(table, path.name, 1, size, len(rows), sha))
        builder.publish(
            Manifest(
                id=snapshot_id,
                scale="small",
                seed=cfg.data.seed,
                mode=cfg.data.mode,
                generator_version=1,
                anchor_date=now.date(),
                schema_fingerprint=fingerprint,
                dataset_key="0123456789abcdef",
                server_version="15",
                perfkit_version="0.1.0",
                created_at=now,
                dataset_created_at=now,
                tables=tuple(files),
                shape={},
            )
        )


@pytest.fixture
def migrations_leaving_a_trace(pg: PrivateServer, tmp_path: Path) -> Iterator[tuple[Config, Path]]:
    """Migrations that build one table and leave a file each time they run."""
    trace = tmp_path / "migrations-ran"
    script = textwrap.dedent(
        f"""\
        import asyncio, os, asyncpg
        open({str(trace)!r}, "a").write("ran\\n")
        async def main():
            url = os.environ["APP_DB_URL"].replace("postgresql+asyncpg", "postgresql")
            conn = await asyncpg.connect(url)
            await conn.execute("CREATE TABLE offices (id integer PRIMARY KEY)")
            await conn.close()
        asyncio.run(main())
        """
    )
    (tmp_path / "migrate.py").write_text(script, encoding="utf-8")
    yield migrations_cfg(pg, tmp_path, sys.executable, "migrate.py"), trace


async def test_listing_verifying_and_pruning_never_run_the_migrations(
    pg: PrivateServer, migrations_leaving_a_trace: tuple[Config, Path]
) -> None:
    cfg, trace = migrations_leaving_a_trace
    publish_snapshot(cfg, fingerprint="0123456789abcdef", tables=("offices",))
    (row,) = list_snapshots(Run(cfg))
    assert row.fits_schema is None  # not built yet: unknown, and nothing was run to know
    (checked,) = verify_snapshots(Run(cfg))
    assert checked.ok and checked.note
    await prune(Run(cfg, db=pg.url), dry_run=True)
    assert not trace.exists()

    # once a command built it, the fingerprint it remembered is what they compare with
    schema = schema_from_source(cfg, db=Run(cfg).db)
    trace.unlink()
    memo = json.loads((cfg.state_dir / SOURCES_MEMO_FILE).read_text(encoding="utf-8"))
    assert [entry["tables"] for entry in memo.values()] == [["offices"]]
    publish_snapshot(
        cfg,
        fingerprint=schema_fingerprint(cfg, schema, db=lambda: Run(cfg).db),
        tables=schema.tables,
    )
    fits = sorted(bool(row.fits_schema) for row in list_snapshots(Run(cfg)))
    assert fits == [False, True]
    verified = sorted(v.ok for v in verify_snapshots(Run(cfg)))
    assert verified == [False, True]  # the other one is stale
    await prune(Run(cfg, db=pg.url))
    assert not trace.exists()


# -- item 3: a SQL file runs as a role of its own, not a superuser ---------------------------------

#: Statements a schema file must not get away with: (statement, how it starts).
HOSTILE = {
    "superuser role": ("CREATE ROLE {name} SUPERUSER LOGIN", "CREATE ROLE"),
    "marker on postgres": (f"COMMENT ON DATABASE postgres IS '{CREATED_BY_PERFKIT}'", "COMMENT ON"),
    "marker on another database": (
        f"COMMENT ON DATABASE bystander_test IS '{CREATED_BY_PERFKIT}'",
        "COMMENT ON",
    ),
    "program": ("COPY (SELECT 1) TO PROGRAM 'touch {trace}'", "COPY (SELECT"),
    "alter system": ("ALTER SYSTEM SET work_mem = '77MB'", "ALTER SYSTEM"),
    "tablespace": ("CREATE TABLESPACE {name} LOCATION '{folder}'", "CREATE TABLESPACE"),
    "settings of another database": (
        "ALTER DATABASE postgres SET work_mem = '77MB'",
        "ALTER DATABASE",
    ),
    "a database": ("CREATE DATABASE {name}", "CREATE DATABASE"),
    "untrusted extension": ("CREATE EXTENSION dblink", "CREATE EXTENSION"),
}


@pytest.fixture
def world_writable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty folder the server's account may write in (where ``TO PROGRAM`` would)."""
    folder = Path("/tmp") / f"perfkit_confinement_{secrets.token_hex(4)}"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777 | stat.S_ISVTX)
    yield folder
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_schema_file_cannot_reach_beyond_its_scratch_database(
    case: str, pg: PrivateServer, tmp_path: Path, other_db: str, world_writable: Path
) -> None:
    name = f"perfkit_evil_{secrets.token_hex(3)}"
    trace = world_writable / "touched"
    statement, starts = HOSTILE[case]
    statement = statement.format(name=name, trace=trace, folder=world_writable)
    cfg = sql_cfg(
        pg, tmp_path, f"CREATE TABLE t (id integer PRIMARY KEY);\n-- then:\n\n{statement};\n"
    )
    comments = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1"
    settings = "SELECT count(*) FROM pg_db_role_setting WHERE setdatabase <> 0"
    before = [await admin_fetchval(pg, comments, db) for db in ("postgres", "bystander_test")]
    settings_before = await admin_fetchval(pg, settings)
    try:
        with pytest.raises(SchemaSourceError) as caught:
            schema_from_source(cfg, db=Run(cfg).db)
        error = caught.value
        assert (error.line, error.sqlstate) == (4, "42501")
        assert error.statement is not None and error.statement.startswith(starts)
        assert "line 4" in error.one_line() and "\n" not in error.one_line()
    finally:  # what today's superuser build leaves behind, undone for the other tests
        async with connection(with_database(pg.url, "postgres")) as admin:
            await admin.execute(f"DROP ROLE IF EXISTS {name}")
            await admin.execute(f"DROP DATABASE IF EXISTS {name}")
            await admin.execute(f"DROP TABLESPACE IF EXISTS {name}")
            await admin.execute("ALTER SYSTEM RESET work_mem")
            await admin.execute("ALTER DATABASE postgres RESET work_mem")
            after = [await admin.fetchval(comments, db) for db in ("postgres", "bystander_test")]
            for db, comment in zip(("postgres", "bystander_test"), before, strict=True):
                literal = "NULL" if comment is None else "'" + str(comment).replace("'", "''") + "'"
                await admin.execute(f"COMMENT ON DATABASE {db} IS {literal}")
    assert after == before  # no marker written on a database perfkit did not create
    assert await admin_fetchval(pg, "SELECT count(*) FROM pg_roles WHERE rolname = $1", name) == 0
    assert await admin_fetchval(pg, settings) == settings_before
    assert not trace.exists()
    assert (
        await admin_fetchval(
            pg, "SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem' AND setting = '77MB'"
        )
        == 0
    )
    assert await leftovers(pg) == ([], [])


async def test_trusted_extensions_still_install(pg: PrivateServer, tmp_path: Path) -> None:
    cfg = sql_cfg(
        pg,
        tmp_path,
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;\n"
        "CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;\n"
        "COMMENT ON SCHEMA public IS 'standard public schema';\n"
        "CREATE TABLE docs (id integer PRIMARY KEY, title text NOT NULL, tag public.citext);\n"
        "CREATE INDEX ix_docs_title_trgm ON docs USING gin (title public.gin_trgm_ops);\n"
        "CREATE INDEX CONCURRENTLY ix_docs_tag ON docs (tag);\n",  # one statement at a time
    )
    schema = schema_from_source(cfg, db=Run(cfg).db)
    assert schema.tables == ("docs",)
    assert {index.name for index in schema.metadata.tables["docs"].indexes} == {
        "ix_docs_title_trgm",
        "ix_docs_tag",
    }
    assert await leftovers(pg) == ([], [])


async def test_the_file_runs_as_a_role_that_is_not_a_superuser(
    pg: PrivateServer, tmp_path: Path
) -> None:
    """It may set its own role's and its database's settings: both go with the build."""
    cfg = sql_cfg(
        pg,
        tmp_path,
        "CREATE TABLE t (id integer PRIMARY KEY);\n"
        "DO $$ BEGIN\n"
        "  IF (SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls\n"
        "      FROM pg_roles WHERE rolname = current_user) THEN\n"
        "    RAISE EXCEPTION 'privileged: %', current_user USING ERRCODE = '42501';\n"
        "  END IF;\n"
        "  EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '77MB');\n"
        "END $$;\n"
        "ALTER ROLE CURRENT_USER SET work_mem = '77MB';\n",
    )
    settings = "SELECT count(*) FROM pg_db_role_setting"
    before = await admin_fetchval(pg, settings)
    assert schema_from_source(cfg, db=Run(cfg).db).tables == ("t",)
    assert await admin_fetchval(pg, settings) == before


async def test_a_killed_builds_role_and_database_are_removed_by_the_next_build_and_by_prune(
    pg: PrivateServer, tmp_path: Path
) -> None:
    cfg = sql_cfg(pg, tmp_path, "CREATE TABLE t (id integer PRIMARY KEY);\n")
    mark = "created by perfkit: schema build role"

    async def killed_build(suffix: str) -> str:
        name = f"{TARGET}__pksch_{suffix}"
        async with Database(pg.url).admin() as admin:
            await admin.create_empty(name)
            await admin.conn.execute(f"CREATE ROLE {name} LOGIN")
            await admin.conn.execute(f"COMMENT ON ROLE {name} IS '{mark}'")
            await admin.conn.execute(f"ALTER DATABASE {name} OWNER TO {name}")
        return name

    async with Database(pg.url).admin() as admin:  # not perfkit's: shaped alike, no mark
        await admin.conn.execute(f"CREATE ROLE {TARGET}__pksch_0000aa")
    try:
        first = await killed_build("00000a")
        assert schema_from_source(cfg, db=Run(cfg).db).tables == ("t",)
        assert first not in (await leftovers(pg))[1]
        second = await killed_build("00000b")
        report = await prune(Run(cfg, db=pg.url))
        assert second in report.databases and second in report.roles
        assert await leftovers(pg) == ([], [f"{TARGET}__pksch_0000aa"])
    finally:
        async with Database(pg.url).admin() as admin:
            for name in (f"{TARGET}__pksch_00000a", f"{TARGET}__pksch_00000b"):
                await admin.drop(name)
                await admin.conn.execute(f"DROP ROLE IF EXISTS {name}")
            await admin.conn.execute(f"DROP ROLE IF EXISTS {TARGET}__pksch_0000aa")


def test_the_password_of_the_build_role_never_shows(pg: PrivateServer, tmp_path: Path) -> None:
    code = "import os, sys; sys.exit('cannot migrate ' + os.environ['APP_DB_URL'])"
    cfg = migrations_cfg(pg, tmp_path, sys.executable, "-c", code)
    with pytest.raises(ConfigError) as caught:
        schema_from_source(cfg, db=Run(cfg).db)
    line = caught.value.one_line()
    assert "cannot migrate postgresql" in line and ":***@" in line
    assert str(password_of(pg.url)) not in line
    assert "PGPASSWORD" not in os.environ or os.environ["PGPASSWORD"] not in line


@pytest.mark.parametrize("privileges", ["CREATEDB CREATEROLE", "CREATEDB"])
async def test_a_server_user_that_is_not_a_superuser_needs_createrole(
    privileges: str, pg: PrivateServer, tmp_path: Path
) -> None:
    """An external server's user with CREATEDB and CREATEROLE builds a SQL file (as a build
    role it hands the scratch database to); with CREATEDB alone it is one line saying what is
    missing, and nothing is left behind."""
    user = f"perfkit_admin_{secrets.token_hex(3)}"
    async with Database(pg.url).admin() as admin:
        await admin.conn.execute(f"CREATE ROLE {user} LOGIN {privileges} PASSWORD 'pw'")
    try:
        host, port = parse_url(pg.url).hosts[0]
        cfg = msgspec.structs.replace(
            sql_cfg(pg, tmp_path, "CREATE TABLE t (id integer PRIMARY KEY);\n"),
            external_url=f"postgresql://{user}:pw@{host}:{port}/{TARGET}",
        )
        if "CREATEROLE" in privileges:
            assert schema_from_source(cfg, db=Run(cfg).db).tables == ("t",)
        else:
            with pytest.raises(BuildRoleError) as caught:
                schema_from_source(cfg, db=Run(cfg).db)
            assert "CREATEROLE" in caught.value.one_line() and ":pw@" not in str(caught.value)
        assert await leftovers(pg) == ([], [])
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.conn.execute(f"DROP ROLE IF EXISTS {user}")


async def test_objects_the_build_role_made_in_another_database_are_reported(
    pg: PrivateServer, tmp_path: Path, other_db: str
) -> None:
    """Where another database lets everyone create in ``public`` (PostgreSQL 14 and older do
    by default), migrations that connect there by name can leave a table owned by the build
    role: the build fails naming the role and that database, instead of passing silently."""
    async with connection(other_db) as conn:
        await conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    script = textwrap.dedent(
        """\
        import psycopg
        for dbname in ("bystander_test", ""):
            with psycopg.connect(f"dbname={dbname}" if dbname else "", autocommit=True) as c:
                c.execute("CREATE TABLE things (id integer PRIMARY KEY)")
        """
    )
    (tmp_path / "migrate.py").write_text(script, encoding="utf-8")
    cfg = migrations_cfg(pg, tmp_path, sys.executable, "migrate.py")
    with pytest.raises(ConfigError, match="outside its scratch database") as caught:
        schema_from_source(cfg, db=Run(cfg).db)
    assert "bystander_test" in caught.value.one_line()
    (role,) = (await leftovers(pg))[1]
    async with connection(other_db) as conn:
        assert (
            await conn.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'things'")
            == role
        )
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    async with Database(pg.url).admin() as admin:
        await admin.conn.execute(f"DROP ROLE {role}")


async def test_concurrent_builds_of_one_test_database_never_take_each_others_database(
    pg: PrivateServer, tmp_path: Path
) -> None:
    """Each build first removes the leftovers of killed ones: a build that has just made its
    database must not look like one (pytest-xdist workers load the application at once)."""
    cfg = sql_cfg(pg, tmp_path, "CREATE TABLE t (id integer PRIMARY KEY);\n")
    db = Run(cfg).db
    built = await asyncio.gather(
        *(asyncio.to_thread(schema_from_source, cfg, db=db) for _ in range(4))
    )
    assert [schema.tables for schema in built] == [("t",)] * 4
    assert await leftovers(pg) == ([], [])


async def test_a_leftover_an_interrupted_drop_left_invalid_is_removed_too(
    pg: PrivateServer, tmp_path: Path
) -> None:
    """A ``DROP DATABASE`` cut short leaves the database invalid (PostgreSQL 15.4 and later),
    and ``ALTER DATABASE`` on it ends the session: the next build still removes it."""
    cfg = sql_cfg(pg, tmp_path, "CREATE TABLE t (id integer PRIMARY KEY);\n")
    name = f"{TARGET}__pksch_00000c"
    async with Database(pg.url).admin() as admin:
        await admin.create_empty(name)
        await admin.conn.execute(
            "UPDATE pg_database SET datconnlimit = -2 WHERE datname = $1", name
        )  # what an interrupted DROP DATABASE leaves
    try:
        assert schema_from_source(cfg, db=Run(cfg).db).tables == ("t",)
        assert await leftovers(pg) == ([], [])
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.conn.execute(f"DROP DATABASE IF EXISTS {name}")


async def test_the_catalogue_capture_runs_a_schema_file_as_the_build_role_too(
    pg: PrivateServer, tmp_path: Path
) -> None:
    """``perfkit seed`` without a recipe captures the schema as its source builds it
    (:mod:`perfkit.ddl.source`): the same confinement holds there."""
    name = f"perfkit_evil_{secrets.token_hex(3)}"
    cfg = sql_cfg(pg, tmp_path, f"CREATE TABLE t (id integer PRIMARY KEY);\nCREATE ROLE {name};\n")
    try:
        with pytest.raises(SchemaSourceError) as caught:
            capture_source(cfg, db=Run(cfg).db)
        assert (caught.value.line, caught.value.sqlstate) == (2, "42501")
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.conn.execute(f"DROP ROLE IF EXISTS {name}")
    assert await admin_fetchval(pg, "SELECT count(*) FROM pg_roles WHERE rolname = $1", name) == 0
    assert await leftovers(pg) == ([], [])
