"""One perfkit command per database at a time: PostgreSQL advisory locks.

Advisory locks are scoped to one database, and some operations replace the target database
(restore swaps it), so the lock is taken on the server's ``postgres`` maintenance database,
keyed by the target database's name. A second command waits (saying so) up to a deadline, then
fails with a clear line; a killed command's lock vanishes with its connection.

The lock is re-entrant within one command: a step that already holds it (``prepare`` holds it
for its whole run) can call steps that take it again (seed, restore, snapshot) without waiting
for itself. Tasks started inside inherit it; another command, or another task that started
outside the holder, waits.

Every call on the lock's connection has a deadline (:data:`CALL_S`), and releasing never
fails the command: a lock that cannot be released in time is ended with its connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

from perfkit.database import Database
from perfkit.db import connect
from perfkit.errors import PerfkitError

#: Seconds one call on the lock's connection may take (the wait itself is ``wait_s``).
CALL_S = 30.0

#: Lock keys this task (and the tasks it started) holds.
_held: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "perfkit_locks_held", default=frozenset()
)


class LockTimeout(PerfkitError):
    """Another perfkit command kept the database busy past the deadline."""

    exit_code = 5


def lock_key(database: str) -> int:
    """A stable signed 64-bit key for ``database``."""
    digest = hashlib.sha256(f"perfkit:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def exclusive(
    target: str | Database,
    *,
    wait_s: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
    conn: asyncpg.Connection | None = None,
) -> AsyncIterator[None]:
    """Hold the lock for ``target``'s database (a handle, or a URL) for the duration of the
    ``with`` block. A handle's own connection is checked to arrive on its pinned server.

    ``conn``, when given, must be connected to the server's ``postgres`` database (where the
    locks live); it saves opening a connection of its own, and is left open on exit (unless
    the unlock failed: then it is terminated, which is what releases the lock).
    """
    db = Database.of(target)
    name = db.name
    key = lock_key(name)
    if key in _held.get():  # this command already holds it
        yield
        return
    own = conn is None
    if conn is None:
        conn = await connect(db.admin_url, pin=db.pin, command_timeout=CALL_S)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key, timeout=CALL_S):
            holder = await conn.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1 "
                "LIMIT 1",
                (key >> 32) & 0xFFFFFFFF,
                key & 0xFFFFFFFF,
                timeout=CALL_S,
            )
            if on_wait:
                on_wait(
                    f"another perfkit command (server pid {holder}) is working on {name!r}; "
                    f"waiting up to {wait_s:g} s"
                )
            deadline = time.monotonic() + wait_s
            delay = 0.05
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key, timeout=CALL_S):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another perfkit command kept {name!r} busy for more than {wait_s:g} s",
                        hint="wait for it to finish (or stop it), then run this again",
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        token = _held.set(_held.get() | {key})
        try:
            yield
        finally:
            _held.reset(token)
            await _release(conn, key)
    finally:
        if own:
            await _close(conn)


async def _release(conn: asyncpg.Connection, key: int) -> None:
    """Unlock ``key``; when the server does not answer in time (or the connection broke),
    end the connection: a session's advisory locks end with it."""
    try:
        await conn.execute("SELECT pg_advisory_unlock($1)", key, timeout=CALL_S)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):  # TimeoutError included
        conn.terminate()


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=CALL_S)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        conn.terminate()
