"""Connections: readiness checks, raw asyncpg connections, and the SQLAlchemy engine/sessions.

The engine and session factory take every pool and session setting from ``scales.yaml``
(:class:`perfkit.config.PoolConfig`); nothing here is module-level state.

**Every connection is checked where it arrived.** Right after it connects, each connection
made here -- a raw asyncpg one (:func:`connect`) and each new DBAPI connection of an engine
(:func:`create_engine`, on either driver: a ``connect`` pool event) -- runs one query
(:data:`IDENTITY_SQL`): its ``current_database()`` must be the database the URL names, read by
:func:`perfkit.urls.database_name` (the name the safety rule approved), and its server must be
the one a :class:`ServerPin` holds: the cluster's system identifier and the postmaster's start
time, the same over TCP or a unix socket (a role whose right to read the identifier was
revoked is checked by the start time alone). A :class:`perfkit.database.Database` handle pins the
server where its first connection arrived (usually the admin connection its checks run on);
:func:`open_engine` pins an engine to where perfkit's own connection to the URL arrives. A
mismatch is an :class:`~perfkit.errors.UnsafeTargetError` (exit 4) and the connection is
closed before anything else runs on it. It costs one query per new connection, none per
statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perfkit.errors import DatabaseEnvError, UnsafeTargetError
from perfkit.urls import database_name, mask_url, to_asyncpg, with_driver

if TYPE_CHECKING:  # imported when first used: `perfkit db-status` loads neither to say "stopped"
    import asyncpg
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from perfkit.config import PoolConfig


@functools.cache
def not_ready_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "not ready yet, try again"; anything else is a real failure."""
    import asyncpg

    return (
        ConnectionError,
        OSError,
        asyncio.TimeoutError,
        asyncpg.CannotConnectNowError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.TooManyConnectionsError,
    )


#: Where a connection arrived: its database, and its server. The cluster's system identifier
#: tells clusters apart (whatever the host is called, TCP or unix socket); the postmaster's
#: start time (epoch seconds, whatever the session's time zone) tells apart a copy made from a
#: base backup, or a replica, which share the identifier.
IDENTITY_SQL = (
    "SELECT current_database()::text, "
    "(SELECT system_identifier FROM pg_catalog.pg_control_system())::text, "
    "extract(epoch FROM pg_catalog.pg_postmaster_start_time())::text"
)
#: The same for a role that may not run ``pg_control_system()`` (its EXECUTE right revoked):
#: the start time alone tells the server.
IDENTITY_SQL_UNPRIVILEGED = (
    "SELECT current_database()::text, NULL::text, "
    "extract(epoch FROM pg_catalog.pg_postmaster_start_time())::text"
)
#: SQLSTATE of "permission denied".
_INSUFFICIENT_PRIVILEGE = "42501"

IDENTITY_HINT = (
    "perfkit writes only where its checks connected; look for what sends this connection "
    "elsewhere (PGHOST, PGDATABASE or PGSERVICE in the environment, a DNS name or connection "
    "pooler that moved, several hosts in the URL)"
)


@dataclass(frozen=True)
class Server:
    """A running server: its cluster's system identifier (None when the role may not read
    it) and its postmaster's start time (see :data:`IDENTITY_SQL`)."""

    system_identifier: str | None
    started: str

    def same(self, other: Server) -> bool:
        """Whether both are one server (the identifiers compared when both are known)."""
        if self.started != other.started:
            return False
        known = None not in (self.system_identifier, other.system_identifier)
        return not known or self.system_identifier == other.system_identifier


@dataclass(frozen=True)
class Reached:
    """Where one connection arrived: a database on a server."""

    database: str
    server: Server

    @classmethod
    def of(cls, row: Any) -> Reached:
        """From a row of :data:`IDENTITY_SQL`."""
        system = None if row[1] is None else str(row[1])
        return cls(str(row[0]), Server(system, str(row[2])))


class ServerPin:
    """The server a group of connections must all reach: the first one to arrive sets it
    (unless it was given), every later one must arrive at the same."""

    __slots__ = ("server",)

    def __init__(self, server: Server | None = None) -> None:
        self.server = server

    def __repr__(self) -> str:
        return f"ServerPin({self.server!r})"


def check_reached(reached: Reached, *, database: str, pin: ServerPin | None, url: str) -> None:
    """Refuse a connection that arrived anywhere but ``database`` on the pinned server (and
    pin the server when nothing has yet)."""
    if reached.database != database:
        raise UnsafeTargetError(
            reached.database,
            reason=f"a connection to {mask_url(url)} arrived in database "
            f"{reached.database!r}, not in {database!r}, the one perfkit checked",
            rule="identity",
            hint=IDENTITY_HINT,
        )
    if pin is None:
        return
    if pin.server is None:
        pin.server = reached.server
    elif not pin.server.same(reached.server):
        raise UnsafeTargetError(
            reached.database,
            reason=f"a connection to {mask_url(url)} arrived on another server than the one "
            "perfkit checked (cluster identifier or start time differ)",
            rule="identity",
            hint=IDENTITY_HINT,
        )


async def connect(
    url: str, *, timeout: float = 10.0, pin: ServerPin | None = None, **kwargs: Any
) -> asyncpg.Connection:
    """One asyncpg connection, checked to have arrived in the database ``url`` names (and on
    ``pin``'s server); a failure becomes a one-line error with the URL masked."""
    database = database_name(url)
    conn = await _open(url, timeout=timeout, **kwargs)
    await _check_arrival(conn, url=url, database=database, pin=pin)
    return conn


async def _check_arrival(
    conn: asyncpg.Connection, *, url: str, database: str, pin: ServerPin | None
) -> None:
    """:func:`check_reached` on a new asyncpg connection; closed when refused."""
    import asyncpg

    try:
        try:
            row = await conn.fetchrow(IDENTITY_SQL)
        except asyncpg.InsufficientPrivilegeError:
            row = await conn.fetchrow(IDENTITY_SQL_UNPRIVILEGED)
        check_reached(Reached.of(row), database=database, pin=pin, url=url)
    except Exception:
        with contextlib.suppress(Exception):
            await conn.close(timeout=2.0)
        conn.terminate()
        raise
    except BaseException:  # cancelled: no time for a polite goodbye
        conn.terminate()
        raise


async def _open(url: str, *, timeout: float, **kwargs: Any) -> asyncpg.Connection:
    import asyncpg

    try:
        return await asyncpg.connect(dsn=to_asyncpg(url), timeout=timeout, **kwargs)
    except asyncpg.InvalidPasswordError:
        raise DatabaseEnvError(
            f"password authentication failed for {mask_url(url)}",
            hint="check the URL's user and password (perfkit db-url prints perfkit's own)",
        ) from None
    except asyncpg.InvalidCatalogNameError:
        raise DatabaseEnvError(
            f"database does not exist: {mask_url(url)}",
            hint="run `perfkit db-up`, which creates it, or fix the URL",
        ) from None
    except not_ready_errors() as exc:
        raise DatabaseEnvError(
            f"cannot connect to {mask_url(url)}: {type(exc).__name__}: "
            f"{mask_url(str(exc)) or 'timed out'}",
            hint="is the database up? `perfkit db-up` starts perfkit's own; "
            "`perfkit db-status` tells what is running",
        ) from None


@asynccontextmanager
async def connection(
    url: str, *, timeout: float = 10.0, pin: ServerPin | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """``async with connection(url) as conn:`` -- :func:`connect`, closed on exit, whatever
    happens."""
    conn = await connect(url, timeout=timeout, pin=pin)
    try:
        yield conn
    finally:
        await conn.close()


async def wait_until_ready(url: str, *, deadline_s: float = 30.0) -> str:
    """Retry a real connection until it succeeds or the deadline passes; return the version.

    Only not-ready errors are retried (refused, starting up, shutting down); a wrong password
    or a missing database fails at once. The back-off grows from 20 ms to 0.5 s.
    """
    import asyncpg

    database = database_name(url)
    end = time.monotonic() + deadline_s
    delay = 0.02
    last: BaseException | None = None
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        try:
            conn = await asyncpg.connect(dsn=to_asyncpg(url), timeout=min(5.0, remaining))
        except not_ready_errors() as exc:
            last = exc
        else:
            try:
                await _check_arrival(conn, url=url, database=database, pin=None)
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()
        await asyncio.sleep(min(delay, max(0.0, end - time.monotonic())))
        delay = min(delay * 2, 0.5)
    raise DatabaseEnvError(
        f"database at {mask_url(url)} did not accept connections within {deadline_s:g} s"
        + (f" ({type(last).__name__}: {mask_url(str(last))})" if last else ""),
        hint="`perfkit db-status` shows the server; its log is in the state folder",
    )


async def open_engine(url: str, pool: PoolConfig, *, driver: str = "asyncpg") -> AsyncEngine:
    """:func:`create_engine` pinned to the server where perfkit's own connection to ``url``
    arrives (that connection is checked too, then closed). The engines of perf runs,
    ``perfkit explain`` and the pytest plugin are made here."""
    pin = ServerPin()
    async with connection(url, pin=pin):
        pass
    return create_engine(url, pool, driver=driver, pin=pin)


def create_engine(
    url: str,
    pool: PoolConfig,
    *,
    driver: str = "asyncpg",
    database: str | None = None,
    pin: ServerPin | None = None,
) -> AsyncEngine:
    """An async SQLAlchemy engine on ``driver`` (``asyncpg`` or ``psycopg``: the application's
    own, so a workload is timed as it runs in production), configured from ``scales.yaml``'s
    ``pool`` section.

    Each new DBAPI connection is checked before the pool hands it out (module docstring): it
    must be in ``database`` (default: the one ``url`` names) on ``pin``'s server (default: a
    pin of the engine's own, set by its first connection; :func:`open_engine` gives one set
    by perfkit's connection)."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    expected = database if database is not None else database_name(url)
    server = pin if pin is not None else ServerPin()
    statement_ms = str(int(pool.statement_timeout * 1000))
    connect_args: dict[str, Any]
    if driver == "psycopg":
        connect_args = {
            "connect_timeout": max(1, int(pool.connect_timeout)),
            "application_name": pool.application_name,
            "options": f"-c statement_timeout={statement_ms}",
        }
    else:
        connect_args = {
            "timeout": pool.connect_timeout,
            "server_settings": {
                "application_name": pool.application_name,
                "statement_timeout": statement_ms,
            },
        }
    engine = create_async_engine(
        with_driver(url, driver),
        pool_size=pool.pool_size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.pool_timeout,
        pool_recycle=pool.pool_recycle,
        pool_pre_ping=pool.pool_pre_ping,
        connect_args=connect_args,
    )

    def check_new_connection(dbapi_connection: Any, _record: Any) -> None:
        try:
            row = _fetch_identity(dbapi_connection)
            check_reached(Reached.of(row), database=expected, pin=server, url=url)
        except Exception:
            with contextlib.suppress(Exception):
                dbapi_connection.close()
            raise

    event.listen(engine.sync_engine, "connect", check_new_connection)
    return engine


def _fetch_identity(dbapi_connection: Any) -> Any:
    """:data:`IDENTITY_SQL`'s row on a new DBAPI connection (either driver)."""
    try:
        return _fetch_one(dbapi_connection, IDENTITY_SQL)
    except Exception as exc:
        if _sqlstate(exc) != _INSUFFICIENT_PRIVILEGE:
            raise
    return _fetch_one(dbapi_connection, IDENTITY_SQL_UNPRIVILEGED)


def _fetch_one(dbapi_connection: Any, sql: str) -> Any:
    """The first row of ``sql``, in a transaction of its own that is rolled back: nothing of
    the check stays open for the caller."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchone()
    finally:
        cursor.close()
        dbapi_connection.rollback()


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver's error (asyncpg's adapter and psycopg name it differently)."""
    for candidate in (exc, exc.__cause__):
        for attr in ("sqlstate", "pgcode"):
            value = getattr(candidate, attr, None)
            if isinstance(value, str):
                return value
    return None


def create_session_factory(
    engine: AsyncEngine, pool: PoolConfig
) -> async_sessionmaker[AsyncSession]:
    """Sessions with ``expire_on_commit`` and ``autoflush`` as ``scales.yaml`` says."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker(
        engine, expire_on_commit=pool.expire_on_commit, autoflush=pool.autoflush
    )


async def publish_counters(conn: asyncpg.Connection) -> None:
    """Publish this session's own pending counters now (PostgreSQL 15+: a session flushes them
    when it goes idle, at most once a second unless forced; earlier versions send them to the
    statistics collector at each transaction's end).

    A loader calls it after a table's rows are in and before the table's ``ANALYZE``: the
    rows then count as analyzed, and
    :func:`perfkit.datagen.changes.record_load_baseline` finds nothing to analyze
    again (at medium, a second ``ANALYZE`` of every table took 30 ms of a 260 ms seed)."""
    if conn.get_server_version().major >= 15:
        await conn.execute("SELECT pg_stat_force_next_flush()")


def statement_failures() -> tuple[type[BaseException], ...]:
    """What a statement raises when it, or the connection under it, fails: a server error, a
    closed, lost or refused connection, and asyncpg's ``InternalClientError`` when the server
    ended the session between two statements (a fast shutdown: asyncpg is left consuming that
    error, and the next statement cannot start)."""
    import asyncpg

    return (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
