"""Keeping data fresh: shift the schedule's dates from the dataset's anchor to a target date.

Generated data is relative to an *anchor date* stored in ``perfkit_dataset`` (cycles end
"25 days after the anchor", and so on). A snapshot made a month ago would otherwise no longer
have cycles due within 30 days, and the deadline-alert batch would quietly measure a different
workload. So every restore moves the dataset to a *target date* (today, or ``--as-of``):

* shifted by ``target - anchor`` days: the schedule, i.e. :data:`SHIFTED_COLUMNS`
  (``support_plan_cycles.start_date`` and ``end_date``), and the anchor itself;
* left alone: facts about the past. ``welfare_recipients.date_of_birth`` stays (recipients
  age by the shift, which the deadline alerts never look at), and ``created_at`` columns keep
  the time the rows were made.

The workload the batch sees (which cycles are overdue, due within 10 or 30 days, or later)
is therefore the same on any day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import asyncpg

from perfkit.env.base import quote_ident
from perfkit.errors import PerfkitError

DATASET_TABLE = "perfkit_dataset"
ANCHOR_COLUMN = "anchor_date"
#: Table -> its date columns that move with the calendar (the anchor moves with them).
SHIFTED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "support_plan_cycles": ("start_date", "end_date"),
    DATASET_TABLE: (ANCHOR_COLUMN,),
}


class BadDateError(PerfkitError):
    """An ``--as-of`` value that is not a date."""

    exit_code = 2


def target_date(as_of: dt.date | str | None = None) -> dt.date:
    """``as_of`` as a date (``YYYY-MM-DD``), or today's local date when None."""
    if as_of is None or as_of == "":
        return dt.date.today()
    if isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(as_of)
    except ValueError:
        raise BadDateError(
            f"--as-of: not a date: {as_of!r}", hint="use YYYY-MM-DD, e.g. --as-of 2026-03-01"
        ) from None


def shift_days(anchor: dt.date, target: dt.date) -> int:
    return (target - anchor).days


def shifted_select(table: str, columns: list[str], *, source: str, days: int) -> str:
    """``SELECT`` of ``columns`` from ``source`` with ``table``'s shifted columns moved by
    ``days`` (an ``INSERT INTO table SELECT ...`` body; ``days`` is an integer, not input)."""
    moved = set(SHIFTED_COLUMNS.get(table, ()))
    parts = [f"{quote_ident(c)} + {int(days)}" if c in moved else quote_ident(c) for c in columns]
    return f"SELECT {', '.join(parts)} FROM {source}"  # noqa: S608 - identifiers we quote


async def shift_in_place(conn: asyncpg.Connection, days: int, *, compact: bool = True) -> None:
    """Move the schedule and the anchor by ``days`` in one transaction.

    With ``compact`` the shifted tables are then rewritten (``VACUUM FULL``) so the update
    leaves no dead rows behind, and analysed so the planner sees the new date range.
    """
    if days == 0:
        return
    async with conn.transaction():
        for table, columns in SHIFTED_COLUMNS.items():
            sets = ", ".join(f"{quote_ident(c)} = {quote_ident(c)} + $1::int" for c in columns)
            await conn.execute(f"UPDATE {quote_ident(table)} SET {sets}", days)  # noqa: S608
    for table in SHIFTED_COLUMNS:
        option = "FULL, ANALYZE" if compact else "ANALYZE"
        await conn.execute(f"VACUUM ({option}) {quote_ident(table)}")
