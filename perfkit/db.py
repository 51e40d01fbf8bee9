"""Connections: readiness checks, raw asyncpg connections, and the SQLAlchemy engine/sessions.

The engine and session factory take every pool and session setting from ``scales.yaml``
(:class:`perfkit.config.PoolConfig`); nothing here is module-level state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from perfkit.config import PoolConfig
from perfkit.errors import DatabaseEnvError
from perfkit.urls import mask_url, to_asyncpg, with_driver

#: Errors that mean "not ready yet, try again"; anything else is a real failure.
NOT_READY_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
)


async def connect(url: str, *, timeout: float = 10.0, **kwargs: Any) -> asyncpg.Connection:
    """One asyncpg connection; a failure becomes a one-line error with the URL masked."""
    try:
        return await asyncpg.connect(dsn=to_asyncpg(url), timeout=timeout, **kwargs)
    except asyncpg.InvalidPasswordError:
        raise DatabaseEnvError(
            f"password authentication failed for {mask_url(url)}",
            hint="check the URL's user and password (invoke db-url prints perfkit's own)",
        ) from None
    except asyncpg.InvalidCatalogNameError:
        raise DatabaseEnvError(
            f"database does not exist: {mask_url(url)}",
            hint="run `invoke db-up`, which creates it, or fix the URL",
        ) from None
    except NOT_READY_ERRORS as exc:
        raise DatabaseEnvError(
            f"cannot connect to {mask_url(url)}: {type(exc).__name__}: "
            f"{mask_url(str(exc)) or 'timed out'}",
            hint="is the database up? `invoke db-up` starts perfkit's own; "
            "`invoke db-status` tells what is running",
        ) from None


@asynccontextmanager
async def connection(url: str, *, timeout: float = 10.0) -> AsyncIterator[asyncpg.Connection]:
    """``async with connection(url) as conn:`` -- closed on exit, whatever happens."""
    conn = await connect(url, timeout=timeout)
    try:
        yield conn
    finally:
        await conn.close()


async def wait_until_ready(url: str, *, deadline_s: float = 30.0) -> str:
    """Retry a real connection until it succeeds or the deadline passes; return the version.

    Only not-ready errors are retried (refused, starting up, shutting down); a wrong password
    or a missing database fails at once. The back-off grows from 20 ms to 0.5 s.
    """
    end = time.monotonic() + deadline_s
    delay = 0.02
    last: BaseException | None = None
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        try:
            conn = await asyncpg.connect(dsn=to_asyncpg(url), timeout=min(5.0, remaining))
        except NOT_READY_ERRORS as exc:
            last = exc
        else:
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()
        await asyncio.sleep(min(delay, max(0.0, end - time.monotonic())))
        delay = min(delay * 2, 0.5)
    raise DatabaseEnvError(
        f"database at {mask_url(url)} did not accept connections within {deadline_s:g} s"
        + (f" ({type(last).__name__}: {mask_url(str(last))})" if last else ""),
        hint="`invoke db-status` shows the server; its log is in the state folder",
    )


def create_engine(url: str, pool: PoolConfig, *, driver: str = "asyncpg") -> AsyncEngine:
    """An async SQLAlchemy engine on ``driver`` (``asyncpg`` or ``psycopg``: the application's
    own, so a workload is timed as it runs in production), configured from ``scales.yaml``'s
    ``pool`` section."""
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
    return create_async_engine(
        with_driver(url, driver),
        pool_size=pool.pool_size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.pool_timeout,
        pool_recycle=pool.pool_recycle,
        pool_pre_ping=pool.pool_pre_ping,
        connect_args=connect_args,
    )


def create_session_factory(
    engine: AsyncEngine, pool: PoolConfig
) -> async_sessionmaker[AsyncSession]:
    """Sessions with ``expire_on_commit`` and ``autoflush`` as ``scales.yaml`` says."""
    return async_sessionmaker(
        engine, expire_on_commit=pool.expire_on_commit, autoflush=pool.autoflush
    )
