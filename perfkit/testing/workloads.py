"""Workloads for tests, called the plan's way (``fn(session, **kwargs)``) from scales.yaml's
``app.workloads.<name>.call``; the first two on the sample application's tables.

- :func:`stamp_office` commits a write: it appends ``*`` to the name of the first office and
  returns how many offices carry a stamp, so a run that sees the previous runs' writes returns
  more than 1;
- :func:`stamp_and_roll_back` sends the same UPDATE and never commits (the plan's way rolls
  the session back after the run): a write that must not count as a change;
- :func:`joined_rows` reads any schema: the rows of ``table`` joined to ``parent`` by
  ``key`` (an application with inferred data has no batch of its own).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from perfkit.sqlnames import quote_ident

_STAMP = text(
    "UPDATE offices SET name = name || '*' WHERE id = (SELECT id FROM offices ORDER BY id LIMIT 1)"
)
_STAMPED = text("SELECT count(*) FROM offices WHERE name LIKE '%*'")


async def stamp_office(session: AsyncSession) -> dict[str, int]:
    """Stamp the first office and commit; how many offices are stamped."""
    await session.execute(_STAMP)
    await session.commit()
    return {"stamped": int(await session.scalar(_STAMPED) or 0)}


async def stamp_and_roll_back(session: AsyncSession) -> dict[str, int]:
    """Stamp the first office, never commit; how many offices the run saw stamped."""
    await session.execute(_STAMP)
    return {"stamped": int(await session.scalar(_STAMPED) or 0)}


async def joined_rows(session: AsyncSession, *, table: str, parent: str, key: str) -> int:
    """Rows of ``table`` whose ``key`` finds its row in ``parent`` (one statement)."""
    t, p, k = (quote_ident(name) for name in (table, parent, key))
    query = text(f"SELECT count(*) FROM {t} JOIN {p} USING ({k})")  # noqa: S608 - quoted names
    return int(await session.scalar(query) or 0)
