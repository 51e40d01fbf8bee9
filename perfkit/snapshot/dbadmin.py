"""Whole-database operations on the server's ``postgres`` maintenance database.

Restores never load into the target in place: they build a *staging* database beside it and
swap the two names in one transaction (``ALTER DATABASE ... RENAME`` is transactional), so an
interrupted or failed restore leaves the previous database as it was. Names of perfkit's
helper databases are derived from the target, so leftovers of a killed run are recognised and
removed by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time

import asyncpg

from perfkit.env.base import CREATED_BY_PERFKIT
from perfkit.errors import DatabaseEnvError
from perfkit.schema import quote_ident

#: PostgreSQL's identifier limit (NAMEDATALEN - 1).
MAX_NAME = 63
_HELPER_MARK = "__pk"
_ROOM = 16  # "__pk" + kind (3 letters) + "_" + 6 hex digits, and 2 to spare


def helper_name(target: str, kind: str) -> str:
    """A unique helper-database name for ``target``: ``<target>__pk<kind>_<random>``."""
    if len(kind) > 5:
        raise ValueError("helper kind too long")  # a bug, not input
    return f"{helper_prefix(target)}{kind}_{secrets.token_hex(3)}"


def helper_prefix(target: str) -> str:
    """What every helper database of ``target`` starts with."""
    return _fit(target, _ROOM) + _HELPER_MARK


def _fit(name: str, room: int) -> str:
    keep = MAX_NAME - room
    raw = name.encode()
    return raw[:keep].decode(errors="ignore") if len(raw) > keep else name


async def server_version_num(admin: asyncpg.Connection) -> int:
    return int(await admin.fetchval("SHOW server_version_num"))


async def exists(admin: asyncpg.Connection, name: str) -> bool:
    return bool(await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))


async def comment_of(admin: asyncpg.Connection, name: str) -> str | None:
    value = await admin.fetchval(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
    )
    return None if value is None else str(value)


async def set_comment(admin: asyncpg.Connection, name: str, comment: str) -> None:
    literal = "'" + comment.replace("'", "''") + "'"
    await admin.execute(f"COMMENT ON DATABASE {quote_ident(name)} IS {literal}")


async def terminate(admin: asyncpg.Connection, name: str) -> int:
    """End every other session connected to database ``name``; returns how many."""
    return int(
        await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    )


async def create_empty(admin: asyncpg.Connection, name: str) -> None:
    """A new database from ``template0``, marked as perfkit's."""
    await admin.execute(f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0")
    await set_comment(admin, name, CREATED_BY_PERFKIT)


async def clone(
    admin: asyncpg.Connection, *, source: str, name: str, strategy: str | None = None
) -> None:
    """``CREATE DATABASE name TEMPLATE source`` after ending the source's sessions.

    ``strategy`` (``FILE_COPY`` or ``WAL_LOG``) applies on PostgreSQL 15 and later and is
    ignored before. Cloning fails while anyone is connected to ``source``, so its sessions are
    ended first; a session that sneaks in between is ended and the clone retried.
    """
    clause = ""
    if strategy and await server_version_num(admin) >= 150000:
        clause = f" STRATEGY {strategy}"
    sql = f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(source)}{clause}"
    deadline = time.monotonic() + 10.0
    while True:
        await terminate(admin, source)
        try:
            await admin.execute(sql)
            break
        except asyncpg.ObjectInUseError:
            if time.monotonic() > deadline:
                raise DatabaseEnvError(
                    f"database {source!r} stayed in use; cannot clone it",
                    hint="close the sessions connected to it and try again",
                ) from None
            await asyncio.sleep(0.05)
    await set_comment(admin, name, CREATED_BY_PERFKIT)


async def drop(admin: asyncpg.Connection, name: str) -> None:
    """Drop ``name`` if it exists, ending its sessions (and clearing a template flag) first."""
    if not await exists(admin, name):
        return
    await admin.execute(f"ALTER DATABASE {quote_ident(name)} IS_TEMPLATE false")
    if await server_version_num(admin) >= 130000:
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    else:  # pragma: no cover - PostgreSQL 12 and older
        await terminate(admin, name)
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")


async def drop_quietly(admin: asyncpg.Connection, name: str) -> None:
    """Best-effort :func:`drop` for cleanup paths (the connection may be gone)."""
    with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
        await drop(admin, name)


async def swap(
    admin: asyncpg.Connection, *, target: str, staging: str, keep_old_as: str | None = None
) -> str | None:
    """Make ``staging`` become ``target`` in one transaction; returns the old database's new
    name (``keep_old_as``, else a fresh helper name), or None when ``target`` did not exist.

    ``keep_old_as`` may be ``staging``'s own name (the two databases trade places). Other
    sessions on ``target`` are ended first (a rename needs it idle); one that connects in
    between makes the rename fail, and the swap is retried.
    """
    old = (keep_old_as or helper_name(target, "old")) if await exists(admin, target) else None
    parked = helper_name(target, "tmp")
    deadline = time.monotonic() + 10.0
    while True:
        if old:
            await terminate(admin, target)
        try:
            async with admin.transaction():
                source = staging
                if old == staging:
                    await _rename(admin, staging, parked)
                    source = parked
                if old:
                    await _rename(admin, target, old)
                    await set_comment(admin, old, CREATED_BY_PERFKIT)  # a helper now
                await _rename(admin, source, target)
            return old
        except asyncpg.ObjectInUseError:
            if time.monotonic() > deadline:
                raise DatabaseEnvError(
                    f"database {target!r} stayed in use; the restored copy was not swapped in",
                    hint="close the sessions connected to it (the application, psql) and retry",
                ) from None
            await asyncio.sleep(0.05)


async def _rename(admin: asyncpg.Connection, old: str, new: str) -> None:
    await admin.execute(f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(new)}")


async def leftovers(admin: asyncpg.Connection, target: str) -> list[str]:
    """Helper databases of ``target`` left by a killed run (perfkit's mark, nobody connected);
    the target's spare is not a leftover."""
    prefix = helper_prefix(target)
    rows = await admin.fetch(
        "SELECT d.datname FROM pg_database d "
        "WHERE left(d.datname, length($1)) = $1 AND d.datname <> $3 "
        "AND shobj_description(d.oid, 'pg_database') = $2 "
        "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
        prefix,
        CREATED_BY_PERFKIT,
        spare_name(target),
    )
    return [str(r["datname"]) for r in rows]


def spare_name(target: str) -> str:
    """The target's *spare*: the previous database, emptied, reused by the next restore."""
    return helper_prefix(target) + "spare"


#: Anything in a database besides what ``template0`` has, once perfkit's tables are dropped.
_EXTRAS_SQL = """
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%')
     + (SELECT count(*) FROM pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
          AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%')
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public')
     + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public')
     + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
     + (SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = current_database())
"""


async def empty_database(conn: asyncpg.Connection, drop_sql: list[str]) -> bool:
    """Run ``drop_sql`` (perfkit's tables) and tell whether the database is now as empty as a
    new one. Dropping tables needs no checkpoint, unlike ``DROP DATABASE`` on PostgreSQL 15,
    which flushes every dirty buffer of the server: that is why restores reuse a spare."""
    for stmt in drop_sql:
        await conn.execute(stmt)
    return int(await conn.fetchval(_EXTRAS_SQL)) == 0
