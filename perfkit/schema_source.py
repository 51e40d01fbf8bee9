"""An application's schema from its source, and the schema's fingerprint from the catalogue.

scales.yaml's ``app.schema`` names one source (:class:`perfkit.config.SchemaSource`):

``metadata``
    SQLAlchemy models, imported (:mod:`perfkit.app` does that). perfkit builds them with its own
    DDL (:class:`perfkit.schema.Schema`).
``sql``
    a SQL file, run in a *scratch database* on perfkit's server; the tables are then read back
    with SQLAlchemy's reflection into a ``MetaData``, from which perfkit builds them as for
    models. psql meta-commands (lines that start with a backslash, like pg_dump's
    ``\\restrict``) are skipped; data (``COPY ... FROM stdin``) is refused.
``migrations``
    a command (``alembic upgrade head``), run with the application's settings and its
    database variables pointing at a scratch database, then read back the same way.

The *fingerprint* that ties data to a schema comes from the catalogue of the schema as built
(:mod:`perfkit.catalog`): a SQL file and a chain of migrations are fingerprinted where they ran;
models are built once, in a throw-away schema of the test database inside a transaction that is
rolled back (or in a scratch database while there is no test database, or it is not one perfkit
may write tables into), and their fingerprint is remembered in the state folder under the
digest of the DDL perfkit runs (equal DDL builds equal catalogues). A seed reads the catalogue
of the tables it built too, so what a dataset records is what it holds.

A scratch database is a helper of the test database (``<test db>__pksch_<random>``), made
from ``template0`` and dropped afterwards; one a killed run leaves is removed like any helper.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import graphlib
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Connection, MetaData
from sqlalchemy.exc import SAWarning
from sqlalchemy.types import NullType

from perfkit.catalog import Catalog, read_catalog
from perfkit.config import Config
from perfkit.database import Database, helper_name
from perfkit.db import create_engine
from perfkit.errors import ConfigError, DatabaseEnvError, PerfkitError, UnsafeTargetError
from perfkit.safety import ensure_test_database
from perfkit.schema import DATASET_TABLE, Schema, SchemaError, quote_ident
from perfkit.text import clipped, quoted
from perfkit.urls import mask_text, with_driver

T = TypeVar("T")

#: Tables a schema source builds that are not the application's: alembic's bookkeeping and
#: perfkit's own dataset table.
NOT_APPLICATION_TABLES = frozenset({"alembic_version", DATASET_TABLE})
#: The schema models are built in, inside a transaction that is rolled back.
SCRATCH_SCHEMA_PREFIX = "perfkit_fingerprint_"
#: The file, in the state folder, that remembers the fingerprints of models' DDL.
MEMO_FILE = "schema-fingerprints.json"
_HEX16 = re.compile(r"[0-9a-f]{16}")


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` to its end from synchronous code, also when the calling
    thread already runs an event loop (the pytest plugin, a pipeline step): in a thread of its
    own, with a loop of its own."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="perfkit-schema") as pool:
        return pool.submit(asyncio.run, make()).result()


# -- where the schema is built -----------------------------------------------------------------


async def in_scratch_database(cfg: Config, build: Callable[[Database], Awaitable[T]]) -> T:
    """``build(scratch)`` on a new empty database on perfkit's server, dropped afterwards."""
    from perfkit.lifecycle import db_url

    target = Database(db_url(cfg))
    scratch = target.other(helper_name(target.name, "sch"))
    try:
        async with target.admin() as admin:
            await admin.create_empty(scratch.name)
    except DatabaseEnvError as exc:
        raise DatabaseEnvError(
            f"{exc.message} (perfkit builds the schema there to read it)",
            hint=exc.hint,
        ) from None
    except asyncpg.PostgresError as exc:  # no CREATEDB on an external server, say
        raise DatabaseEnvError(
            f"cannot create {scratch.name!r} to build the schema in: {type(exc).__name__}: "
            f"{clipped(str(exc), limit=160)}",
            hint="perfkit needs CREATEDB on this server, or (for models) a test database it "
            "may write tables into",
        ) from None
    try:
        return await build(scratch)
    finally:
        with contextlib.suppress(PerfkitError, OSError):
            async with target.admin() as admin:
                await admin.drop_quietly(scratch.name)


# -- SQL files and migrations ---------------------------------------------------------------------


def read_sql_file(path: Path, *, source: str) -> str:
    """The statements of a schema SQL file, psql meta-commands left out."""
    key = "app.schema.sql"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {quoted(str(path))}: {clipped(str(exc), limit=160)}",
            source=source,
            key_path=key,
        ) from None
    if re.search(r"^\s*COPY\b[^;]*\bFROM\s+stdin\b", text, re.IGNORECASE | re.MULTILINE):
        raise ConfigError(
            f"{quoted(path.name)} holds data (COPY ... FROM stdin), not only a schema",
            source=source,
            key_path=key,
            hint="dump the schema alone: pg_dump --schema-only --no-owner --no-privileges",
        )
    lines = text.splitlines()
    kept = ["" if line.lstrip().startswith("\\") else line for line in lines]
    if not any(line.strip() and not line.lstrip().startswith("--") for line in kept):
        raise ConfigError(f"{quoted(path.name)} holds no statement", source=source, key_path=key)
    return "\n".join(kept)


async def _run_sql_file(scratch: Database, cfg: Config) -> None:
    path = cfg.app.schema.sql
    assert path is not None  # the caller checked the kind
    script = read_sql_file(path, source=str(cfg.source))
    async with scratch.connect() as conn:
        try:
            await conn.execute(script)
        except asyncpg.PostgresError as exc:
            position = int(getattr(exc, "position", None) or 0)
            where = f" (line {script.count(chr(10), 0, position - 1) + 1})" if position else ""
            raise ConfigError(
                f"{quoted(path.name)}{where}: {type(exc).__name__}: "
                f"{clipped(str(exc).splitlines()[0], limit=200)}",
                source=str(cfg.source),
                key_path="app.schema.sql",
                hint="the file must build the schema in an empty database; pg_dump "
                "--schema-only --no-owner --no-privileges makes such a file",
            ) from None


async def _run_migrations(scratch: Database, cfg: Config) -> None:
    migrations = cfg.app.schema.migrations
    assert migrations is not None  # the caller checked the kind
    key = "app.schema.migrations"
    if not cfg.app.database_env:
        raise ConfigError(
            "migrations need the database variable they read",
            source=str(cfg.source),
            key_path="app.database_env",
            hint="list the variable(s) your migrations read the database URL from",
        )
    if migrations.cwd is not None and not migrations.cwd.is_dir():
        raise ConfigError(
            f"not a folder: {quoted(str(migrations.cwd))}",
            source=str(cfg.source),
            key_path=f"{key}.cwd",
            hint="the folder the command runs in (default: app.import_root)",
        )
    url = with_driver(scratch.url, cfg.app.driver)
    env = {**os.environ, **{k: v for k, v in cfg.app.env.items() if k not in os.environ}}
    env.update(dict.fromkeys(cfg.app.database_env, str(url)))
    # Tools installed beside perfkit are found even when its environment is not activated.
    search = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    command = [shutil.which(migrations.command[0], path=search) or migrations.command[0]]
    command += migrations.command[1:]
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            cwd=migrations.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=migrations.timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"command not found: {quoted(migrations.command[0])}",
            source=str(cfg.source),
            key_path=f"{key}.command",
            hint="install it in this environment (app.requirements) or give its path",
        ) from None
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"{quoted(' '.join(migrations.command))} ran over {migrations.timeout:g} s",
            source=str(cfg.source),
            key_path=f"{key}.timeout",
        ) from None
    if done.returncode != 0:
        last = mask_text(_telling_line(done.stderr or done.stdout or ""), str(url))
        raise ConfigError(
            f"{quoted(' '.join(migrations.command))} failed (exit {done.returncode}): "
            + clipped(last, limit=200),
            source=str(cfg.source),
            key_path=key,
            hint="they must build the schema in an empty database; run them by hand to see all",
        )


def _telling_line(output: str) -> str:
    """The line of a failed command's output that says what went wrong: the last one naming an
    error or exception (a Python traceback's last such line), else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    return (errors or lines or ["no output"])[-1]


_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|error)\b.*:|^(ERROR|FATAL)\b")


def break_cycles(metadata: MetaData) -> None:
    """Mark foreign keys that close a cycle between tables as created after the tables
    (``use_alter``), as models declare them: a deferrable one first, else by name. Reflection
    cannot know which of a cycle's keys the models marked."""
    tables = list(metadata.tables.values())
    while True:
        graph = {
            t.key: {
                fk.referred_table.key
                for fk in t.foreign_key_constraints
                if not fk.use_alter and fk.referred_table is not t
            }
            for t in tables
        }
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
            return
        except graphlib.CycleError as exc:
            cycle: list[str] = exc.args[1]
        edges = set(itertools.pairwise(cycle))  # (parent, child) pairs
        candidates = [
            fk
            for t in tables
            for fk in t.foreign_key_constraints
            if (fk.referred_table.key, t.key) in edges and not fk.use_alter
        ]
        chosen = min(candidates, key=lambda fk: (not fk.deferrable, fk.table.key, str(fk.name)))
        chosen.use_alter = True


async def _read_back(scratch: Database, cfg: Config) -> tuple[Schema, Catalog]:
    """The tables a SQL file or migrations built in ``scratch``, as a :class:`Schema`."""
    wanted = cfg.app.schema.tables
    async with scratch.connect() as conn:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    missing = sorted(set(wanted or ()) - {str(r["tablename"]) for r in rows})
    if missing:
        raise ConfigError(
            f"the schema source builds no table(s) {', '.join(missing)}",
            source=str(cfg.source),
            key_path="app.schema.tables",
        )
    metadata = MetaData()
    engine = create_engine(scratch.url, cfg.pool, pin=scratch.pin)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_reflect, metadata, wanted)
    except UnsafeTargetError:
        raise
    except Exception as exc:  # a table reflection cannot read: one line, not a traceback
        detail = mask_text(str(exc).splitlines()[0] if str(exc) else "")
        raise ConfigError(
            f"cannot read the schema back: {type(exc).__name__}: {clipped(detail, limit=200)}",
            source=str(cfg.source),
            key_path="app.schema",
        ) from None
    finally:
        await engine.dispose()
    if not metadata.tables:
        raise ConfigError(
            "the schema source built no table in schema public",
            source=str(cfg.source),
            key_path="app.schema",
        )
    unknown = [
        f"{table.name}.{column.name}"
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, NullType)
    ]
    if unknown:
        raise ConfigError(
            f"perfkit cannot rebuild the type of {', '.join(unknown[:3])}",
            source=str(cfg.source),
            key_path="app.schema",
            hint="leave the table out with app.schema.tables, or use app.schema.metadata",
        )
    break_cycles(metadata)
    try:
        schema = Schema(metadata, tables=wanted)
    except SchemaError as exc:
        raise ConfigError(str(exc), source=str(cfg.source), key_path="app.schema.tables") from None
    async with scratch.connect() as conn:
        catalog = await read_catalog(conn, "public", schema.tables)
    return schema, catalog


def _reflect(sync: Connection, metadata: MetaData, wanted: tuple[str, ...] | None) -> None:
    """Read the tables of ``public`` (``wanted``, else all but :data:`NOT_APPLICATION_TABLES`)
    into ``metadata``. A type reflection does not know becomes ``NullType`` (reported by the
    caller with the column's name) instead of a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        metadata.reflect(
            sync,
            schema=None,
            only=list(wanted)
            if wanted is not None
            else lambda name, _md: name not in NOT_APPLICATION_TABLES,
        )


def schema_from_source(cfg: Config) -> Schema:
    """The :class:`Schema` a SQL file or migrations build, with its catalogue's fingerprint
    remembered (see the module docstring). Needs perfkit's server."""
    run = _run_sql_file if cfg.app.schema.kind == "sql" else _run_migrations

    async def build(scratch: Database) -> tuple[Schema, Catalog]:
        await run(scratch, cfg)
        return await _read_back(scratch, cfg)

    schema, catalog = run_blocking(lambda: in_scratch_database(cfg, build))
    _FINGERPRINTS[(cfg.state_dir, schema.digest)] = catalog.fingerprint
    _SOURCE_BUILT[schema.digest] = catalog
    return schema


# -- fingerprints --------------------------------------------------------------------------------

#: Fingerprints known in this process, by state folder and :attr:`Schema.digest`.
_FINGERPRINTS: dict[tuple[Path, str], str] = {}
#: The catalogues of SQL files and migrations as they built them, by digest: a seed checks
#: that perfkit's own build of the tables read back gives the same.
_SOURCE_BUILT: dict[str, Catalog] = {}


def schema_fingerprint(cfg: Config, schema: Schema) -> str:
    """The fingerprint of ``schema`` as PostgreSQL builds it (see the module docstring)."""
    key = (cfg.state_dir, schema.digest)
    known = _FINGERPRINTS.get(key) or _read_memo(cfg).get(schema.digest)
    if known is None:
        known = run_blocking(lambda: _build_models(cfg, schema))
        remember_fingerprint(cfg, schema, known)
    _FINGERPRINTS[key] = known
    return known


async def _build_models(cfg: Config, schema: Schema) -> str:
    """Build ``schema`` where it costs least and read its fingerprint: in a throw-away schema
    of the test database, rolled back (when it exists and passes the safety rule for writing
    tables), else in a scratch database."""
    from perfkit.lifecycle import db_url

    target = Database(db_url(cfg))
    try:
        async with target.admin() as admin:
            usable = await admin.exists(target.name)
        if usable:
            async with target.connect() as conn:
                await ensure_test_database(conn, cfg)
                return await _fingerprint_rolled_back(conn, schema)
    except UnsafeTargetError:
        pass  # not a database perfkit may write tables into: build beside it instead

    async def in_scratch(scratch: Database) -> str:
        async with scratch.connect() as conn:
            return await _fingerprint_rolled_back(conn, schema)

    return await in_scratch_database(cfg, in_scratch)


async def _fingerprint_rolled_back(conn: asyncpg.Connection, schema: Schema) -> str:
    """Build ``schema`` in a new schema of ``conn``'s database, read its catalogue, and roll
    it all back."""
    where = SCRATCH_SCHEMA_PREFIX + secrets.token_hex(4)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(
            ";\n".join(
                [
                    f"CREATE SCHEMA {quote_ident(where)}",
                    f"SET LOCAL search_path = {quote_ident(where)}, public",
                    *schema.create_types_sql(where),
                    *schema.create_tables_sql(where),
                    *schema.post_load_sql(where),
                ]
            )
        )
        return (await read_catalog(conn, where, schema.tables)).fingerprint
    finally:
        await transaction.rollback()


def remember_fingerprint(cfg: Config, schema: Schema, fingerprint: str) -> None:
    """Remember ``fingerprint`` as ``schema``'s: its tables were just built and read."""
    _FINGERPRINTS[(cfg.state_dir, schema.digest)] = fingerprint
    memo = _read_memo(cfg)
    if memo.get(schema.digest) == fingerprint:
        return
    memo[schema.digest] = fingerprint
    path = cfg.state_dir / MEMO_FILE
    with contextlib.suppress(OSError):  # a memo only: without it the next command rebuilds
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{MEMO_FILE}.{os.getpid()}")
        partial.write_text(json.dumps(memo, sort_keys=True, indent=0) + "\n", encoding="utf-8")
        partial.replace(path)


def built_by_source(schema: Schema) -> Catalog | None:
    """The catalogue the schema's SQL file or migrations built (None for models)."""
    return _SOURCE_BUILT.get(schema.digest)


def _read_memo(cfg: Config) -> dict[str, str]:
    try:
        raw = json.loads((cfg.state_dir / MEMO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        k: v
        for k, v in raw.items()
        if isinstance(k, str) and isinstance(v, str) and _HEX16.fullmatch(k) and _HEX16.fullmatch(v)
    }
