"""Workloads for tests, called the plan's way (``fn(session, **kwargs)``) from scales.yaml's
``app.workloads.<name>.call``, on the sample application's tables.

- :func:`stamp_office` commits a write: it appends ``*`` to the name of the first office and
  returns how many offices carry a stamp, so a run that sees the previous runs' writes returns
  more than 1;
- :func:`stamp_and_roll_back` sends the same UPDATE and never commits (the plan's way rolls
  the session back after the run): a write that must not count as a change.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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
