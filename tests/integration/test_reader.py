"""perfkit's reader role (:mod:`perfkit.reader`): what ``perf_session`` connects as on shared
data. It reads; no statement makes it write; without the right to make roles, perfkit goes
without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from perfkit.database import Database
from perfkit.datagen.changes import READER_ROLE
from perfkit.db import connection
from perfkit.reader import ensure_reader
from perfkit.schema import quote_ident
from perfkit.testing import PrivateServer, scratch_database
from perfkit.urls import make_url

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def shared(pg: PrivateServer) -> AsyncIterator[str]:
    """A database with one table of one row, as the shared data would be."""
    async with scratch_database(pg.url, "perfkit_reader_test", perfkit_made=True) as url:
        async with connection(url) as conn:
            await conn.execute(
                "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1)"
            )
        yield url


async def test_the_reader_reads_and_nothing_makes_it_write(shared: str) -> None:
    async with connection(shared) as conn:
        owner = str(await conn.fetchval("SELECT current_user"))
    url = await ensure_reader(Database(shared))
    assert url is not None and await ensure_reader(Database(shared)) == url  # idempotent
    async with connection(url) as conn:
        assert await conn.fetchval("SELECT current_user") == READER_ROLE
        assert await conn.fetchval("SELECT count(*) FROM items") == 1
        for statements in (
            ["DELETE FROM items"],
            ["BEGIN", "SET TRANSACTION READ WRITE", "INSERT INTO items VALUES (2)"],
            ["CREATE TABLE mine (id int)"],
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    for sql in statements:
                        if sql != "BEGIN":
                            await conn.execute(sql)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # no way back to the owner
            await conn.execute(f"SET ROLE {quote_ident(owner)}")
        role = await conn.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolreplication, "
            "rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
    assert not any(role.values())
    async with connection(shared) as conn:
        assert await conn.fetchval("SELECT count(*) FROM items") == 1


async def test_without_the_right_to_make_roles_there_is_no_reader(
    pg: PrivateServer, shared: str
) -> None:
    """A limited user (no CREATEROLE) on the same database: perfkit goes without the reader."""
    user, password = "perfkit_limited", "limited-pw"
    async with Database(pg.url).admin() as admin:
        await admin.conn.execute(f"DROP ROLE IF EXISTS {user}")
        await admin.conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    try:
        where = urlsplit(pg.url)
        assert where.hostname and where.port
        limited = make_url(
            user=user,
            password=password,
            host=where.hostname,
            port=where.port,
            database=Database(shared).name,
        )
        assert await ensure_reader(Database(limited)) is None
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.conn.execute(f"DROP ROLE IF EXISTS {user}")
