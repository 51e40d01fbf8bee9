"""An application's schema captured the way the application builds it, whatever its source.

:func:`capture_source` builds scales.yaml's ``app.schema`` in a scratch database on perfkit's
server (:func:`perfkit.schema_sandbox.in_scratch_database`) and captures it
(:func:`perfkit.ddl.capture_schema`):

- ``sql``: the file is run as it is (psql meta-commands skipped), one statement at a time, as
  the build role (:mod:`perfkit.schema_scripts`);
- ``migrations``: the command runs as the build role, in an environment whose every database
  variable points at the scratch database (:mod:`perfkit.migrations_env`);
- ``metadata``: the models' own ``MetaData.create_all`` (the tables ``app.schema.tables``
  names, or all).

The capture holds every table of ``public`` (``app.schema.tables`` and their partitions when
given; ``alembic_version`` and perfkit's own table never) and whatever else the schema has:
types, functions, triggers, policies, views. It is made once per process per configuration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import warnings
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from sqlalchemy import Connection, MetaData
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from perfkit.config import Config
from perfkit.database import Database
from perfkit.ddl.capture import capture_schema
from perfkit.ddl.emit import bare_sql, post_load
from perfkit.ddl.model import Capture, CaptureError
from perfkit.errors import ConfigError
from perfkit.schema import Schema, SchemaError, quote_ident
from perfkit.schema_sandbox import in_scratch_database
from perfkit.schema_scripts import run_migrations, run_sql_file
from perfkit.schema_source import NOT_APPLICATION_TABLES, run_blocking, source_digest
from perfkit.urls import with_driver

_CAPTURED: dict[tuple[str, str, str], Capture] = {}
#: Where the last capture of each source is kept, in the state folder (commands that never
#: build the schema read it: :func:`remembered_capture`).
CAPTURES_DIR = "captures"


def capture_source(cfg: Config, metadata: MetaData | None = None, *, db: Database) -> Capture:
    """The capture of ``cfg.app.schema`` as its source builds it (see the module docstring);
    ``metadata`` is the imported models, for a ``metadata`` source. Built on ``db``'s server
    (perfkit's test database)."""
    # a SQL file is known by its bytes too: an edited file in the same process is another schema
    key = (str(cfg.source), repr(cfg.app.schema), str(source_digest(cfg)))
    source = cfg.app.schema
    if key not in _CAPTURED:
        # A SQL file or migrations are the application's code: they run as the build role
        # (:mod:`perfkit.schema_sandbox`), as when perfkit reads their tables back.
        _CAPTURED[key] = run_blocking(
            lambda: in_scratch_database(
                cfg,
                _builder(cfg, metadata),
                db=db,
                as_build_role=source.kind != "metadata",
                seconds=source.migrations.timeout if source.migrations is not None else 600.0,
            )
        )
        _remember(cfg, metadata, _CAPTURED[key])
    return _CAPTURED[key]


def remembered_capture(cfg: Config, metadata: MetaData | None = None) -> Capture | None:
    """The capture the last build of ``cfg.app.schema`` left in the state folder (this
    process's, else the file's), without building anything; None when it was never captured
    (with this source: a SQL file's bytes, migrations' command and folder, the models'
    DDL)."""
    captured = _CAPTURED.get((str(cfg.source), repr(cfg.app.schema), str(source_digest(cfg))))
    if captured is not None:
        return captured
    name = _memo_name(cfg, metadata)
    if name is None:
        return None
    try:
        return Capture.from_text((cfg.state_dir / CAPTURES_DIR / name).read_bytes())
    except (OSError, ValueError):
        return None


def _memo_name(cfg: Config, metadata: MetaData | None) -> str | None:
    """The file the capture of this source is kept in (None: no way to name the source)."""
    digest = source_digest(cfg)
    if digest is None and metadata is not None:
        try:
            digest = Schema(metadata, tables=cfg.app.schema.tables).digest
        except (SchemaError, TypeError, AttributeError):
            return None
    return None if digest is None else f"{digest}.json"


def _remember(cfg: Config, metadata: MetaData | None, capture: Capture) -> None:
    """Keep ``capture`` in the state folder (a memo: a failure to write is ignored)."""
    name = _memo_name(cfg, metadata)
    if name is None:
        return
    folder = cfg.state_dir / CAPTURES_DIR
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.{os.getpid()}"
        partial.write_text(capture.to_text(), encoding="utf-8")
        partial.replace(folder / name)


def _builder(cfg: Config, metadata: MetaData | None) -> Callable[[Database], Awaitable[Capture]]:
    async def build(scratch: Database) -> Capture:
        kind = cfg.app.schema.kind
        if kind == "sql":
            await run_sql_file(scratch, cfg)
        elif kind == "migrations":
            await run_migrations(scratch, cfg)
        else:
            if metadata is None:
                raise ValueError("a metadata source needs the imported MetaData")
            await _create_all(scratch, metadata, cfg.app.schema.tables)
        return await _capture(scratch, cfg)

    return build


async def _create_all(scratch: Database, metadata: MetaData, tables: Sequence[str] | None) -> None:
    engine = create_async_engine(with_driver(scratch.url, "asyncpg"), poolclass=NullPool)
    chosen = None if tables is None else [metadata.tables[name] for name in tables]

    def create(sync: Connection) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            metadata.create_all(sync, tables=chosen)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(create)
    finally:
        await engine.dispose()


async def _capture(scratch: Database, cfg: Config) -> Capture:
    wanted = cfg.app.schema.tables
    async with scratch.connect() as conn:
        if wanted is None:
            rows = await conn.fetch(
                "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
                "AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"
            )
            wanted = tuple(
                str(r["relname"]) for r in rows if r["relname"] not in NOT_APPLICATION_TABLES
            )
        try:
            capture = await capture_schema(conn, "public", tables=wanted)
        except CaptureError as exc:
            raise ConfigError(
                exc.message, source=str(cfg.source), key_path="app.schema.tables", hint=exc.hint
            ) from None
        return await settle(conn, capture, wanted)


async def settle(conn: asyncpg.Connection, capture: Capture, tables: Sequence[str]) -> Capture:
    """``capture`` as its own replay prints it. PostgreSQL does not always print a definition
    as it reads it back: SQLAlchemy's ``role IN ('a', 'b')`` on a varchar is stored as
    ``ANY ((ARRAY['a'::varchar, ...])::text[])``, which re-reads as ``ANY (ARRAY[('a'::varchar)
    ::text, ...])``. Every load replays the capture, so the capture must be that replay's: the
    schema is replayed once into a scratch schema of the same database and captured again
    (the same capture when nothing prints differently)."""
    scratch = "perfkit_settle_" + secrets.token_hex(4)
    await conn.execute(f"CREATE SCHEMA {quote_ident(scratch)}")
    try:
        await conn.execute(";\n".join(bare_sql(capture, target=scratch, home="public")))
        await conn.execute(
            ";\n".join(post_load(capture, target=scratch, home="public").statements())
        )
        await conn.execute("RESET search_path")
        again = await capture_schema(conn, scratch, tables=tables, home="public")
    finally:
        await conn.execute("RESET search_path")
        await conn.execute(f"DROP SCHEMA {quote_ident(scratch)} CASCADE")
    if again.fingerprint == capture.fingerprint:
        return capture
    return dataclasses.replace(again, uncarried=capture.uncarried)
