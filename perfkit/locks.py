"""One perfkit command per database at a time: PostgreSQL advisory locks.

Advisory locks are scoped to one database, and some operations replace the target database
(restore swaps it), so the lock is taken on the server's ``postgres`` maintenance database,
keyed by the target database's name. A second command waits (saying so) up to a deadline, then
fails with a clear line; a killed command's lock vanishes with its connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

from perfkit.db import connect
from perfkit.errors import PerfkitError
from perfkit.urls import database_name, with_database


class LockTimeout(PerfkitError):
    """Another perfkit command kept the database busy past the deadline."""

    exit_code = 5


def lock_key(database: str) -> int:
    """A stable signed 64-bit key for ``database``."""
    digest = hashlib.sha256(f"perfkit:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def exclusive(
    url: str,
    *,
    wait_s: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
    conn: asyncpg.Connection | None = None,
) -> AsyncIterator[None]:
    """Hold the lock for the URL's database for the duration of the ``with`` block.

    ``conn``, when given, must be connected to the server's ``postgres`` database (where the
    locks live); it saves opening a connection of its own, and is left open on exit.
    """
    target = database_name(url)
    key = lock_key(target)
    own = conn is None
    if conn is None:
        conn = await connect(with_database(url, "postgres"))
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
            holder = await conn.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1 "
                "LIMIT 1",
                (key >> 32) & 0xFFFFFFFF,
                key & 0xFFFFFFFF,
            )
            if on_wait:
                on_wait(
                    f"another perfkit command (server pid {holder}) is working on {target!r}; "
                    f"waiting up to {wait_s:g} s"
                )
            deadline = time.monotonic() + wait_s
            delay = 0.05
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another perfkit command kept {target!r} busy for more than {wait_s:g} s",
                        hint="wait for it to finish (or stop it), then run this again",
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)
    finally:
        if own:
            await conn.close()
