"""The safety rule: destructive operations only touch databases that are clearly for tests.

A database qualifies when perfkit created it (its comment says so) or when its name matches
``safety.test_database_pattern`` (default: contains "test" or "perf"). Anything else is refused
with :class:`~perfkit.errors.UnsafeTargetError`, unless the user repeats the database's name in
the explicit override (``--confirm-database NAME``).
"""

from __future__ import annotations

import re

import asyncpg

from perfkit.config import Config
from perfkit.env.base import CREATED_BY_PERFKIT
from perfkit.errors import UnsafeTargetError

OVERRIDE_FLAG = "--confirm-database"


def is_test_name(name: str, cfg: Config) -> bool:
    """Whether ``name`` matches the configured test-database pattern (case-insensitive)."""
    return re.search(cfg.safety.test_database_pattern, name, re.IGNORECASE) is not None


def check_name(
    name: str, cfg: Config, *, confirm: str | None = None, created: bool = False
) -> None:
    """Refuse ``name`` unless perfkit created it, it looks like a test database, or the user
    confirmed exactly this name."""
    if created or is_test_name(name, cfg) or (confirm is not None and confirm == name):
        return
    if confirm is not None:
        reason = f"the confirmation names {confirm!r}, not this database"
    else:
        reason = (
            "it was not created by perfkit and its name does not match "
            f"safety.test_database_pattern {cfg.safety.test_database_pattern!r}"
        )
    raise UnsafeTargetError(name, reason=reason)


async def created_by_perfkit(conn: asyncpg.Connection, name: str) -> bool:
    """Whether the database ``name`` carries perfkit's creation comment."""
    comment = await conn.fetchval(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
    )
    return bool(comment == CREATED_BY_PERFKIT)


async def ensure_test_database(
    conn: asyncpg.Connection, cfg: Config, *, confirm: str | None = None
) -> str:
    """Check the database ``conn`` is connected to; return its name or raise."""
    name = str(await conn.fetchval("SELECT current_database()"))
    check_name(name, cfg, confirm=confirm, created=await created_by_perfkit(conn, name))
    return name
