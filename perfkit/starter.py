"""The workload ``invoke init`` writes into a new scales.yaml, so that the file works as it is:
one statement on the inferred data. Replace it with the application's own code
(``app.workloads``: docs/configuration.md)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from perfkit.sqlnames import quote_ident


async def count_rows(session: AsyncSession, *, table: str) -> int:
    """Count the rows of ``table`` (a starter workload: one statement)."""
    query = text(f"SELECT count(*) FROM {quote_ident(table)}")  # noqa: S608 - a quoted name
    return int(await session.scalar(query) or 0)
