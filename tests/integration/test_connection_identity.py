"""One URL, one target (issue 18, item 1), against a real server.

* A URL whose query names another database (``?dbname=`` for psycopg, ``?database=`` for
  SQLAlchemy's asyncpg dialect) never reaches a connection: the engine, the raw connection and
  the :class:`~perfkit.database.Database` handle all read the name through
  :func:`perfkit.urls.parse_url`, which refuses it. Today's drivers would connect to
  ``other_prod`` and commit there.
* Every connection checks where it arrived (:mod:`perfkit.db`): an engine built for one
  database whose connections arrive in another, or on another server than the one perfkit's
  checks saw, is refused before any statement of the caller runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from perfkit.config import Config
from perfkit.database import Database
from perfkit.db import Server, ServerPin, connect, connection, create_engine, open_engine
from perfkit.errors import UnsafeTargetError, UrlError
from perfkit.testing import PrivateServer, scratch_database
from perfkit.urls import make_url

pytestmark = pytest.mark.integration

CHECKED = "perfkit_identity_test"
OTHER = "perfkit_identity_other_prod"
DRIVERS = ("asyncpg", "psycopg")


@pytest.fixture(scope="module")
async def two(pg: PrivateServer) -> AsyncIterator[tuple[str, str]]:
    """(the checked database's URL, another database's URL) on the session's server; the
    other one is empty, so any table in it was written by the code under test."""
    async with (
        scratch_database(pg.url, CHECKED) as checked,
        scratch_database(pg.url, OTHER) as other,
    ):
        yield checked, other


def in_transaction(driver_connection: object) -> bool:
    """Whether an asyncpg or psycopg connection is inside a transaction block."""
    if isinstance(driver_connection, asyncpg.Connection):
        return bool(driver_connection.is_in_transaction())
    import psycopg

    assert isinstance(driver_connection, psycopg.AsyncConnection)
    return driver_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


async def tables_in(url: str) -> list[str]:
    async with connection(url) as conn:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize(
    ("driver", "query"),
    [("asyncpg", "database"), ("psycopg", "dbname"), ("asyncpg", "dbname")],
)
async def test_a_query_naming_another_database_never_connects(
    two: tuple[str, str], pg_config: Config, driver: str, query: str
) -> None:
    checked, _other = two
    url = f"{checked}?{query}={OTHER}"
    with pytest.raises(UrlError) as info:
        engine = create_engine(url, pg_config.pool, driver=driver)
        try:  # what today's code does: connects to OTHER and commits there
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE written_here (n int)"))
        finally:
            await engine.dispose()
    assert info.value.reason == "query_target"
    with pytest.raises(UrlError):
        await connect(url)
    with pytest.raises(UrlError):
        Database(url)
    assert await tables_in(two[1]) == []


@pytest.mark.parametrize("driver", DRIVERS)
async def test_an_engine_that_arrives_in_another_database_is_refused(
    two: tuple[str, str], pg_config: Config, driver: str
) -> None:
    """The engine expects ``CHECKED`` (what the safety rule approved) but its URL leads to
    ``OTHER``: the first connection is refused before the caller's statement runs."""
    _checked, other = two
    engine = create_engine(other, pg_config.pool, driver=driver, database=CHECKED)
    try:
        with pytest.raises(UnsafeTargetError) as info:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE written_here (n int)"))
    finally:
        await engine.dispose()
    assert info.value.rule == "identity" and info.value.exit_code == 4
    assert info.value.database == OTHER
    assert await tables_in(other) == []


@pytest.mark.parametrize("driver", DRIVERS)
async def test_an_engine_that_arrives_on_another_server_is_refused(
    two: tuple[str, str], pg_config: Config, driver: str
) -> None:
    checked, _other = two
    elsewhere = ServerPin(Server("6999999999999999999", "1700000000.0"))  # not this server
    engine = create_engine(checked, pg_config.pool, driver=driver, pin=elsewhere)
    try:
        with pytest.raises(UnsafeTargetError) as info:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE written_here (n int)"))
    finally:
        await engine.dispose()
    assert info.value.rule == "identity"
    assert await tables_in(checked) == []


async def test_raw_connections_and_handles_check_the_server_too(two: tuple[str, str]) -> None:
    checked, _other = two
    with pytest.raises(UnsafeTargetError):
        await connect(checked, pin=ServerPin(Server("1", "1")))
    db = Database(checked, pin=ServerPin(Server(None, "1")))
    with pytest.raises(UnsafeTargetError):
        async with db.admin():
            pass
    with pytest.raises(UnsafeTargetError):
        async with db.other("postgres").connect():
            pass


@pytest.mark.parametrize("driver", DRIVERS)
async def test_open_engine_pins_the_server_perfkits_own_connection_reached(
    two: tuple[str, str], pg_config: Config, driver: str
) -> None:
    checked, _other = two
    handle = Database(checked)
    async with handle.admin():
        pass  # the handle's pin: where its admin connection arrived
    engine = await open_engine(checked, pg_config.pool, driver=driver)
    try:
        async with engine.connect() as conn:
            # the check ran on this very connection; its transaction was ended, not left
            # open for the caller's statements
            idle = not in_transaction((await conn.get_raw_connection()).driver_connection)
            name = await conn.scalar(text("SELECT current_database()"))
        # a second, concurrent connection is checked against the same pin and passes
        async with engine.connect() as first, engine.connect() as second:
            assert await first.scalar(text("SELECT 1")) == await second.scalar(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert name == CHECKED
    assert idle
    assert handle.pin.server is not None


@pytest.fixture
async def plain_role(pg: PrivateServer, two: tuple[str, str]) -> AsyncIterator[str]:
    """A URL of ``CHECKED`` for a role that may not run ``pg_control_system()`` (its right
    revoked from PUBLIC, as some administrators do); put back on exit. (``two`` makes the
    database first.)"""
    async with Database(pg.url).admin() as admin:
        await admin.conn.execute("DROP ROLE IF EXISTS perfkit_plain_role")
        await admin.conn.execute("CREATE ROLE perfkit_plain_role LOGIN PASSWORD 'plain'")
        await admin.conn.execute(f'GRANT ALL ON DATABASE "{CHECKED}" TO perfkit_plain_role')
        await admin.conn.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
    try:
        yield make_url(
            user="perfkit_plain_role", password="plain", host=pg.cfg.database.host,
            port=pg.cfg.database.port, database=CHECKED,
        )  # fmt: skip
    finally:
        async with Database(pg.url).admin() as admin:
            await admin.conn.execute("GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC")
            await admin.conn.execute(f'REVOKE ALL ON DATABASE "{CHECKED}" FROM perfkit_plain_role')
            await admin.conn.execute("DROP ROLE perfkit_plain_role")


@pytest.mark.parametrize("driver", DRIVERS)
async def test_a_role_without_the_system_identifier_is_checked_by_start_time(
    plain_role: str, two: tuple[str, str], pg_config: Config, driver: str
) -> None:
    checked, _other = two
    pin = ServerPin()
    async with connection(checked, pin=pin):  # the superuser sees the identifier
        pass
    assert pin.server is not None and pin.server.system_identifier is not None
    engine = create_engine(plain_role, pg_config.pool, driver=driver, pin=pin)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT current_user")) == "perfkit_plain_role"
    finally:
        await engine.dispose()
    moved = ServerPin(Server(pin.server.system_identifier, "1700000000.0"))
    with pytest.raises(UnsafeTargetError):
        await connect(plain_role, pin=moved)
