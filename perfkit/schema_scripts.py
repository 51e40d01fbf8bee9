"""Running a schema source's own code: a SQL file, statement by statement, or a migrations
command. Both run in a scratch database as its build role (:mod:`perfkit.schema_sandbox`); the
migrations in an environment that reaches no other database (:mod:`perfkit.migrations_env`).

A failure is one line: for a SQL file, the line and first words of the failing statement and
PostgreSQL's error (:class:`SchemaSourceError` carries them as fields; SQLSTATE ``42501`` means
the build role may not do that, e.g. ``CREATE ROLE`` or ``COPY ... TO PROGRAM``); for
migrations, the exit status and the telling line of their output, passwords masked; for
migrations that ran but built nothing, the database they were given and through which
variables.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
from pglast import parser as pg_parser

from perfkit.config import Config
from perfkit.database import Database
from perfkit.errors import ConfigError
from perfkit.migrations_env import URL_VARIABLES, migrations_environment
from perfkit.text import clipped, quoted
from perfkit.urls import mask_text, password_of

#: SQLSTATE 42501: the build role may not do that.
INSUFFICIENT_PRIVILEGE = "42501"


class SchemaSourceError(ConfigError):
    """A SQL file or migrations that did not build a schema perfkit can read.

    ``line`` and ``statement`` (its first words) locate a SQL file's failing statement,
    ``sqlstate`` is PostgreSQL's error code (``42501``: the build role may not do that), and
    ``database`` names the scratch database migrations were given when they built nothing
    there. Each is None when it does not apply."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        key_path: str,
        hint: str | None = None,
        line: int | None = None,
        statement: str | None = None,
        sqlstate: str | None = None,
        database: str | None = None,
    ) -> None:
        super().__init__(message, source=source, key_path=key_path, hint=hint)
        self.line = line
        self.statement = statement
        self.sqlstate = sqlstate
        self.database = database


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


def sql_statements(script: str) -> list[tuple[int, str]] | None:
    """``script``'s statements as (offset in ``script``, text), split by PostgreSQL's own
    parser (dollar quotes and ``BEGIN ATOMIC`` bodies kept whole); None when the parser cannot
    read it (a syntax error: the server then says where)."""
    try:
        slices = pg_parser.split(script, with_parser=True, only_slices=True)
    except pg_parser.ParseError:
        return None
    return [(piece.start, script[piece]) for piece in slices]


def _first_words(statement: str, *, count: int = 4) -> str:
    words = statement.split()
    return " ".join(words[:count]) + (" ..." if len(words) > count else "")


async def run_sql_file(scratch: Database, cfg: Config) -> None:
    """Run ``app.schema.sql`` in ``scratch`` (as the build role), one statement at a time; a
    failing one is a :class:`SchemaSourceError` naming its line and first words."""
    path = cfg.app.schema.sql
    assert path is not None  # the caller checked the kind
    script = read_sql_file(path, source=str(cfg.source))
    pieces = sql_statements(script)
    async with scratch.connect() as conn:
        for offset, statement in pieces or [(0, script)]:
            try:
                await conn.execute(statement)
            except asyncpg.PostgresError as exc:
                raise _statement_failed(
                    exc,
                    cfg=cfg,
                    script=script,
                    offset=offset,
                    statement=None if pieces is None else statement,
                ) from None


def _statement_failed(
    exc: asyncpg.PostgresError, *, cfg: Config, script: str, offset: int, statement: str | None
) -> SchemaSourceError:
    """The one line for ``exc``, raised by ``statement`` at ``offset`` of ``script`` (None:
    the whole script, which the parser could not split, was sent at once)."""
    path = cfg.app.schema.sql
    assert path is not None  # the caller checked the kind
    position = int(getattr(exc, "position", None) or 0)
    line = None
    if position or statement is not None:
        line = script.count("\n", 0, offset + max(position - 1, 0)) + 1
    words = None if statement is None else mask_text(_first_words(statement))
    where = ("" if line is None else f", line {line}") + ("" if words is None else f" ({words})")
    denied = exc.sqlstate == INSUFFICIENT_PRIVILEGE
    return SchemaSourceError(
        f"{quoted(path.name)}{where}: {type(exc).__name__}: "
        f"{clipped((str(exc).splitlines() or [''])[0], limit=200)}",
        source=str(cfg.source),
        key_path="app.schema.sql",
        hint="the file runs as a role that owns only its scratch database, not as a "
        "superuser: leave out roles, tablespaces, ALTER SYSTEM, other databases and untrusted "
        "extensions"
        if denied
        else "the file must build the schema in an empty database; pg_dump --schema-only "
        "--no-owner --no-privileges makes such a file",
        line=line,
        statement=words,
        sqlstate=exc.sqlstate,
    )


async def run_migrations(scratch: Database, cfg: Config) -> None:
    """Run ``app.schema.migrations`` against ``scratch`` (as the build role), in an
    environment that reaches no other database (:mod:`perfkit.migrations_env`)."""
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
    env = migrations_environment(
        caller=os.environ,
        app_env=cfg.app.env,
        database_env=cfg.app.database_env,
        url=scratch.url,
        driver=cfg.app.driver,
        source=str(cfg.source),
    )
    secret = password_of(scratch.url) or ""
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
        last = mask_text(_telling_line(done.stderr or done.stdout or ""), secret)
        raise ConfigError(
            f"{quoted(' '.join(migrations.command))} failed (exit {done.returncode}): "
            + clipped(last, limit=200),
            source=str(cfg.source),
            key_path=key,
            hint="they must build the schema in an empty database; run them by hand to see all",
        )


def given_through(cfg: Config) -> str:
    """The variables migrations find their database in, for a message."""
    names = [*cfg.app.database_env, *(n for n in URL_VARIABLES if n not in cfg.app.database_env)]
    return ", ".join(names) + " and PGDATABASE"


def _telling_line(output: str) -> str:
    """The line of a failed command's output that says what went wrong: the last one naming an
    error or exception (a Python traceback's last such line), else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if _ERROR_LINE.search(line)]
    return (errors or lines or ["no output"])[-1]


_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|error)\b.*:|^(ERROR|FATAL)\b")


async def built_nothing(scratch: Database, cfg: Config, public: set[str]) -> SchemaSourceError:
    """What to say when the source built no application table in ``public`` of ``scratch``."""
    if cfg.app.schema.kind == "sql":
        return SchemaSourceError(
            "the schema source built no table in schema public",
            source=str(cfg.source),
            key_path="app.schema",
            database=scratch.name,
        )
    async with scratch.connect() as conn:
        elsewhere = [
            str(r[0])
            for r in await conn.fetch(
                "SELECT DISTINCT schemaname FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema', 'public') ORDER BY 1"
            )
        ]
    migrations = cfg.app.schema.migrations
    assert migrations is not None  # the kind says so
    if elsewhere:
        what = f"built tables only outside schema public (in {', '.join(elsewhere)})"
    elif "alembic_version" in public:
        what = "recorded a revision there but built no table"
    else:
        what = "built no table there"
    return SchemaSourceError(
        f"{quoted(' '.join(migrations.command))} ran without error but {what}: it was given "
        f"the scratch database {scratch.name!r} through {given_through(cfg)}",
        source=str(cfg.source),
        key_path="app.schema.migrations",
        hint="if they read their database URL from another variable, list it in "
        "app.database_env; a URL written into them (alembic.ini's sqlalchemy.url) is not "
        "perfkit's to change",
        database=scratch.name,
    )
