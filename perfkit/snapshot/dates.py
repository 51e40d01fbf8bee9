"""Keeping data fresh: shift the schedule's dates from the dataset's anchor to a target date.

Generated data is relative to an *anchor date* stored in ``perfkit_dataset`` (cycles end
"25 days after the anchor", and so on). A snapshot made a month ago would otherwise no longer
have cycles due within 30 days, and the deadline-alert batch would quietly measure a different
workload. So every restore moves the dataset to a *target date* (today, or ``--as-of``):

* shifted by ``target - anchor`` days: the columns the application declares dated (a
  recipe's :attr:`perfkit.datagen.recipe.Recipe.dated_columns`, for the sample application the
  cycles' ``start_date`` and ``end_date``; inferred data's ``dated`` columns and ``days`` drawn
  from the anchor in ``app.data``), and the anchor itself (:func:`shifted_columns`). Dates and
  timestamps alike move by whole days (:func:`shift_sql`);
* left alone: every other column, facts about the past such as a date of birth or the time
  the rows were made.

The workload the batch sees (which cycles are overdue, due within 10 or 30 days, or later)
is therefore the same on any day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import asyncpg

from perfkit.app import Application
from perfkit.sqlnames import DATASET_TABLE, quote_ident
from perfkit.text import BadDateError as BadDateError  # re-exported: restore's date error
from perfkit.text import parse_day

ANCHOR_COLUMN = "anchor_date"

#: Table -> its date columns that move with the calendar.
Shifted = Mapping[str, tuple[str, ...]]


def shifted_columns(app: Application) -> Shifted:
    """The application's dated columns, and the dataset's anchor that moves with them."""
    return {**app.data.dated_columns, DATASET_TABLE: (ANCHOR_COLUMN,)}


def target_date(as_of: dt.date | str | None = None) -> dt.date:
    """``--as-of`` as a date (``YYYY-MM-DD``), or today's local date when None; a bad value
    raises :class:`~perfkit.text.BadDateError`."""
    if as_of is None or as_of == "":
        return dt.date.today()
    if isinstance(as_of, dt.date):
        return as_of
    return parse_day(as_of, flag="--as-of")


def shift_days(anchor: dt.date, target: dt.date) -> int:
    return (target - anchor).days


def shift_sql(column: str, days: str) -> str:
    """``column`` moved by ``days`` (an integer or a parameter) whole days, for a date or a
    timestamp column alike (the value is cast back to the column's type where it is
    assigned)."""
    return f"{quote_ident(column)} + make_interval(days => {days})"


def shifted_select(
    table: str, columns: list[str], *, source: str, days: int, shifted: Shifted
) -> str:
    """``SELECT`` of ``columns`` from ``source`` with ``table``'s shifted columns moved by
    ``days`` (an ``INSERT INTO table SELECT ...`` body; ``days`` is an integer, not input)."""
    moved = set(shifted.get(table, ()))
    parts = [
        f"{shift_sql(c, str(int(days)))} AS {quote_ident(c)}" if c in moved else quote_ident(c)
        for c in columns
    ]
    return f"SELECT {', '.join(parts)} FROM {source}"  # noqa: S608 - identifiers we quote


async def shift_in_place(
    conn: asyncpg.Connection, days: int, *, shifted: Shifted, compact: bool = True
) -> None:
    """Move the schedule and the anchor by ``days`` in one transaction.

    With ``compact`` the shifted tables are then rewritten (``VACUUM FULL``) so the update
    leaves no dead rows behind, and analysed so the planner sees the new date range.
    """
    if days == 0:
        return
    async with conn.transaction():
        for table, columns in shifted.items():
            sets = ", ".join(f"{quote_ident(c)} = {shift_sql(c, '$1::int')}" for c in columns)
            await conn.execute(f"UPDATE {quote_ident(table)} SET {sets}", days)  # noqa: S608
    for table in shifted:
        option = "FULL, ANALYZE" if compact else "ANALYZE"
        await conn.execute(f"VACUUM ({option}) {quote_ident(table)}")
