"""An application's schema from its source, and the schema's fingerprint from the catalogue.

scales.yaml's ``app.schema`` names one source (:class:`perfkit.config.SchemaSource`):

``metadata``
    SQLAlchemy models, imported (:mod:`perfkit.app` does that). perfkit builds them with its own
    DDL (:class:`perfkit.schema.Schema`).
``sql``
    a SQL file, run statement by statement in a *scratch database* on perfkit's server as a
    role that is not a superuser (:mod:`perfkit.schema_sandbox`); the tables are then read back
    with SQLAlchemy's reflection into a ``MetaData``, from which perfkit builds them as for
    models. psql meta-commands (lines that start with a backslash, like pg_dump's
    ``\\restrict``) are skipped; data (``COPY ... FROM stdin``) is refused; a failing statement
    is one line naming its line and first words (:class:`SchemaSourceError`).
``migrations``
    a command (``alembic upgrade head``), run as that role in an environment that reaches
    only the scratch database (:mod:`perfkit.migrations_env`), then read back the same way.

The *fingerprint* that ties data to a schema comes from the catalogue of the schema as built
(:mod:`perfkit.catalog`): a SQL file and a chain of migrations are fingerprinted where they ran;
models are built once, in a throw-away schema of the test database inside a transaction that is
rolled back (or in a scratch database while there is no test database, or it is not one perfkit
may write tables into), and their fingerprint is remembered in the state folder under the
digest of the DDL perfkit runs (equal DDL builds equal catalogues). What a SQL file or
migrations built (fingerprint and tables) is remembered there too, under the digest of the
source (:func:`source_digest`), so commands that never build (listing, verifying, pruning
snapshots) read it: :func:`remembered_schema`. A seed reads the catalogue of the tables it
built too, so what a dataset records is what it holds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import graphlib
import hashlib
import itertools
import json
import secrets
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Connection, MetaData
from sqlalchemy.exc import SAWarning
from sqlalchemy.types import NullType

from perfkit.catalog import Catalog, read_catalog
from perfkit.config import Config
from perfkit.database import Database
from perfkit.db import create_engine
from perfkit.errors import ConfigError, UnsafeTargetError
from perfkit.safety import ensure_test_database
from perfkit.schema import DATASET_TABLE, Schema, SchemaError, quote_ident
from perfkit.schema_record import HEX16 as _HEX16
from perfkit.schema_record import MEMO_FILE as MEMO_FILE
from perfkit.schema_record import read_memo as _read_memo
from perfkit.schema_record import write_json as _write_json
from perfkit.schema_sandbox import in_scratch_database
from perfkit.text import clipped
from perfkit.urls import mask_text

T = TypeVar("T")

#: Tables a schema source builds that are not the application's: alembic's bookkeeping and
#: perfkit's own dataset table.
NOT_APPLICATION_TABLES = frozenset({"alembic_version", DATASET_TABLE})
#: The schema models are built in, inside a transaction that is rolled back.
SCRATCH_SCHEMA_PREFIX = "perfkit_fingerprint_"
#: The file, in the state folder, that remembers what SQL files and migrations built.
SOURCES_MEMO_FILE = "schema-sources.json"


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` to its end from synchronous code, also when the calling
    thread already runs an event loop (the pytest plugin, a pipeline step): in a thread of its
    own, with a loop of its own."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="perfkit-schema") as pool:
        return pool.submit(asyncio.run, make()).result()


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
        from perfkit.schema_scripts import built_nothing

        raise await built_nothing(scratch, cfg, {str(r["tablename"]) for r in rows})
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


def schema_from_source(cfg: Config, *, db: Database) -> Schema:
    """The :class:`Schema` a SQL file or migrations build, with its catalogue's fingerprint
    remembered (see the module docstring). Built in a scratch database beside ``db``
    (perfkit's test database)."""
    source = cfg.app.schema
    from perfkit.schema_scripts import run_migrations, run_sql_file  # pglast: only for these

    run = run_sql_file if source.kind == "sql" else run_migrations
    seconds = source.migrations.timeout if source.migrations is not None else 600.0

    async def build(scratch: Database) -> tuple[Schema, Catalog]:
        await run(scratch, cfg)
        return await _read_back(scratch, cfg)

    schema, catalog = run_blocking(
        lambda: in_scratch_database(cfg, build, db=db, as_build_role=True, seconds=seconds)
    )
    _FINGERPRINTS[(cfg.state_dir, schema.digest)] = catalog.fingerprint
    _SOURCE_BUILT[schema.digest] = catalog
    _remember_source(cfg, KnownSchema(catalog.fingerprint, schema.tables))
    return schema


# -- fingerprints --------------------------------------------------------------------------------

#: Fingerprints known in this process, by state folder and :attr:`Schema.digest`.
_FINGERPRINTS: dict[tuple[Path, str], str] = {}
#: The catalogues of SQL files and migrations as they built them, by digest: a seed checks
#: that perfkit's own build of the tables read back gives the same.
_SOURCE_BUILT: dict[str, Catalog] = {}


def schema_fingerprint(
    cfg: Config, schema: Schema, *, db: Database | Callable[[], Database]
) -> str:
    """The fingerprint of ``schema`` as PostgreSQL builds it (see the module docstring); when
    neither this process nor the state folder knows it, built on ``db``'s server (perfkit's
    test database; a callable giving it is called only then)."""
    key = (cfg.state_dir, schema.digest)
    known = _FINGERPRINTS.get(key) or _read_memo(cfg).get(schema.digest)
    if known is None:
        target = db if isinstance(db, Database) else db()
        known = run_blocking(lambda: _build_models(cfg, schema, target))
        remember_fingerprint(cfg, schema, known)
    _FINGERPRINTS[key] = known
    return known


async def _build_models(cfg: Config, schema: Schema, target: Database) -> str:
    """Build ``schema`` where it costs least and read its fingerprint: in a throw-away schema
    of the test database ``target``, rolled back (when it exists and passes the safety rule
    for writing tables), else in a scratch database beside it."""
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

    return await in_scratch_database(cfg, in_scratch, db=target)


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
    _write_json(cfg.state_dir / MEMO_FILE, memo)


# -- what the last build left, for commands that never build -------------------------------------


@dataclass(frozen=True)
class KnownSchema:
    """The application's schema as its last build left it in the state folder."""

    fingerprint: str
    #: The application's tables, parents first.
    tables: tuple[str, ...]

    @property
    def all_tables(self) -> tuple[str, ...]:
        """The tables a dataset of this schema holds: the application's and perfkit's own."""
        return (*self.tables, DATASET_TABLE)


#: What SQL files and migrations built in this process, by state folder and source digest.
_SOURCES: dict[tuple[Path, str], KnownSchema] = {}


def remembered_schema(cfg: Config, models: Schema | None = None) -> KnownSchema | None:
    """What the last build of the application's schema left in the state folder, without
    building anything; None when it was never built (with this source). ``models`` is the
    models' schema when ``app.schema`` names models (importing them builds nothing).

    For models and a SQL file the memo is exact: it is filed under the digest of the DDL or of
    the file. Migrations are filed under their command and folder: perfkit cannot know that a
    new revision was added without running them, so it is what they built last time."""
    if models is not None:
        key = (cfg.state_dir, models.digest)
        fingerprint = _FINGERPRINTS.get(key) or _read_memo(cfg).get(models.digest)
        return None if fingerprint is None else KnownSchema(fingerprint, models.tables)
    digest = source_digest(cfg)
    if digest is None:
        return None
    return _SOURCES.get((cfg.state_dir, digest)) or _read_sources_memo(cfg).get(digest)


def source_digest(cfg: Config) -> str | None:
    """The identity of ``app.schema`` when it is a SQL file (its bytes) or migrations (their
    command and folder), with its table list; None for models or a file that cannot be read."""
    source = cfg.app.schema
    parts: list[object]
    if source.sql is not None:
        try:
            parts = ["sql", hashlib.sha256(source.sql.read_bytes()).hexdigest()]
        except OSError:
            return None
    elif source.migrations is not None:
        cwd = source.migrations.cwd
        parts = ["migrations", list(source.migrations.command), None if cwd is None else str(cwd)]
    else:
        return None
    parts.append(None if source.tables is None else list(source.tables))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _remember_source(cfg: Config, known: KnownSchema) -> None:
    digest = source_digest(cfg)
    if digest is None:
        return
    _SOURCES[(cfg.state_dir, digest)] = known
    memo = _read_sources_memo(cfg)
    if memo.get(digest) == known:
        return
    memo[digest] = known
    plain = {k: {"fingerprint": v.fingerprint, "tables": list(v.tables)} for k, v in memo.items()}
    _write_json(cfg.state_dir / SOURCES_MEMO_FILE, plain)


def _read_sources_memo(cfg: Config) -> dict[str, KnownSchema]:
    try:
        raw = json.loads((cfg.state_dir / SOURCES_MEMO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[str, KnownSchema] = {}
    for key, value in raw.items() if isinstance(raw, dict) else ():
        if not (isinstance(key, str) and _HEX16.fullmatch(key) and isinstance(value, dict)):
            continue
        fingerprint, tables = value.get("fingerprint"), value.get("tables")
        if (
            isinstance(fingerprint, str)
            and _HEX16.fullmatch(fingerprint)
            and isinstance(tables, list)
            and tables
            and all(isinstance(t, str) and t for t in tables)
        ):
            out[key] = KnownSchema(fingerprint, tuple(tables))
    return out


def built_by_source(schema: Schema) -> Catalog | None:
    """The catalogue the schema's SQL file or migrations built (None for models)."""
    return _SOURCE_BUILT.get(schema.digest)
