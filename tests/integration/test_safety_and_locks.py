"""The safety rule and the per-database lock, against a real server.

The rule on names alone needs no server: tests/unit/test_safety.py.
"""

from __future__ import annotations

import asyncio
import contextvars

import asyncpg
import pytest

from perfkit.config import Config
from perfkit.env.base import ensure_database
from perfkit.errors import UnsafeTargetError
from perfkit.locks import LockTimeout, exclusive
from perfkit.safety import ensure_test_database
from perfkit.urls import to_asyncpg, with_database

pytestmark = pytest.mark.integration


async def test_databases_perfkit_created_qualify_whatever_their_name(
    pg_url: str, pg_config: Config
) -> None:
    url = with_database(pg_url, "welfare_app")
    assert await ensure_database(url)  # perfkit creates it, so it carries the marker
    conn = await asyncpg.connect(to_asyncpg(url))
    try:
        assert await ensure_test_database(conn, pg_config) == "welfare_app"
    finally:
        await conn.close()

    admin = await asyncpg.connect(to_asyncpg(with_database(pg_url, "postgres")))
    try:
        await admin.execute('CREATE DATABASE "keikakun"')
    finally:
        await admin.close()
    try:
        conn = await asyncpg.connect(to_asyncpg(with_database(pg_url, "keikakun")))
        try:
            with pytest.raises(UnsafeTargetError):
                await ensure_test_database(conn, pg_config)
        finally:
            await conn.close()
    finally:  # other tests on this shared server make their own "keikakun"
        admin = await asyncpg.connect(to_asyncpg(with_database(pg_url, "postgres")))
        try:
            await admin.execute('DROP DATABASE "keikakun"')
            await admin.execute('DROP DATABASE "welfare_app"')
        finally:
            await admin.close()


async def test_second_holder_waits_then_times_out(pg_url: str) -> None:
    messages: list[str] = []

    async def another_command() -> None:
        async with exclusive(pg_url, wait_s=0.3, on_wait=messages.append):
            pass

    async with exclusive(pg_url):
        # another command: a task that did not start inside the holder (a fresh context)
        with pytest.raises(LockTimeout):
            await asyncio.create_task(another_command(), context=contextvars.Context())
    assert messages and "waiting" in messages[0]
    async with exclusive(pg_url, wait_s=0.3):  # released: free again
        pass


async def test_the_lock_is_reentrant_within_one_command(pg_url: str) -> None:
    """prepare holds the lock for its whole run and calls seed and restore, which take it
    again: they must not wait for their own command."""
    async with exclusive(pg_url), exclusive(pg_url, wait_s=0.3), exclusive(pg_url, wait_s=0.3):
        pass
    async with exclusive(pg_url, wait_s=0.3):  # all released on the way out
        pass


async def test_waiter_gets_the_lock_when_the_holder_finishes(pg_url: str) -> None:
    order: list[str] = []

    async def first() -> None:
        async with exclusive(pg_url):
            order.append("first in")
            await asyncio.sleep(0.3)
            order.append("first out")

    async def second() -> None:
        await asyncio.sleep(0.05)
        async with exclusive(pg_url, wait_s=5):
            order.append("second in")

    await asyncio.gather(first(), second())
    assert order == ["first in", "first out", "second in"]
